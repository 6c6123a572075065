"""The template editor's page: every field kind offered, no placeholder field, no upload before any field."""

import json
import re

import pytest
from django.urls import reverse

from recognition.engine.pages.templates import FIELD_KINDS
from recognition.models import Document, FormTemplate
from tests.web.conftest import png_bytes, upload_file


@pytest.mark.django_db
def test_a_new_template_has_no_field_until_one_is_drawn_and_cannot_take_uploads_before(
    admin_user, alice, client_for
):
    admin = client_for(admin_user)
    admin.post(
        reverse("template-create"),
        {"name": "blank-form", "kind": "form", "image": upload_file("blank.png", png_bytes(600, 300))},
    )
    template = FormTemplate.objects.get(name="blank-form")
    editor = admin.get(reverse("template-edit", args=[template.pk])).content.decode()
    definition = json.loads(re.search(r'id="template-definition"[^>]*>(.*?)</script>', editor, re.S).group(1))
    assert definition["fields"] == []
    kinds = json.loads(re.search(r'id="field-kinds"[^>]*>(.*?)</script>', editor, re.S).group(1))
    assert kinds == list(FIELD_KINDS) and "text" in kinds

    refused = client_for(alice).post(
        reverse("upload"), {"template": template.pk, "files": [upload_file("a.png", png_bytes(600, 300))]}
    )
    assert refused.status_code == 400
    assert "has no fields yet" in refused.content.decode()
    assert Document.objects.count() == 0

    definition["fields"] = [{"name": "code", "kind": "letters", "box": [10, 10, 200, 50], "cells": None}]
    saved = admin.post(reverse("template-edit", args=[template.pk]), {"definition": json.dumps(definition)})
    assert saved.status_code == 200
    template.refresh_from_db()
    assert [field["name"] for field in template.fields] == ["code"]
