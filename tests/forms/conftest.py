"""Fixtures for the forms tests: bundled templates, generated pages, the shipped models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from django.conf import settings

from bench.make_forms import draw_sample_form_template, load_handwriting, make_page, write_field

REPO_ROOT = Path(__file__).resolve().parents[2]
FORMS_DATA = REPO_ROOT / "recognition" / "forms_data"
DIGIT_FIELD_KINDS = ("digits", "date", "amount")


@pytest.fixture(scope="session")
def handwriting():
    # femnist-dev is always at ../shared/data; MNIST joins in when fetched.
    return load_handwriting(split="dev")


@pytest.fixture(scope="session")
def sample_form():
    """(blank image, template dict) of the bundled sample form."""
    return draw_sample_form_template()


@pytest.fixture(scope="session")
def digits_model_dir() -> Path:
    model_dir = Path(settings.MODEL_DIR)
    if not (model_dir / "digits").is_dir():
        pytest.skip(f"no shipped digits model under {model_dir}")
    return model_dir


@pytest.fixture
def digit_template_file(tmp_path, sample_form) -> Path:
    """The sample form restricted to its digit fields (the shipped models cover them), as JSON + PNG."""
    import json

    import cv2

    image, template = sample_form
    template = dict(
        template, fields=[field for field in template["fields"] if field["kind"] in DIGIT_FIELD_KINDS]
    )
    cv2.imwrite(str(tmp_path / "sample_form.png"), image)
    path = tmp_path / "digit_form.json"
    path.write_text(json.dumps(template))
    return path


@pytest.fixture
def filled_digit_page(tmp_path, sample_form, handwriting):
    """A generated, scanned-looking page of the sample form (JPEG) and its truth."""
    import cv2

    image, template = sample_form
    page, truth = make_page(image, template, handwriting, np.random.default_rng(11))
    path = tmp_path / "page.jpg"
    cv2.imwrite(str(path), page)
    return path, truth


__all__ = ["write_field"]
