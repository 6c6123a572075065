"""Alignment: a known warp is recovered; wrong or blank pages are refused with a score."""

import cv2
import numpy as np
import pytest

from bench.make_forms import degrade, draw_check_template
from recognition.engine.pages.align import AlignmentError, align_page, template_features


def _template_point_error(homography_page_to_template, homography_template_to_page, size) -> float:
    width, height = size
    grid = np.float32([[x, y] for x in range(0, width, 50) for y in range(0, height, 50)]).reshape(-1, 1, 2)
    on_page = cv2.perspectiveTransform(grid, homography_template_to_page)
    back = cv2.perspectiveTransform(on_page, homography_page_to_template)
    return float(np.abs(back - grid).max())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_alignment_recovers_a_known_warp(sample_form, seed):
    image, _ = sample_form
    features = template_features(image)
    # degrade() shifts, scales 0.8-1.1x, rotates up to 3 degrees, skews, blurs, adds noise and JPEG.
    scanned, homography_template_to_page = degrade(image, np.random.default_rng(seed))
    alignment = align_page(scanned, features)
    error = _template_point_error(alignment.homography, homography_template_to_page, features.size)
    assert error < 3.0, f"alignment off by up to {error:.1f} px"
    assert alignment.aligned.shape == image.shape
    assert 0.3 < alignment.score <= 1.0


def test_wrong_form_is_refused_with_a_score(sample_form):
    image, _ = sample_form
    check_image, _ = draw_check_template()
    scanned, _ = degrade(check_image, np.random.default_rng(4))
    with pytest.raises(AlignmentError) as caught:
        align_page(scanned, template_features(image))
    assert isinstance(caught.value, ValueError)
    assert caught.value.score < 0.25


def test_blank_page_is_refused(sample_form):
    image, _ = sample_form
    blank = np.full((1100, 800), 235, np.uint8)
    blank += np.random.default_rng(0).integers(0, 6, blank.shape, dtype=np.uint8)
    with pytest.raises(AlignmentError):
        align_page(blank, template_features(image))
