"""Accounts: a user's API token (made, shown, replaced) and the sign-in lockout after repeated failures."""

from __future__ import annotations

from django.db import transaction
from rest_framework.authtoken.models import Token


def api_token_get_or_create(*, user) -> Token:
    """The user's API token, made on first use."""
    token, _ = Token.objects.get_or_create(user=user)
    return token


def api_token_replace(*, user) -> Token:
    """A new API token for the user; the old one stops working at once."""
    with transaction.atomic():
        Token.objects.filter(user=user).delete()
        return Token.objects.create(user=user)
