"""Roles and IDOR: a user cannot read or correct another user's documents by id, in views or API."""

import pytest
from django.urls import reverse

from recognition.models import Correction, FieldResult


@pytest.fixture
def alices_document(read_document, alice):
    return read_document(alice, {"payee": "ALICE", "date": "01012020", "amount": "5"}, {"payee": 0.3})


def alices_field(document) -> FieldResult:
    return FieldResult.objects.get(page__document=document, name="payee")


@pytest.mark.django_db
def test_another_uploader_cannot_read_the_document_in_the_browser(alices_document, bob, alice, client_for):
    field = alices_field(alices_document)
    page = alices_document.pages.get()
    urls = [
        reverse("document-detail", args=[alices_document.pk]),
        reverse("document-progress", args=[alices_document.pk]),
        reverse("document-export", args=[alices_document.pk, "csv"]),
        reverse("document-export", args=[alices_document.pk, "json"]),
        reverse("page-image", args=[page.pk]),
        reverse("field-crop", args=[field.pk]),
    ]
    owner, other = client_for(alice), client_for(bob)
    for url in urls:
        assert owner.get(url).status_code == 200, url
        assert other.get(url).status_code == 404, url
    assert "ALICE" not in other.get(reverse("document-list")).content.decode()


@pytest.mark.django_db
def test_another_uploader_cannot_correct_the_document_in_the_browser(alices_document, bob, client_for):
    field = alices_field(alices_document)
    client = client_for(bob)
    assert client.post(reverse("review-field", args=[field.pk]), {"text": "BOB"}).status_code == 403
    assert client.post(reverse("review-field", args=[field.pk]), {"action": "accept"}).status_code == 403
    field.refresh_from_db()
    assert (field.text, field.review_state) == ("ALICE", "pending")
    assert Correction.objects.count() == 0


@pytest.mark.django_db
def test_another_uploader_cannot_read_or_correct_through_the_api(alices_document, bob, client_for):
    field = alices_field(alices_document)
    client = client_for(bob)
    for url in [
        reverse("api-document-detail", args=[alices_document.pk]),
        reverse("api-document-results", args=[alices_document.pk]),
        reverse("api-document-progress", args=[alices_document.pk]),
        reverse("api-field-detail", args=[field.pk]),
    ]:
        assert client.get(url).status_code == 404, url
    assert client.get(reverse("api-document-list")).json()["results"] == []
    assert client.get(reverse("api-field-list"), {"document": alices_document.pk}).json()["results"] == []
    correct = client.post(
        reverse("api-field-correct", args=[field.pk]), {"text": "BOB"}, content_type="application/json"
    )
    assert correct.status_code == 403
    assert client.post(reverse("api-field-accept", args=[field.pk])).status_code == 403
    field.refresh_from_db()
    assert field.text == "ALICE"
    assert Correction.objects.count() == 0


@pytest.mark.django_db
def test_token_authentication_sees_only_the_owners_documents(alices_document, alice, bob, client):
    from rest_framework.authtoken.models import Token

    alice_token = Token.objects.create(user=alice)
    bob_token = Token.objects.create(user=bob)
    url = reverse("api-document-detail", args=[alices_document.pk])
    assert client.get(url, HTTP_AUTHORIZATION=f"Token {alice_token.key}").status_code == 200
    assert client.get(url, HTTP_AUTHORIZATION=f"Token {bob_token.key}").status_code == 404
    assert client.get(url).status_code in (401, 403)


@pytest.mark.django_db
def test_reviewers_see_and_correct_every_document(alices_document, reviewer, client_for):
    field = alices_field(alices_document)
    client = client_for(reviewer)
    assert client.get(reverse("document-detail", args=[alices_document.pk])).status_code == 200
    response = client.post(
        reverse("api-field-correct", args=[field.pk]), {"text": "ALICIA"}, content_type="application/json"
    )
    assert response.status_code == 200


@pytest.mark.django_db
def test_login_is_required_everywhere(alices_document, client):
    field = alices_field(alices_document)
    for url in [
        reverse("upload"),
        reverse("document-list"),
        reverse("document-detail", args=[alices_document.pk]),
        reverse("review-queue"),
        reverse("review-field", args=[field.pk]),
        reverse("template-list"),
        reverse("field-crop", args=[field.pk]),
    ]:
        response = client.get(url)
        assert response.status_code == 302 and reverse("login") in response["Location"], url
    assert client.get(reverse("api-document-list")).status_code in (401, 403)


@pytest.mark.django_db
def test_only_admins_manage_templates(check_template, alice, admin_user, client_for):
    assert client_for(alice).get(reverse("template-edit", args=[check_template.pk])).status_code == 403
    assert client_for(alice).get(reverse("template-create")).status_code == 403
    assert client_for(admin_user).get(reverse("template-edit", args=[check_template.pk])).status_code == 200
    response = client_for(alice).post(reverse("api-template-list"), {})
    assert response.status_code == 403
    assert client_for(alice).get(reverse("api-template-list")).status_code == 200
    assert client_for(alice).get(reverse("api-model-version-list")).status_code == 200


@pytest.mark.django_db
def test_openapi_schema_lists_the_endpoints(admin_user, client_for):
    response = client_for(admin_user).get(reverse("api-schema"))
    assert response.status_code == 200
    schema = response.content.decode()
    for path in [
        "/api/documents/",
        "/api/documents/{id}/results/",
        "/api/fields/{id}/correct/",
        "/api/templates/",
        "/api/model-versions/",
    ]:
        assert path in schema


@pytest.mark.django_db
def test_every_page_renders_for_an_admin(alices_document, admin_user, client_for, check_template):
    client = client_for(admin_user)
    field = alices_field(alices_document)
    for url in [
        reverse("home"),
        reverse("upload"),
        reverse("document-list"),
        reverse("document-detail", args=[alices_document.pk]),
        reverse("review-queue"),
        reverse("review-field", args=[field.pk]),
        reverse("template-list"),
        reverse("template-create"),
        reverse("template-edit", args=[check_template.pk]),
        reverse("template-image", args=[check_template.pk]),
        reverse("template-export", args=[check_template.pk]),
        reverse("api-docs"),
        reverse("api-model-version-list"),
    ]:
        assert client.get(url).status_code == 200, url
    assert client.get("/api/documents/abc/results/").status_code == 404


@pytest.mark.django_db
def test_an_uploader_sees_their_results_but_never_reviews_even_their_own_document(
    alices_document, alice, client_for
):
    field = alices_field(alices_document)
    client = client_for(alice)
    detail = client.get(reverse("document-detail", args=[alices_document.pk]))
    assert detail.status_code == 200 and "ALICE" in detail.content.decode()
    assert reverse("review-field", args=[field.pk]) not in detail.content.decode()
    assert client.get(reverse("api-document-results", args=[alices_document.pk])).status_code == 200
    assert client.get(reverse("api-field-detail", args=[field.pk])).status_code == 200
    for url in [reverse("review-queue"), reverse("review-next"), reverse("review-field", args=[field.pk])]:
        assert client.get(url).status_code == 403, url
    assert client.post(reverse("review-field", args=[field.pk]), {"text": "MALLORY"}).status_code == 403
    assert client.post(reverse("review-field", args=[field.pk]), {"action": "accept"}).status_code == 403
    api_correct = client.post(
        reverse("api-field-correct", args=[field.pk]), {"text": "MALLORY"}, content_type="application/json"
    )
    assert api_correct.status_code == 403
    assert client.post(reverse("api-field-accept", args=[field.pk])).status_code == 403
    assert client.get(reverse("api-field-list"), {"needs_review": "true"}).status_code == 403
    field.refresh_from_db()
    assert (field.text, field.review_state) == ("ALICE", "pending")
    assert Correction.objects.count() == 0


@pytest.mark.django_db
def test_reviewers_and_admins_work_the_review_queue_in_the_browser_and_the_api(
    alices_document, reviewer, admin_user, client_for
):
    field = alices_field(alices_document)
    for user in (reviewer, admin_user):
        client = client_for(user)
        assert client.get(reverse("review-queue")).status_code == 200
        assert client.get(reverse("review-next")).status_code == 302
        assert client.get(reverse("review-field", args=[field.pk])).status_code == 200
        assert client.get(reverse("api-field-list"), {"needs_review": "true"}).status_code == 200
    accepted = client_for(admin_user).post(reverse("api-field-accept", args=[field.pk]))
    assert accepted.status_code == 200 and accepted.json()["review_state"] == "accepted"


@pytest.mark.django_db
def test_model_versions_show_no_server_paths(admin_user, alice, client_for, model_dir):
    from recognition.services.models import model_versions_sync

    assert model_versions_sync()
    for user in (alice, admin_user):
        response = client_for(user).get(reverse("api-model-version-list"))
        assert response.status_code == 200
        body = response.content.decode()
        assert response.json()["results"] and "path" not in response.json()["results"][0]
        assert str(model_dir) not in body and "/models/" not in body


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["9223372036854775808", "99999999999999999999999", "abc", "-1", "0", ""])
def test_a_document_filter_that_names_no_possible_id_is_a_400(alices_document, alice, client_for, value):
    response = client_for(alice).get(reverse("api-field-list"), {"document": value})
    assert response.status_code == 400
    assert "document" in response.json()
    good = client_for(alice).get(reverse("api-field-list"), {"document": str(alices_document.pk)})
    assert good.status_code == 200 and len(good.json()["results"]) == 3
