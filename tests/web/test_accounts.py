"""Accounts: an API token from a user name and password or from the API token page; offline API docs."""

import re

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse
from rest_framework.authtoken.models import Token


@pytest.mark.django_db
def test_a_user_name_and_password_trade_for_a_token_that_opens_the_api(alice, client):
    response = client.post(
        reverse("api-auth-token"),
        {"username": "alice", "password": "pw-alice"},
        content_type="application/json",
    )
    assert response.status_code == 200
    token = response.json()["token"]
    assert token == Token.objects.get(user=alice).key
    again = client.post(
        reverse("api-auth-token"),
        {"username": "alice", "password": "pw-alice"},
        content_type="application/json",
    )
    assert again.json() == {"token": token}
    documents = client.get(reverse("api-document-list"), HTTP_AUTHORIZATION=f"Token {token}")
    assert documents.status_code == 200

    wrong = client.post(
        reverse("api-auth-token"), {"username": "alice", "password": "nope"}, content_type="application/json"
    )
    assert wrong.status_code == 400 and "token" not in wrong.json()


@pytest.mark.django_db
def test_the_api_token_page_makes_shows_and_replaces_the_token(alice, client_for, client):
    browser = client_for(alice)
    page = browser.get(reverse("api-token")).content.decode()
    assert "You have no API token yet" in page and not Token.objects.exists()

    browser.post(reverse("api-token"), {"action": "create"})
    first = Token.objects.get(user=alice).key
    page = browser.get(reverse("api-token")).content.decode()
    assert first in page and reverse("api-auth-token") in page

    browser.post(reverse("api-token"), {"action": "replace"})
    second = Token.objects.get(user=alice).key
    assert second != first
    old = client.get(reverse("api-document-list"), HTTP_AUTHORIZATION=f"Token {first}")
    assert old.status_code in (401, 403)
    new = client.get(reverse("api-document-list"), HTTP_AUTHORIZATION=f"Token {second}")
    assert new.status_code == 200
    assert reverse("api-token") in browser.get(reverse("home")).content.decode()


@pytest.mark.django_db
def test_the_api_docs_load_everything_from_this_site(alice, client_for):
    page = client_for(alice).get(reverse("api-docs")).content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources, page
    assert not [source for source in sources if source.startswith(("http:", "https:", "//"))], sources
    bundle = next(source for source in sources if source.endswith("swagger-ui-bundle.js"))
    assert bundle.startswith("/static/")
    assert finders.find(bundle.removeprefix("/static/")), bundle
