"""Sign-in throttling: ten wrong passwords lock that user name from that address for fifteen minutes."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

WRONG = {"username": "alice", "password": "wrong"}
RIGHT = {"username": "alice", "password": "pw-alice"}


def sign_in(client, credentials, address="10.0.0.1"):
    return client.post(reverse("login"), credentials, REMOTE_ADDR=address)


def token(client, credentials, address="10.0.0.1"):
    return client.post(
        reverse("api-auth-token"), credentials, content_type="application/json", REMOTE_ADDR=address
    )


@pytest.mark.django_db
def test_ten_failures_lock_the_user_and_address_out_even_with_the_right_password(alice, client, settings):
    for _ in range(9):
        assert sign_in(client, WRONG).status_code == 200  # the form again, with its error
    locked = sign_in(client, WRONG)
    assert locked.status_code == 429
    assert "locked for 15 minutes" in locked.content.decode()
    # The right password is refused too while locked, in the browser and for an API token.
    assert sign_in(client, RIGHT).status_code == 429
    api = token(client, RIGHT)
    assert api.status_code == 429 and api.json()["code"] == "locked_out"
    assert "try again in 15 minutes" in api.json()["detail"]
    assert "_auth_user_id" not in client.session
    # Another address, and another user from this address, still sign in.
    assert sign_in(client, RIGHT, address="10.0.0.2").status_code == 302
    from tests.web.conftest import make_user

    make_user("bea")
    assert token(client, {"username": "bea", "password": "pw-bea"}).status_code == 200


@pytest.mark.django_db
def test_the_lock_ends_after_fifteen_minutes_and_a_success_resets_the_count(alice, client):
    from axes.models import AccessAttempt

    for _ in range(10):
        token(client, WRONG)
    assert token(client, RIGHT).status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    assert token(client, RIGHT).status_code == 200
    # Counting starts again from nothing after a success: nine failures do not lock.
    for _ in range(9):
        assert token(client, WRONG).status_code == 400
    assert sign_in(client, RIGHT).status_code == 302
