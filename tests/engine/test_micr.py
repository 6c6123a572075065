"""The E-13B MICR reader: synthetic lines from its own glyphs, parsing, and bands with no MICR in them."""

import cv2
import numpy as np
import pytest

from recognition.engine.cheques.micr import (
    ON_US,
    TRANSIT,
    MicrReading,
    parse_micr,
    read_micr,
    render_line,
)

INDIAN_LINE = f"{ON_US}083654{ON_US} 500025033{TRANSIT} 290062{ON_US} 31"


def scanned(
    image: np.ndarray, *, scale: float, angle: float, shift: tuple[float, float], seed: int
) -> np.ndarray:
    """The line as a scanner would give it back: on more paper, turned, rescaled, blurred, noisy, JPEG."""
    rng = np.random.default_rng(seed)
    paper = cv2.copyMakeBorder(image, 50, 50, 70, 70, cv2.BORDER_CONSTANT, value=255)
    height, width = paper.shape
    transform = cv2.getRotationMatrix2D((width / 2, height / 2), angle, scale)
    transform[:, 2] += shift
    turned = cv2.warpAffine(paper, transform, (width, height), borderValue=255)
    blurred = cv2.GaussianBlur(turned, (0, 0), 1.2)
    noisy = np.clip(blurred + rng.normal(0, 8, blurred.shape), 0, 255).astype(np.uint8)
    _, encoded = cv2.imencode(".jpg", noisy, [cv2.IMWRITE_JPEG_QUALITY, 60])
    return cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)


@pytest.mark.parametrize(
    ("scale", "angle", "shift"),
    [(1.0, 0.0, (0.0, 0.0)), (0.93, 0.8, (3.5, -4.0)), (1.07, -1.0, (-6.0, 2.5))],
)
def test_a_rendered_line_reads_back_exactly_and_surely(scale, angle, shift):
    image = scanned(render_line(INDIAN_LINE), scale=scale, angle=angle, shift=shift, seed=7)

    reading = read_micr(image)

    assert reading.text == INDIAN_LINE
    assert reading.confidence > 0.9
    assert "".join(char.text for char in reading.chars) == reading.text


def test_every_glyph_reads_back_as_itself():
    every_glyph = "0123456789\u2446\u2447\u2448\u2449"
    image = scanned(render_line(every_glyph), scale=1.02, angle=0.5, shift=(1.0, 1.0), seed=3)

    reading = read_micr(image)

    assert reading.text == every_glyph
    assert all(char.alternatives[0][0] == char.text for char in reading.chars)


def test_boxes_land_on_the_characters_in_crop_pixels():
    image = scanned(render_line(INDIAN_LINE), scale=1.0, angle=0.0, shift=(0.0, 0.0), seed=1)

    reading = read_micr(image)

    for char in reading.chars:
        if char.text == " ":
            continue
        x, y, width, height = char.box
        assert image[y : y + height, x : x + width].min() < 100


def test_parse_micr_splits_a_syndicate_line():
    assert parse_micr(INDIAN_LINE) == {
        "cheque_number": "083654",
        "micr_code": "500025033",
        "account": "290062",
        "transaction_code": "31",
    }


def test_parse_micr_leaves_out_what_the_line_lacks():
    fields = parse_micr(f"{ON_US}120611{ON_US} 500015048{TRANSIT} 31")

    assert fields == {
        "cheque_number": "120611",
        "micr_code": "500015048",
        "account": None,
        "transaction_code": "31",
    }
    assert parse_micr("") == dict.fromkeys(fields)


def test_a_blank_band_reads_nothing():
    rng = np.random.default_rng(0)
    blank = np.clip(235 + rng.normal(0, 4, (140, 1800)), 0, 255).astype(np.uint8)

    assert read_micr(blank) == MicrReading(text="", confidence=0.0, chars=())


def test_handwriting_like_strokes_are_not_read_confidently():
    rng = np.random.default_rng(5)
    band = np.full((140, 1800), 240, np.uint8)
    for _ in range(25):
        start = rng.uniform((50, 30), (1700, 110))
        points = start + np.cumsum(rng.normal(0, 12, (8, 2)), axis=0)
        cv2.polylines(band, [points.astype(np.int32)], False, 40, thickness=int(rng.integers(2, 5)))

    reading = read_micr(band)

    assert reading.text != ""
    assert reading.confidence < 0.5
    assert max(char.confidence for char in reading.chars if char.text != " ") < 0.9


def test_a_colour_image_is_refused():
    with pytest.raises(ValueError, match="grey"):
        read_micr(np.zeros((40, 400, 3), np.uint8))
