"""Templates: the bundled ones seed idempotently; the editor saves format-1 JSON; import and export."""

import json

import pytest
from django.core.management import call_command
from django.urls import reverse

from recognition.exceptions import InvalidInput
from recognition.models import FormTemplate
from recognition.services.models import model_versions_sync
from recognition.services.templates import template_save
from tests.web.conftest import png_bytes, upload_file


@pytest.mark.django_db
def test_seed_templates_is_idempotent(capsys):
    call_command("seed_templates")
    first = {template.name: template.updated_at for template in FormTemplate.objects.all()}
    call_command("seed_templates")
    assert {"check", "sample_form"} <= set(first)
    assert {template.name: template.updated_at for template in FormTemplate.objects.all()} == first
    check = FormTemplate.objects.get(name="check")
    assert check.kind == "check" and check.bundled
    assert (check.image.width, check.image.height) == tuple(check.definition["size"])


@pytest.mark.django_db
def test_editor_saves_fields_and_refuses_bad_ones(check_template, admin_user, client_for):
    client = client_for(admin_user)
    definition = dict(check_template.definition)
    definition["fields"] = [{"name": "total", "kind": "digits", "box": [10, 10, 200, 50], "cells": 5}]
    response = client.post(
        reverse("template-edit", args=[check_template.pk]), {"definition": json.dumps(definition)}
    )
    assert response.status_code == 200, response.content
    check_template.refresh_from_db()
    assert check_template.fields == definition["fields"]

    definition["fields"][0]["box"] = [10, 10, 5000, 50]
    response = client.post(
        reverse("template-edit", args=[check_template.pk]), {"definition": json.dumps(definition)}
    )
    assert response.status_code == 400
    assert "outside" in response.json()["detail"]


@pytest.mark.django_db
def test_create_from_a_blank_image_and_import_export_round_trip(admin_user, client_for):
    client = client_for(admin_user)
    response = client.post(
        reverse("template-create"),
        {"name": "tax-form", "kind": "form", "image": upload_file("blank.png", png_bytes(600, 300))},
    )
    assert response.status_code == 302
    created = FormTemplate.objects.get(name="tax-form")
    assert created.definition["size"] == [600, 300]
    assert created.fields == []  # no hidden placeholder field: the admin draws every field

    exported = client.get(reverse("template-export", args=[created.pk])).json()
    exported["name"] = "tax-form-copy"
    exported["fields"].append({"name": "code", "kind": "alnum", "box": [100, 100, 300, 60], "cells": 6})
    response = client.post(
        reverse("template-create"),
        {
            "name": "ignored",
            "image": upload_file("blank.png", png_bytes(600, 300)),
            "definition": upload_file("t.json", json.dumps(exported).encode()),
        },
    )
    assert response.status_code == 302
    copy = FormTemplate.objects.get(name="tax-form-copy")
    assert [field["name"] for field in copy.fields] == ["code"]


def test_a_template_whose_image_size_differs_is_refused(db):
    definition = {
        "format": "hwr-form-template/1",
        "name": "x",
        "image": "x.png",
        "size": [100, 100],
        "fields": [{"name": "a", "kind": "digits", "box": [0, 0, 50, 20], "cells": None}],
    }
    with pytest.raises(InvalidInput, match="200x100"):
        template_save(definition=definition, image_data=png_bytes(200, 100))
    assert FormTemplate.objects.count() == 0


@pytest.mark.django_db
def test_model_versions_on_disk_are_registered_with_the_active_one_marked(tmp_path, client_for, alice):
    from recognition.models import ModelVersion

    for version in ("1", "2", "3"):
        folder = tmp_path / "digits" / version
        folder.mkdir(parents=True)
        (folder / "model.keras").write_bytes(b"stand-in")
        (folder / "card.json").write_text(json.dumps({"metrics": {"accuracy": 0.9 + int(version) / 100}}))
    (tmp_path / "digits" / "ACTIVE").write_text("2\n")
    model_versions_sync(model_dir=tmp_path)
    assert dict(ModelVersion.objects.values_list("version", "status")) == {
        "1": "candidate",
        "2": "active",
        "3": "candidate",
    }
    (tmp_path / "digits" / "ACTIVE").write_text("3\n")
    model_versions_sync(model_dir=tmp_path)
    assert ModelVersion.objects.get(status="active").version == "3"
    assert ModelVersion.objects.count() == 3
    listed = client_for(alice).get(reverse("api-model-version-list")).json()["results"]
    assert {row["version"]: row["metrics"]["accuracy"] for row in listed}["3"] == pytest.approx(0.93)
