"""The OpenAPI schema: valid with no warning, nullable fields declared, each endpoint its own answer."""

import pytest
import yaml
from django.core.management import call_command
from django.urls import reverse


@pytest.fixture(scope="module")
def schema(tmp_path_factory) -> dict:
    path = tmp_path_factory.mktemp("schema") / "schema.yaml"
    # --fail-on-warn: a naming collision or an unresolvable field fails the test, not just the log.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(path))
    return yaml.safe_load(path.read_text())


def properties(schema: dict, component: str) -> dict:
    return schema["components"]["schemas"][component]["properties"]


def test_fields_that_may_be_empty_are_declared_nullable(schema):
    nullable = {
        "RetrainingRun": ["requested_by", "base_version", "new_version", "started_at", "finished_at"],
        "ModelChange": ["previous", "user"],
        "ModelVersion": ["parent"],
        "Page": ["alignment_score", "finished_at"],
        "Document": ["finished_at"],
        "Field": ["reviewed_at"],
    }
    for component, names in nullable.items():
        for name in names:
            assert properties(schema, component)[name].get("nullable") is True, (component, name)
    assert "path" not in properties(schema, "ModelVersion")


def test_progress_has_its_own_schema_and_fields_their_shapes(schema):
    progress = schema["paths"]["/api/documents/{id}/progress/"]["get"]["responses"]["200"]
    assert (
        progress["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/DocumentProgress"
    )
    assert {"pages_total", "pages_finished", "counts", "finished", "note", "pages"} <= set(
        properties(schema, "DocumentProgress")
    )
    field = properties(schema, "Field")
    assert field["box"]["type"] == "array" and field["box"]["items"]["type"] == "number"
    assert field["chars"]["items"]["$ref"] == "#/components/schemas/Character"
    token = schema["paths"]["/api/auth/token/"]["post"]
    assert token["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "AuthTokenAnswer"
    )


@pytest.mark.django_db
def test_the_progress_answer_matches_its_schema(schema, read_document, alice, client_for):
    document = read_document(alice, {"payee": "ANNA"}, {})
    answer = client_for(alice).get(reverse("api-document-progress", args=[document.pk])).json()
    assert set(answer) == set(properties(schema, "DocumentProgress"))
    assert set(answer["pages"][0]) == set(properties(schema, "DocumentProgressPage"))
    field = client_for(alice).get(reverse("api-field-list"), {"document": document.pk}).json()["results"][0]
    assert field["box"] == [int(value) for value in field["box"]]  # stored boxes come back as they are
