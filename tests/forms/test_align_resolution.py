"""Alignment at scan resolutions well above the template's (600 dpi scans of a form drawn at 100 dpi)."""

import cv2
import pytest

from recognition.engine.pages.align import MIN_SCORE, align_page, template_features

FORMS = "recognition/forms_data"


@pytest.mark.parametrize(
    ("template", "page", "factor"),
    [
        ("sample_form/sample_form.png", "samples/sample_form-filled.png", 5.36),  # A4 at 600 dpi
        ("check/check.png", "samples/check-filled.png", 3.0),
    ],
)
def test_a_high_resolution_scan_aligns_as_well_as_the_plain_one(template, page, factor):
    features = template_features(cv2.imread(f"{FORMS}/{template}", cv2.IMREAD_GRAYSCALE))
    scan = cv2.imread(f"{FORMS}/{page}", cv2.IMREAD_GRAYSCALE)
    plain = align_page(scan, features)
    big = cv2.resize(scan, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
    assert big.shape[0] * big.shape[1] < 40_000_000  # within the upload's pixel cap
    high = align_page(big, features)
    assert high.aligned.shape == plain.aligned.shape
    # Upscaling blurs the strokes a little, so the score may drop a little, never to a refusal.
    assert high.score > max(MIN_SCORE, plain.score - 0.15)
