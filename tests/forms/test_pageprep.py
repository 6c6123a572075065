"""Page clean-up: binarization under uneven light, illumination correction, deskew."""

import cv2
import numpy as np

from recognition.engine.pages.prepare import binarize, correct_illumination, deskew, estimate_skew


def _uneven_page():
    height, width = 300, 400
    light = np.linspace(110, 250, width, dtype=np.float32)[None, :].repeat(height, axis=0)
    strokes = np.zeros((height, width), bool)
    for row in range(40, 280, 40):
        strokes[row : row + 4, 30:370] = True
    page = np.where(strokes, light * 0.45, light)
    noise = np.random.default_rng(0).normal(0, 3, page.shape)
    return np.clip(page + noise, 0, 255).astype(np.uint8), strokes


def test_sauvola_finds_strokes_on_uneven_paper():
    page, strokes = _uneven_page()
    ink = binarize(page, "sauvola", window=31).astype(bool)
    assert ink[strokes].mean() > 0.9
    assert ink[~cv2.dilate(strokes.astype(np.uint8), np.ones((5, 5))).astype(bool)].mean() < 0.01
    # A global threshold cannot do it: the dark side of the paper is darker than the bright side's ink.
    assert binarize(page, "otsu").astype(bool)[~strokes].mean() > 0.1


def test_illumination_correction_evens_the_paper():
    page, strokes = _uneven_page()
    corrected = correct_illumination(page)
    paper = corrected[~cv2.dilate(strokes.astype(np.uint8), np.ones((9, 9))).astype(bool)]
    assert paper.mean() > 230 and np.percentile(paper, 5) > 200
    assert corrected[strokes].mean() < 150


def test_deskew_measures_and_removes_the_angle():
    page = np.full((400, 500), 255, np.uint8)
    for row in range(60, 360, 30):
        cv2.line(page, (50, row), (450, row), 0, 3)
    matrix = cv2.getRotationMatrix2D((250, 200), 3.0, 1.0)  # 3 degrees counter-clockwise
    rotated = cv2.warpAffine(page, matrix, (500, 400), borderValue=255)
    assert abs(estimate_skew(rotated) - 3.0) < 0.5
    straightened, angle = deskew(rotated)
    assert abs(angle - 3.0) < 0.5
    assert abs(estimate_skew(straightened)) < 0.5
