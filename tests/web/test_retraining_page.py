"""The retraining page: usable samples against the minimum a retraining needs, refusals shown in the page."""

import pytest
from django.urls import reverse

from recognition.models import RetrainingRun


@pytest.mark.django_db
def test_the_counts_show_the_minimum_and_a_refusal_stays_on_the_page(
    admin_user, client_for, model_dir, settings
):
    from recognition.services.models import model_versions_sync

    model_versions_sync()
    settings.RETRAIN_MIN_SAMPLES = 5
    client = client_for(admin_user)
    page = client.get(reverse("retraining")).content.decode()
    assert "0 <small>of 5 needed: 5 more</small>" in page
    assert 'id="retrain-digits" disabled' in page

    # Sent anyway (an old page, another tab): the refusal is shown on the retraining page itself.
    refused = client.post(reverse("retraining") + "?kind=digits", {"action": "retrain", "kind": "digits"})
    assert refused.status_code == 409
    shown = refused.content.decode()
    assert "Retraining queue" in shown and "Samples for digits" in shown
    assert 'class="card message error"' in shown and "retraining needs at least 5" in shown
    assert RetrainingRun.objects.count() == 0
