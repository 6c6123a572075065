"""Layout alignment of a cheque by its date comb and amount box, on synthetic cheques drawn here."""

import copy
import math

import cv2
import numpy as np
import pytest

from recognition.engine.pages.align import AlignmentError
from recognition.engine.pages.layout import (
    LayoutAlignment,
    Structure,
    align_layout,
    locate_fields,
    template_structures,
)
from recognition.engine.pages.templates import parse_template, resolve_template

TEMPLATE = resolve_template("cheque-cts2010")
WIDTH, HEIGHT = TEMPLATE.size
TEMPLATE_COMB = (1766, 82, 530, 70)
TEMPLATE_AMOUNT = (1690, 394, 580, 100)
# Another bank's cheque: the comb 10 % narrower and 30 px to the right, the amount box 15 % taller.
OTHER_COMB = (1796, 88, 477, 70)
OTHER_AMOUNT = (1700, 388, 580, 115)
INK = 40


def _strokes(image, box, rng, count):
    """Handwriting-like strokes: thick smooth polylines through random points of a box."""
    x, y, width, height = box
    for _ in range(count):
        points = np.column_stack([rng.uniform(x, x + width, 5), rng.uniform(y, y + height, 5)])
        cv2.polylines(
            image,
            [points.astype(np.int32)],
            False,
            int(rng.integers(20, 60)),
            int(rng.integers(2, 5)),
            cv2.LINE_AA,
        )


def _text(image, text, origin, scale=1.2, shade=55, thickness=2):
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, shade, thickness, cv2.LINE_AA)


def _background():
    """A security-print-like background: smooth waves of gray, as a coloured cheque scans."""
    rows, columns = np.mgrid[0:HEIGHT, 0:WIDTH]
    waves = 215 + 12 * np.sin(columns / 23.0 + 3 * np.sin(rows / 41.0)) + 6 * np.cos((columns + rows) / 57.0)
    return waves.astype(np.uint8)


def draw_cheque(comb=TEMPLATE_COMB, amount=TEMPLATE_AMOUNT, seed=0) -> np.ndarray:
    """A filled cheque in template pixels: background, logo, print, the comb and box, handwriting."""
    rng = np.random.default_rng(seed)
    image = _background()
    cv2.ellipse(image, (160, 110), (90, 60), 0, 0, 360, 90, -1)  # the bank's logo
    _text(image, "SYNTHETIC BANK OF TESTS LTD", (290, 100), 1.5, 50, 3)
    _text(image, "Branch 42, Main Road", (290, 150), 0.9, 70)
    x, y, width, height = comb
    cv2.rectangle(image, (x, y), (x + width, y + height), INK, 3)
    for cell in range(1, 8):
        wall = x + round(cell * width / 8)
        cv2.line(image, (wall, y), (wall, y + height), INK, 3)
    for cell in range(8):
        _strokes(
            image, (x + round(cell * width / 8) + 14, y + 12, round(width / 8) - 28, height - 24), rng, 2
        )
    x, y, width, height = amount
    cv2.rectangle(image, (x, y), (x + width, y + height), INK, 3)
    _text(image, "Rs", (x + 20, y + 70), 1.6, 50, 3)
    _strokes(image, (x + 150, y + 20, 380, height - 40), rng, 6)
    _text(image, "Pay", (70, 290), 1.3)
    cv2.line(image, (215, 305), (1800, 305), 110, 2)
    _strokes(image, (300, 220, 1200, 70), rng, 10)
    _text(image, "Rupees", (70, 390), 1.3)
    cv2.line(image, (380, 412), (1680, 412), 110, 2)
    cv2.line(image, (60, 497), (1480, 497), 110, 2)
    _strokes(image, (420, 330, 1100, 70), rng, 10)
    _text(image, "A/c No. 0012345678", (110, 590))
    _text(image, "Please sign above", (1850, 880), 1.0, 60)
    _strokes(image, (1800, 720, 400, 110), rng, 5)
    cv2.putText(image, "123456 400002011 000123 31", (450, 1020), cv2.FONT_HERSHEY_PLAIN, 4.0, 30, 4)
    return image


def scan(image, *, scale=1.0, angle=0.7, shift=(25.0, 18.0), resolution=0.72):
    """The cheque as a scanner gives it: turned and shifted a little, at another resolution (a cheque
    scanner crops the cheque itself, so its scale is the page's width; `scale` shrinks the cheque
    inside the page as a flatbed with a margin would).

    Returns the page and the 3x3 matrix from template pixels to page pixels.
    """
    matrix = cv2.getRotationMatrix2D((WIDTH / 2, HEIGHT / 2), angle, scale)
    matrix[:, 2] += shift
    matrix = np.vstack([matrix * resolution, [0, 0, 1]])
    size = (round(WIDTH * resolution), round(HEIGHT * resolution))
    page = cv2.warpAffine(image, matrix[:2], size, flags=cv2.INTER_AREA, borderValue=235)
    return page, matrix


def _mapped_box(matrix, box):
    """The axis-aligned box around a box's corners mapped by a 3x3 matrix."""
    x, y, width, height = box
    corners = np.array([[x, y, 1], [x + width, y, 1], [x, y + height, 1], [x + width, y + height, 1]], float)
    points = (matrix @ corners.T)[:2].T
    left, top = points.min(axis=0)
    right, bottom = points.max(axis=0)
    return np.array([left, top, right - left, bottom - top])


def _edges(box):
    """A box (x, y, width, height) as its edges (left, top, right, bottom)."""
    x, y, width, height = box
    return np.array([x, y, x + width, y + height], dtype=float)


def _page_to_template(alignment, matrix):
    """Template pixels -> template pixels through the scan and back through the alignment."""
    return alignment.homography @ matrix


def _expected_structure_box(roundtrip, drawn):
    """Where the alignment should report a drawn structure: its centre mapped by the scan and the
    transform the alignment chose, its size scaled by them (their small rotation aside)."""
    x, y, width, height = drawn
    centre = (roundtrip @ [x + width / 2, y + height / 2, 1])[:2]
    scale = math.hypot(roundtrip[0, 0], roundtrip[1, 0])
    return np.array(
        [centre[0] - width * scale / 2, centre[1] - height * scale / 2, width * scale, height * scale]
    )


def test_a_cheque_of_the_template_layout_is_aligned_back_to_it():
    page, matrix = scan(draw_cheque())
    assert page.shape == (792, 1703)
    alignment = align_layout(page, TEMPLATE)
    assert isinstance(alignment, LayoutAlignment)
    assert alignment.aligned.shape == (HEIGHT, WIDTH)
    assert alignment.score > 0.9
    assert set(alignment.structure_boxes) == {"date", "amount"}
    # The drawn structures are where the template has them: after the scan is undone, they are there.
    np.testing.assert_allclose(_edges(alignment.structure_boxes["date"]), _edges(TEMPLATE_COMB), atol=5)
    np.testing.assert_allclose(_edges(alignment.structure_boxes["amount"]), _edges(TEMPLATE_AMOUNT), atol=5)
    roundtrip = _page_to_template(alignment, matrix)
    assert math.hypot(roundtrip[0, 0], roundtrip[1, 0]) == pytest.approx(1.0, abs=0.01)
    result = alignment.to_dict()
    assert result["method"] == "layout" and result["structures"]["date"] == list(
        alignment.structure_boxes["date"]
    )


def test_structures_that_differ_from_the_template_are_found_where_they_are_drawn():
    page, matrix = scan(draw_cheque(OTHER_COMB, OTHER_AMOUNT), scale=1.0)
    alignment = align_layout(page, TEMPLATE)
    # Whatever transform the alignment chose, the boxes it reports are the drawn comb and box as that
    # transform puts them (not the template's, nor the comb's outline less a cell).
    for name, drawn in (("date", OTHER_COMB), ("amount", OTHER_AMOUNT)):
        expected = _expected_structure_box(_page_to_template(alignment, matrix), drawn)
        np.testing.assert_allclose(_edges(alignment.structure_boxes[name]), _edges(expected), atol=6)
    date_width = alignment.structure_boxes["date"][2]
    amount_height = alignment.structure_boxes["amount"][3]
    assert date_width / alignment.structure_boxes["amount"][2] == pytest.approx(477 / 580, abs=0.02)
    assert amount_height / alignment.structure_boxes["date"][3] == pytest.approx(115 / 70, abs=0.08)


def test_locate_fields_moves_the_date_field_onto_the_found_comb():
    page, matrix = scan(draw_cheque(OTHER_COMB, OTHER_AMOUNT), scale=1.0)
    alignment = align_layout(page, TEMPLATE)
    located = {
        spec.name: spec
        for spec in locate_fields(
            TEMPLATE.fields, template_structures(TEMPLATE), alignment.structure_boxes, TEMPLATE.size
        )
    }
    date = located["date"]
    assert date.located and date.cells == 8
    # The date field is the comb's box in the template, so it is the found comb's box on the page.
    np.testing.assert_allclose(date.box, alignment.structure_boxes["date"], atol=1)
    expected = _expected_structure_box(_page_to_template(alignment, matrix), OTHER_COMB)
    np.testing.assert_allclose(_edges(date.box), _edges(expected), atol=6)
    assert abs(date.box[0] - TEMPLATE_COMB[0]) > 10 and date.box[2] < TEMPLATE_COMB[2] - 30
    # The amount field keeps its place inside the amount box, scaled with it (the box is taller).
    amount = located["amount"]
    assert amount.located and amount.box[3] > 92 * 1.1
    assert not located["payee"].located and located["payee"].box == (215, 195, 1585, 130)


def test_a_scaled_scan_of_another_banks_cheque_is_aligned():
    page, _ = scan(draw_cheque(OTHER_COMB, OTHER_AMOUNT), scale=0.97)
    alignment = align_layout(page, TEMPLATE)
    assert set(alignment.structure_boxes) == {"date", "amount"}


def test_another_banks_cheque_is_shifted_by_its_structures_on_average():
    # The comb is drawn 30 px right of the template's and the box where the template has it: the page
    # is shifted by their mean, so a field no structure locates (the payee) lands within half of that.
    page, matrix = scan(draw_cheque(OTHER_COMB, OTHER_AMOUNT))
    alignment = align_layout(page, TEMPLATE)
    roundtrip = _page_to_template(alignment, matrix)
    payee_corner = roundtrip @ [215, 195, 1]
    np.testing.assert_allclose(payee_corner[:2], [215, 195], atol=20)
    assert math.hypot(roundtrip[0, 0], roundtrip[1, 0]) == pytest.approx(1.0, abs=0.01)


def test_a_rotated_scan_is_turned_back():
    page, matrix = scan(draw_cheque(), angle=1.5)
    alignment = align_layout(page, TEMPLATE)
    roundtrip = _page_to_template(alignment, matrix)
    assert abs(math.degrees(math.atan2(roundtrip[1, 0], roundtrip[0, 0]))) < 0.25


def _blank_page():
    return np.full((660, 1419), 238, np.uint8)


def _a4_form_page():
    page = np.full((1170, 827), 245, np.uint8)
    for row in range(150, 1050, 90):
        cv2.rectangle(page, (80, row), (750, row + 60), 30, 2)
        _text(page, f"Field {row // 90}", (90, row - 10), 0.6, 40, 1)
    return page


def _random_text_page():
    rng = np.random.default_rng(3)
    page = np.full((792, 1703), 240, np.uint8)
    for row in range(60, 760, 55):
        words = " ".join("".join(rng.choice(list("abcdefghij"), rng.integers(3, 9))) for _ in range(12))
        _text(page, words, (30, row), 1.0, 50)
    _strokes(page, (0, 0, 1703, 792), rng, 40)
    return page


def _noise_page():
    # Every region of uniform noise is "lines" to a local threshold: no comb or box may be found in it.
    return np.random.default_rng(0).integers(0, 256, (550, 1180)).astype(np.uint8)


@pytest.mark.parametrize(
    ("make_page", "message"),
    [
        (_blank_page, "date, amount not found"),
        (_a4_form_page, "shape 827x1170"),
        (_random_text_page, "not found"),
        (_noise_page, "not found"),
    ],
)
def test_a_page_that_is_not_a_cheque_is_not_aligned(make_page, message):
    with pytest.raises(AlignmentError, match=message) as caught:
        align_layout(make_page(), TEMPLATE)
    assert caught.value.score < 0.6


def test_align_layout_wants_a_grayscale_page():
    with pytest.raises(ValueError, match="2-D uint8"):
        align_layout(np.zeros((660, 1419, 3), np.uint8), TEMPLATE)


def _cheque_source(layout):
    data = copy.deepcopy(TEMPLATE.source)
    data["layout"] = layout
    return data


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ([{"name": "date", "cells": 8}], "needs a box"),
        ([{"name": "date", "box": [1766, 82, 0, 70], "cells": 8}], "needs a box"),
        ([{"name": "date", "box": [2000, 82, 530, 70], "cells": 8}], "outside the image"),
        ([{"name": "date", "box": [1766, 1050, 530, 70], "cells": 8}], "outside the image"),
        ([{"name": "date", "box": [1766, 82, 530, 70], "cells": 8, "required": False}], "must be required"),
        ([{"name": "date", "box": [1766, 82, 530, 70], "cells": 0}], "cells must be >= 1"),
        ([{"box": [1766, 82, 530, 70]}], "needs a 'name'"),
        ([], "non-empty list"),
    ],
)
def test_a_malformed_layout_is_refused(layout, message):
    with pytest.raises(ValueError, match=message):
        parse_template(_cheque_source(layout))


def test_template_structures_default_to_the_comb_fields():
    assert template_structures(TEMPLATE) == [
        Structure("date", TEMPLATE_COMB, 8, True),
        Structure("amount", TEMPLATE_AMOUNT, None, True),
    ]
    data = copy.deepcopy(TEMPLATE.source)
    del data["layout"]
    data["alignment"] = "features"
    assert template_structures(parse_template(data)) == [Structure("date", TEMPLATE_COMB, 8, True)]
