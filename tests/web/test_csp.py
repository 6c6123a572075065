"""The Content-Security-Policy: sent on every page, and no page needs an inline script or style."""

import re
from pathlib import Path

import pytest
from django.urls import reverse

from tests.conftest import REPO_ROOT

INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", re.I), "an inline script"),
    (re.compile(r"<style\b", re.I), "an inline style sheet"),
    (re.compile(r'\sstyle="', re.I), "a style attribute"),
    (re.compile(r"\son[a-z]+=", re.I), "an event handler attribute"),
]


def inline_code(html: str) -> list[str]:
    return [what for pattern, what in INLINE if pattern.search(html)]


def test_no_template_holds_inline_script_or_style():
    found = {
        str(path.relative_to(REPO_ROOT)): inline_code(path.read_text())
        for path in Path(REPO_ROOT, "templates").rglob("*.html")
    }
    assert {path: what for path, what in found.items() if what} == {}


@pytest.mark.django_db
def test_every_page_sends_the_policy_and_renders_without_inline_code(
    read_document, alice, admin_user, client_for, check_template
):
    document = read_document(alice, {"payee": "ANNA"}, {"payee": 0.3})
    field = document.pages.get().fields.first()
    client = client_for(admin_user)
    for url in [
        reverse("home"),
        reverse("upload"),
        reverse("document-detail", args=[document.pk]),
        reverse("review-field", args=[field.pk]),
        reverse("template-edit", args=[check_template.pk]),
        reverse("api-docs"),
        reverse("api-token"),
        reverse("login"),
    ]:
        response = client.get(url)
        assert response.status_code == 200, url
        policy = response["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "style-src 'self'" in policy, url
        assert "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
        assert inline_code(response.content.decode()) == [], url
    script = client.get(reverse("api-docs"), {"script": ""})
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()
