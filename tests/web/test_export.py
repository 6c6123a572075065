"""Export: CSV and JSON of one document or of all documents of a template that the user may see."""

import csv
import io
import json

import pytest
from django.urls import reverse


def csv_rows(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(response.content.decode())))


@pytest.mark.django_db
def test_document_export_as_csv_and_json(read_document, alice, client_for):
    document = read_document(alice, {"payee": "=ANNA", "date": "01012020", "amount": "12"}, {"date": 0.99})
    client = client_for(alice)

    rows = csv_rows(client.get(reverse("document-export", args=[document.pk, "csv"])))
    assert [(row["field"], row["text"], row["page"]) for row in rows] == [
        ("payee", "'=ANNA", "1"),  # a formula-looking cell is defused
        ("date", "01012020", "1"),
        ("amount", "12", "1"),
    ]
    assert rows[1]["review_state"] == "auto_accepted"

    response = client.get(reverse("document-export", args=[document.pk, "json"]))
    assert response["Content-Disposition"] == f'attachment; filename="document-{document.pk}.json"'
    body = json.loads(response.content)
    assert body["template"] == "check"
    assert [field["text"] for field in body["pages"][0]["result"]["fields"]] == ["=ANNA", "01012020", "12"]
    assert client.get(reverse("document-export", args=[document.pk, "xml"])).status_code == 404


@pytest.mark.django_db
def test_template_export_holds_only_the_documents_the_user_may_see(
    read_document, alice, bob, reviewer, check_template, client_for
):
    read_document(alice, {"payee": "ALICE"}, {})
    read_document(alice, {"payee": "ALICE2"}, {})
    read_document(bob, {"payee": "BOB"}, {})
    url = reverse("template-results-export", args=[check_template.pk, "csv"])

    def payees(client):
        return sorted(row["text"] for row in csv_rows(client.get(url)) if row["field"] == "payee")

    assert payees(client_for(alice)) == ["ALICE", "ALICE2"]
    assert payees(client_for(bob)) == ["BOB"]
    assert payees(client_for(reviewer)) == ["ALICE", "ALICE2", "BOB"]
    body = client_for(bob).get(reverse("template-results-export", args=[check_template.pk, "json"])).json()
    assert len(body["documents"]) == 1
