"""Moving through the review queue: save opens the next field, skip leaves a field for later, back returns."""

import pytest
from django.urls import reverse

from recognition.models import FieldResult


@pytest.fixture
def three_pending(read_document, alice):
    read_document(
        alice,
        {"payee": "ANNA", "date": "01012020", "amount": "12"},
        {"payee": 0.2, "date": 0.3, "amount": 0.4},
    )
    return [FieldResult.objects.get(name=name) for name in ("payee", "date", "amount")]


def screen(client, field, **query):
    response = client.get(reverse("review-field", args=[field.pk]), query)
    assert response.status_code == 200
    return response.content.decode()


def link_to(field, back=False) -> str:
    return reverse("review-field", args=[field.pk]) + ("?back=1" if back else "")


@pytest.mark.django_db
def test_skip_leaves_the_field_pending_and_it_comes_round_again_at_the_end(
    three_pending, reviewer, client_for
):
    payee, date, amount = three_pending
    client = client_for(reviewer)
    first = screen(client, payee)
    assert f'id="skip-button" href="{link_to(date)}"' in first
    assert 'id="back-button"' not in first  # nothing opened before it

    # Skip the payee, save the date: the amount is next, and after it the skipped payee again.
    screen(client, date)
    saved = client.post(reverse("review-field", args=[date.pk]), {"text": "02012020"})
    assert saved["Location"] == link_to(amount)
    saved = client.post(reverse("review-field", args=[amount.pk]), {"text": "13"})
    assert saved["Location"] == link_to(payee)
    payee.refresh_from_db()
    assert payee.review_state == "pending"


@pytest.mark.django_db
def test_back_returns_to_the_fields_opened_before_one_by_one(three_pending, reviewer, client_for):
    payee, date, amount = three_pending
    client = client_for(reviewer)
    screen(client, payee)
    client.post(reverse("review-field", args=[payee.pk]), {"text": "ANNE"})
    assert f'id="back-button" href="{link_to(payee, back=True)}"' in screen(client, date)
    assert f'id="back-button" href="{link_to(date, back=True)}"' in screen(client, amount)
    # Back from the amount opens the date, and Back again the payee (already corrected: editable).
    assert f'id="back-button" href="{link_to(payee, back=True)}"' in screen(client, date, back=1)
    again = screen(client, payee, back=1)
    assert 'value="ANNE"' in again and 'id="back-button"' not in again


@pytest.mark.django_db
def test_tab_no_longer_accepts_accepting_is_its_own_button(three_pending, reviewer, client_for):
    from pathlib import Path

    from django.contrib.staticfiles import finders

    page = screen(client_for(reviewer), three_pending[0])
    assert 'id="accept-button" name="action" value="accept"' in page
    assert 'tabindex="-1"' not in page
    script = Path(finders.find("recognition/review.js")).read_text()
    assert '"Tab"' not in script and "ctrlKey" in script and "PageDown" in script
