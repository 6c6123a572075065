"""A name in a letters field keeps its spaces, hyphens, apostrophes and dots when a reviewer corrects it."""

import pytest
from django.urls import reverse

from recognition.models import FieldResult


@pytest.mark.django_db
@pytest.mark.parametrize("typed", ["Louis Davis", "JEAN-PIERRE O'NEIL", "P. KUMAR"])
def test_a_payee_with_spaces_and_marks_is_saved_in_the_browser_and_the_api(
    read_document, alice, reviewer, client_for, typed
):
    read_document(alice, {"payee": "LOUIS OAVIS"}, {"payee": 0.4})
    payee = FieldResult.objects.get(name="payee")
    assert payee.kind == "letters"
    client = client_for(reviewer)
    assert client.post(reverse("review-field", args=[payee.pk]), {"text": typed}).status_code == 302
    payee.refresh_from_db()
    assert payee.text == typed.upper()
    api = client.post(
        reverse("api-field-correct", args=[payee.pk]), {"text": typed + "S"}, content_type="application/json"
    )
    assert api.status_code == 200 and api.json()["text"] == (typed + "S").upper()
    refused = client.post(
        reverse("api-field-correct", args=[payee.pk]), {"text": "LOUIS 2"}, content_type="application/json"
    )
    assert refused.status_code == 400 and "'2'" in refused.json()["detail"]
