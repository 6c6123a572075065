"""Fixtures of the web app tests: users in each role, the bundled templates, read documents."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pytest
from django.contrib.auth.models import Group, User
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from recognition.models import Document, FormTemplate, Page
from recognition.services.pages import page_process
from recognition.services.templates import template_save, templates_seed_bundled


@pytest.fixture(autouse=True)
def shared_media_root(media_root, settings):
    """Every web test writes files where the worker process reads them."""
    settings.MEDIA_ROOT = media_root
    # Hashing test passwords the production way costs a second per test on two cores.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return media_root


def make_user(username: str, *groups: str, **extra) -> User:
    user = User.objects.create_user(username=username, password="pw-" + username, **extra)
    for name in groups:
        # get_or_create: tests with transaction=True flush the groups the migration made.
        user.groups.add(Group.objects.get_or_create(name=name)[0])
    return user


@pytest.fixture
def alice(db) -> User:
    return make_user("alice", "uploaders")


@pytest.fixture
def bob(db) -> User:
    return make_user("bob", "uploaders")


@pytest.fixture
def reviewer(db) -> User:
    return make_user("rita", "reviewers")


@pytest.fixture
def admin_user(db) -> User:
    return make_user("ada", "admins")


@pytest.fixture
def client_for(client):
    """A test client logged in as the given user (a fresh client per call)."""
    from django.test import Client

    def login(user: User) -> Client:
        other = Client()
        other.force_login(user)
        return other

    return login


@pytest.fixture
def templates(db) -> dict[str, FormTemplate]:
    return {template.name: template for template in templates_seed_bundled()}


@pytest.fixture
def check_template(templates) -> FormTemplate:
    return templates["check"]


def digits_template(base: FormTemplate) -> FormTemplate:
    """A template of the bundled form's digit fields only (the digits model is the one always shipped)."""
    definition = dict(base.definition)
    definition["name"] = f"{base.name}-digits"
    definition["fields"] = [field for field in base.fields if field["kind"] in ("digits", "date")]
    return template_save(definition=definition, image_data=base.image.read())


def filled_form(template: FormTemplate) -> bytes:
    """The template's blank image with printed digits in every comb cell, as PNG bytes."""
    import cv2

    image = cv2.imread(template.image.path, cv2.IMREAD_GRAYSCALE)
    for field in template.fields:
        x, y, width, height = field["box"]
        cells = field["cells"] or 6
        for index in range(cells):
            origin = (int(x + index * width / cells + width / cells * 0.25), int(y + height * 0.8))
            cv2.putText(image, str(index % 10), origin, cv2.FONT_HERSHEY_SIMPLEX, height / 45, 20, 3)
    return cv2.imencode(".png", image)[1].tobytes()


def png_bytes(width: int = 400, height: int = 200, value: int = 255) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((height, width), value, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def upload_file(name: str, data: bytes, content_type: str = "application/octet-stream") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


@dataclass
class FakeReading:
    """What FormReader.read_page returns, for tests that exercise the web side without the models."""

    result: dict
    aligned: np.ndarray


def fake_result(template: FormTemplate, texts: dict[str, str], confidences: dict[str, float]) -> dict:
    """A hwr-form-result/1 document for `template`: each character in its own slice of the field's box."""
    fields = []
    for spec in template.fields:
        text = texts.get(spec["name"], "")
        confidence = confidences.get(spec["name"], 0.5)
        x, y, width, height = spec["box"]
        step = width // max(len(text), 1)
        chars = [
            {
                "text": character,
                "confidence": confidence,
                "box": [x + index * step, y, step, height],
                "alternatives": [["1" if character != "1" else "7", round(1 - confidence, 3)]],
            }
            for index, character in enumerate(text)
        ]
        fields.append({"name": spec["name"], "text": text, "confidence": confidence, "chars": chars})
    return {
        "format": "hwr-form-result/1",
        "template": template.name,
        "model": "digits@1",
        "fields": fields,
        "alignment": {"score": 0.93},
    }


def aligned_page(template: FormTemplate) -> np.ndarray:
    width, height = template.definition["size"]
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, size=(height, width), dtype=np.uint8)


@pytest.fixture
def read_document(check_template):
    """Make a document of one page for `owner` and store a reading with the given texts and confidences."""

    def make(owner: User, texts: dict[str, str], confidences: dict[str, float], template=None) -> Document:
        template = template or check_template
        # Rows made directly, not through document_upload: no task may reach a worker that
        # another test started, or it would read this page before the fake reading is stored.
        document = Document.objects.create(owner=owner, template=template, name="scan.png")
        page = Page(document=document, number=1, source_name="scan.png")
        page.image.save("scan.png", ContentFile(png_bytes()), save=True)
        result = fake_result(template, texts, confidences)
        page_process(page_id=page.pk, read_page=lambda _t, _i: FakeReading(result, aligned_page(template)))
        document.refresh_from_db()
        return document

    return make
