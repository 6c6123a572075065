"""The per-document CSV: a row a document, a column per field, who reviewed it and when."""

import csv
import io

import pytest
from django.urls import reverse

from recognition.models import FieldResult
from recognition.services.review import field_accept, field_correct


def csv_table(response) -> tuple[list[str], list[dict]]:
    reader = csv.DictReader(io.StringIO(response.content.decode()))
    return reader.fieldnames, list(reader)


@pytest.mark.django_db
def test_one_row_per_document_with_a_column_per_field_and_the_review(
    read_document, alice, bob, reviewer, admin_user, check_template, client_for
):
    first = read_document(alice, {"payee": "ANNA", "date": "01012020", "amount": "12"}, {})
    second = read_document(bob, {"payee": "=SUM(A1)", "date": "02022020", "amount": "7"}, {})
    field_correct(
        field_id=FieldResult.objects.get(page__document=first, name="amount").pk, user=reviewer, text="13"
    )
    field_accept(field_id=FieldResult.objects.get(page__document=first, name="payee").pk, user=admin_user)

    response = client_for(reviewer).get(
        reverse("template-results-export", args=[check_template.pk, "by-document.csv"])
    )
    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    columns, rows = csv_table(response)
    assert columns == [
        "document_id", "document", "template", "status", "pages", "uploaded_by", "uploaded_at",
        "payee", "date", "amount", "reviewed_by", "reviewed_at",
    ]  # fmt: skip
    assert [row["document_id"] for row in rows] == [str(first.pk), str(second.pk)]
    anna, other = rows
    assert (anna["payee"], anna["date"], anna["amount"]) == ("ANNA", "01012020", "13")
    assert anna["reviewed_by"] == "ada, rita"  # in the order of the fields they reviewed
    last = max(
        field.reviewed_at
        for field in FieldResult.objects.filter(page__document=first, reviewed_at__isnull=False)
    )
    assert anna["reviewed_at"] == last.isoformat()
    assert (anna["uploaded_by"], anna["status"], anna["pages"]) == ("alice", "done", "1")
    assert other["payee"] == "'=SUM(A1)"  # a formula-looking cell is defused
    assert (other["reviewed_by"], other["reviewed_at"]) == ("", "")

    # One document's own export, and only the documents the user may see.
    own = client_for(bob).get(reverse("document-export", args=[second.pk, "by-document.csv"]))
    assert [row["document_id"] for row in csv_table(own)[1]] == [str(second.pk)]
    bobs = client_for(bob).get(
        reverse("template-results-export", args=[check_template.pk, "by-document.csv"])
    )
    assert [row["document"] for row in csv_table(bobs)[1]] == ["scan.png"] and len(csv_table(bobs)[1]) == 1
    detail = client_for(alice).get(reverse("document-detail", args=[first.pk])).content.decode()
    assert reverse("document-export", args=[first.pk, "by-document.csv"]) in detail
