"""Two reviewers on one field: a change made on a version someone changed since is refused, never lost."""

import pytest
from django.urls import reverse

from recognition.models import Correction, FieldResult
from tests.web.conftest import make_user


@pytest.fixture
def payee(read_document, alice):
    read_document(alice, {"payee": "ANNA", "date": "01012020", "amount": "12"}, {"payee": 0.2})
    return FieldResult.objects.get(name="payee")


def api_correct(client, field, **body):
    return client.post(reverse("api-field-correct", args=[field.pk]), body, content_type="application/json")


@pytest.mark.django_db
def test_the_api_refuses_a_correction_made_on_a_stale_version_and_says_what_changed(
    payee, reviewer, client_for
):
    other = make_user("omar", "reviewers")
    rita, omar = client_for(reviewer), client_for(other)
    seen = rita.get(reverse("api-field-detail", args=[payee.pk])).json()["version"]
    assert omar.get(reverse("api-field-detail", args=[payee.pk])).json()["version"] == seen

    first = api_correct(omar, payee, text="ANNE", version=seen)
    assert first.status_code == 200 and first.json()["version"] != seen
    late = api_correct(rita, payee, text="HANNA", version=seen)
    assert late.status_code == 409
    body = late.json()
    assert body["code"] == "stale" and "omar changed this field" in body["detail"]
    assert body["current"]["text"] == "ANNE" and body["current"]["reviewed_by"] == "omar"
    assert body["current"]["version"] == first.json()["version"]
    payee.refresh_from_db()
    assert payee.text == "ANNE" and Correction.objects.count() == 1

    # With the version it now knows, the second reviewer may still overrule; accept checks it too.
    again = api_correct(rita, payee, text="HANNA", version=body["current"]["version"])
    assert again.status_code == 200 and again.json()["text"] == "HANNA"
    stale_accept = omar.post(
        reverse("api-field-accept", args=[payee.pk]),
        {"version": first.json()["version"]},
        content_type="application/json",
    )
    assert stale_accept.status_code == 409


@pytest.mark.django_db
def test_an_api_correction_without_a_version_applies_as_before(payee, reviewer, client_for):
    client = client_for(reviewer)
    assert api_correct(client, payee, text="ANNE").status_code == 200
    assert api_correct(client, payee, text="ANNIE").status_code == 200
    payee.refresh_from_db()
    assert payee.text == "ANNIE"


@pytest.mark.django_db
def test_the_review_screen_sends_its_version_and_shows_the_other_reviewers_change(
    payee, reviewer, client_for
):
    other = make_user("omar", "reviewers")
    rita, omar = client_for(reviewer), client_for(other)
    screen = rita.get(reverse("review-field", args=[payee.pk])).content.decode()
    assert 'name="version" id="review-version" value="0"' in screen

    omar.post(reverse("review-field", args=[payee.pk]), {"text": "ANNE", "version": "0"})
    refused = rita.post(reverse("review-field", args=[payee.pk]), {"text": "HANNA", "version": "0"})
    assert refused.status_code == 409
    page = refused.content.decode()
    assert "omar changed this field" in page and "&#x27;ANNE&#x27;" in page
    assert 'value="HANNA"' in page  # what she typed is kept
    payee.refresh_from_db()
    from recognition.selectors import field_version

    assert f'id="review-version" value="{field_version(payee)}"' in page
    # Saving again on the version now shown is her decision, and goes through.
    saved = rita.post(
        reverse("review-field", args=[payee.pk]), {"text": "HANNA", "version": str(field_version(payee))}
    )
    assert saved.status_code == 302
    payee.refresh_from_db()
    assert payee.text == "HANNA"
