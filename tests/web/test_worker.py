"""Upload to result through the real broker and a real worker process that runs the recognition engine."""

import pytest
from django.urls import reverse

from recognition.models import Document, FieldResult, FormTemplate
from tests.helpers import wait_for
from tests.web.conftest import digits_template, filled_form, make_user, upload_file


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_an_uploaded_form_is_read_by_a_worker_and_its_results_are_served(celery_worker_process, client_for):
    from recognition.services.templates import templates_seed_bundled

    templates_seed_bundled()
    template = digits_template(FormTemplate.objects.get(name="sample_form"))
    owner = make_user("uploader", "uploaders")
    client = client_for(owner)

    response = client.post(
        reverse("api-document-list"),
        {"template": template.pk, "files": [upload_file("form.png", filled_form(template))]},
    )
    assert response.status_code == 201, response.content
    document_id = response.json()["id"]

    def finished():
        progress = client.get(reverse("document-progress", args=[document_id])).json()
        return progress if progress["finished"] else None

    progress = wait_for(finished, timeout=120, interval=0.2, message="the worker to read the page")
    assert progress["status"] == "done", progress
    document = Document.objects.get(pk=document_id)
    page = document.pages.get()
    assert page.attempts == 1
    assert page.alignment_score is not None and page.alignment_score > 0.5
    fields = list(FieldResult.objects.filter(page=page))
    assert [field.name for field in fields] == [field["name"] for field in template.fields]
    assert all(field.model_version.startswith("digits@") for field in fields)
    # Printed digits are not handwriting, but most must come out right even so.
    account = next(field for field in fields if field.name == "account_number")
    assert len(account.text) == 10
    assert sum(a == b for a, b in zip(account.text, "0123456789", strict=True)) >= 6

    results = client.get(reverse("api-document-results", args=[document_id])).json()
    assert results["pages"][0]["result"]["format"] == "hwr-form-result/1"
    assert results["pages"][0]["result"]["alignment"]["score"] == pytest.approx(page.alignment_score)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_page_of_another_form_fails_with_a_reason_instead_of_being_misread(
    celery_worker_process, client_for
):
    from recognition.services.templates import templates_seed_bundled

    templates = {template.name: template for template in templates_seed_bundled()}
    template = digits_template(templates["sample_form"])
    owner = make_user("uploader2", "uploaders")
    client = client_for(owner)
    check_page = templates["check"].image.read()
    response = client.post(
        reverse("api-document-list"),
        {"template": template.pk, "files": [upload_file("check.png", check_page)]},
    )
    document_id = response.json()["id"]

    def finished():
        progress = client.get(reverse("api-document-progress", args=[document_id])).json()
        return progress if progress["finished"] else None

    progress = wait_for(finished, timeout=120, interval=0.2, message="the worker to refuse the page")
    assert progress["status"] == "failed"
    assert progress["pages"][0]["error"]
    assert FieldResult.objects.filter(page__document_id=document_id).count() == 0
