"""Segmentation of comb and free fields on synthetic fields drawn here."""

import cv2
import numpy as np

from recognition.engine.fields.comb import locate_comb_box, segment_comb
from recognition.engine.fields.free import segment_free
from recognition.engine.fields.reader import segment_field
from recognition.engine.fields.segment import best_cut_path, resolve_group


def _comb_page(cells=6, cell_width=40, height=50):
    page = np.full((height + 60, cells * cell_width + 60), 250, np.uint8)
    box = (30, 30, cells * cell_width, height)
    x, y = box[:2]
    cv2.rectangle(page, (x, y), (x + box[2] - 1, y + height - 1), 40, 2)
    for index in range(1, cells):
        cv2.line(page, (x + index * cell_width, y), (x + index * cell_width, y + height - 1), 40, 2)
    return page, box


def test_comb_one_char_per_cell_and_blanks():
    page, box = _comb_page()
    x, y, _, height = box
    filled = [0, 1, 3]
    for cell in filled:
        # A "1"-like stroke and a "0"-like ring of pen ink inside the cell.
        center = (x + cell * 40 + 20, y + 25)
        cv2.ellipse(page, center, (10, 16), 0, 0, 360, 20, 3)
    segments = segment_comb(page, box, 6)
    assert [segment.kind for segment in segments] == ["char", "char", "blank", "char", "blank", "blank"]
    for segment in segments:
        if segment.kind == "char":
            assert segment.image.dtype == np.uint8 and segment.image.min() < 60 and segment.image.max() == 255
            # The box is the ink's (about 23 x 35), not the cell's; wall pixels are not in it.
            assert 18 <= segment.box[2] <= 28 and 28 <= segment.box[3] <= 40


def test_a_blank_cell_with_a_short_stroke_is_a_doubtful_blank():
    page, box = _comb_page(cells=3)
    x, y, _, _ = box
    cv2.ellipse(page, (x + 20, y + 25), (10, 16), 0, 0, 360, 20, 3)
    # Cell 2: a flat stroke too short to be a character (a digit's bar, or a faint one).
    cv2.line(page, (x + 40 + 12, y + 26), (x + 40 + 28, y + 26), 20, 3)
    segments = segment_comb(page, box, 3)
    assert [segment.kind for segment in segments] == ["char", "blank", "blank"]
    assert segments[1].confidence < 0.9
    assert segments[2].confidence == 1.0


def test_comb_keeps_ink_that_crosses_the_bottom_line():
    page, box = _comb_page(cells=3)
    x, y, _, height = box
    # A vertical stroke from inside the cell to below the bottom line (a descender).
    cv2.line(page, (x + 60, y + 10), (x + 60, y + height + 12), 20, 3)
    segments = segment_comb(page, box, 3)
    assert [segment.kind for segment in segments] == ["blank", "char", "blank"]
    top, bottom = segments[1].box[1], segments[1].box[1] + segments[1].box[3]
    # One piece from y+10 to y+62: the line removal bridged the crossing instead of cutting it.
    assert top <= y + 11 and bottom >= y + height + 10


def test_comb_finds_walls_when_the_page_is_shifted():
    page, box = _comb_page()
    x, y, _, _ = box
    cv2.ellipse(page, (x + 2 * 40 + 20, y + 25), (10, 16), 0, 0, 360, 20, 3)
    shifted = np.roll(page, 7, axis=1)  # the aligned page is off by 7 px; the walls are found anyway
    segments = segment_comb(shifted, box, 6)
    assert [segment.kind for segment in segments].count("char") == 1
    assert segments[2].kind == "char"


def _amount_field(separator: str):
    page = np.full((90, 330), 250, np.uint8)
    box = (10, 10, 310, 70)
    cv2.rectangle(page, (10, 10), (319, 79), 40, 2)
    baseline = 62
    centers = [40, 75, 110, 175, 210]
    for center in centers:
        cv2.ellipse(page, (center, baseline - 17), (11, 17), 0, 0, 360, 20, 3)
    if separator == ".":
        cv2.circle(page, (142, baseline - 2), 3, 20, -1)
    else:
        cv2.circle(page, (143, baseline - 2), 3, 20, -1)
        cv2.line(page, (144, baseline - 2), (139, baseline + 9), 20, 3)
    return page, box


def test_amount_keeps_the_decimal_point():
    page, box = _amount_field(".")
    segments = segment_free(page, box, "amount")
    pattern = "".join("#" if segment.kind == "char" else segment.text for segment in segments)
    assert pattern == "###.##"


def test_amount_tells_a_comma_from_a_point():
    page, box = _amount_field(",")
    pattern = "".join("#" if s.kind == "char" else s.text for s in segment_field(page, box, None, "amount"))
    assert pattern == "###,##"


def test_amount_long_comma_is_a_separator_but_a_one_is_a_digit():
    page, box = _amount_field(".")
    page[40:75, 135:150] = 250  # wipe the point
    baseline = 62
    # A comma with a long tail: about half a digit tall, but it starts at the baseline and hangs below.
    cv2.circle(page, (144, baseline - 2), 3, 20, -1)
    cv2.line(page, (145, baseline - 2), (138, baseline + 14), 20, 3)
    # A short "1" after the last digit: it reaches up into the upper half of the line, so it is a digit.
    cv2.line(page, (245, baseline - 26), (243, baseline), 20, 3)
    pattern = "".join("#" if s.kind == "char" else s.text for s in segment_free(page, box, "amount"))
    assert pattern == "###,###"


def test_amount_keeps_a_decimal_point_smaller_than_noise_but_not_specks():
    page, box = _amount_field(".")
    page[40:75, 135:150] = 250  # wipe the point
    baseline = 62
    page[baseline - 3 : baseline, 141:143] = 20  # a 2x3 pen dot: under the noise size of this field
    page[30:32, 142:143] = 20  # a speck of dirt in the same gap, high above the baseline
    page[baseline - 1 : baseline + 1, 255:257] = 20  # and one on the baseline, but after the last digit
    pattern = "".join("#" if s.kind == "char" else s.text for s in segment_free(page, box, "amount"))
    assert pattern == "###.##"


def test_a_faint_stroke_broken_into_specks_is_still_a_character():
    page, box = _amount_field(".")
    baseline = 62
    # A light 1 the ink threshold broke into short dashes, each under the noise size.
    for top in range(baseline - 34, baseline, 7):
        page[top : top + 3, 245:247] = 20
    page[25:27, 280:282] = 20  # a lone speck stays noise
    pattern = "".join("#" if s.kind == "char" else s.text for s in segment_free(page, box, "digits"))
    assert pattern == "######"
    last = [s for s in segment_free(page, box, "digits") if s.kind == "char"][-1]
    assert last.box[1] <= baseline - 32 and last.box[1] + last.box[3] >= baseline - 4


def test_small_marks_are_not_characters_in_digit_fields():
    page, box = _amount_field(".")
    pattern = "".join("#" if s.kind == "char" else s.text for s in segment_free(page, box, "digits"))
    assert pattern == "#####"


def test_free_field_splits_touching_characters_and_orders_left_to_right():
    page = np.full((90, 330), 250, np.uint8)
    box = (10, 10, 310, 70)
    # Two rings that touch, then a separate bar: three characters.
    cv2.ellipse(page, (60, 45), (12, 17), 0, 0, 360, 20, 3)
    cv2.ellipse(page, (84, 45), (12, 17), 0, 0, 360, 20, 3)
    cv2.line(page, (150, 28), (150, 62), 20, 3)
    segments = segment_field(page, box, None, "digits")  # geometric cuts, no classifier
    assert [segment.kind for segment in segments] == ["char", "char", "char"]
    lefts = [segment.box[0] for segment in segments]
    assert lefts == sorted(lefts)
    assert segments[0].box[2] < 32 and segments[1].box[2] < 32


def test_recognition_picks_the_cuts_of_touching_characters():
    page = np.full((90, 330), 250, np.uint8)
    box = (10, 10, 310, 70)
    cv2.ellipse(page, (60, 45), (12, 17), 0, 0, 360, 20, 3)
    cv2.ellipse(page, (84, 45), (12, 17), 0, 0, 360, 20, 3)
    segments = segment_free(page, box, "digits")
    assert [segment.kind for segment in segments] == ["group"]
    choices = segments[0].choices
    last = choices.column_count - 1
    # A classifier sure of two halves, unsure of the whole blob: the path cuts once, at the contact.
    confidences = {key: 0.2 for key in choices.pieces}
    halves = [(first, end) for first, end in choices.pieces if first == 0 and end != last]
    contact = min(halves, key=lambda key: abs(choices.pieces[key][1][2] - 24))
    confidences[contact] = 0.95
    confidences[(contact[1], last)] = 0.95
    path = best_cut_path(choices, confidences)
    assert path == [0, contact[1], last]
    assert [piece.kind for piece in resolve_group(segments[0], path)] == ["char", "char"]
    # Sure of the whole blob: no cut.
    if (0, last) in choices.pieces:
        assert best_cut_path(choices, dict.fromkeys(choices.pieces, 0.1) | {(0, last): 0.99}) == [0, last]


def test_free_letters_field_finds_word_gaps():
    page = np.full((90, 400), 250, np.uint8)
    box = (10, 10, 380, 70)
    for center in (40, 75, 200, 235):
        cv2.line(page, (center - 8, 62), (center, 28), 20, 3)
        cv2.line(page, (center, 28), (center + 8, 62), 20, 3)
    pattern = "".join("#" if s.kind == "char" else s.text for s in segment_free(page, box, "letters"))
    assert pattern == "## ##"


def test_locate_comb_box_in_a_loose_crop():
    page, box = _comb_page()  # the comb sits 30 px inside the image
    x, y, width, height = locate_comb_box(page, 6)
    assert abs(x - box[0]) <= 1 and abs(y - box[1]) <= 1
    assert abs(width - box[2]) <= 2 and abs(height - box[3]) <= 2
    blank = np.full((50, 200), 250, np.uint8)
    assert locate_comb_box(blank, 5) == (0, 0, 200, 50)


def test_a_stub_cut_off_a_digit_is_not_a_plausible_digit():
    from recognition.engine.fields.reader import piece_plausibility
    from recognition.engine.fields.segment import CutChoices, Segment

    blank = np.zeros((1, 1), np.uint8)
    # A 2 with a long base (40 px tall blob): the whole, the 2 without the base's end, and the end.
    pieces = {
        (0, 2): (blank, (0, 0, 40, 40)),
        (0, 1): (blank, (0, 0, 28, 40)),
        (1, 2): (blank, (28, 30, 12, 6)),
    }
    group = Segment("group", (0, 0, 40, 40), choices=CutChoices(3, pieces, [0, 2]))
    assert piece_plausibility(group, (0, 2), "amount") == 1.0
    assert piece_plausibility(group, (1, 2), "amount") < 0.3
    assert piece_plausibility(group, (1, 2), "letters") == 1.0  # only digit fields know digits' height
    # The classifier is sure of "2" + "1", less of the whole; the stub's shape settles it.
    confidences = {(0, 2): 0.9, (0, 1): 0.999, (1, 2): 0.999}
    assert best_cut_path(group.choices, confidences) == [0, 1, 2]
    weighted = {key: value * piece_plausibility(group, key, "amount") for key, value in confidences.items()}
    assert best_cut_path(group.choices, weighted) == [0, 2]


def _touching_pair_page():
    """A 3-cell comb with a ring in cell 0 and a wide ring leaning from cell 1 over the wall into cell 0,
    touching the first ring: one component wider than 1.35 cells."""
    page, box = _comb_page(cells=3)
    x, y, _, _ = box
    cv2.ellipse(page, (x + 17, y + 25), (9, 15), 0, 0, 360, 20, 3)
    cv2.ellipse(page, (x + 45, y + 25), (19, 15), 0, 0, 360, 20, 3)  # x+26 .. x+64: over the wall
    return page, box


def test_comb_stroke_over_a_wall_becomes_a_group_that_recognition_cuts():
    page, box = _touching_pair_page()
    x = box[0]
    plain = segment_comb(page, box, 3)
    assert [segment.kind for segment in plain] == ["char", "char", "blank"]
    grouped = segment_comb(page, box, 3, keep_groups=True)
    assert [segment.kind for segment in grouped] == ["group", "blank"]
    choices = grouped[0].choices
    # The default path cuts at the wall (what the plain segmentation does) and gives one piece a cell.
    default_pieces = resolve_group(grouped[0], choices.default)
    assert [segment.box for segment in default_pieces] == [segment.box for segment in plain[:2]]
    # Other cuts near the wall are offered: the one reaching furthest left gives cell 1 its whole ring.
    assert len(choices.pieces) > 2
    keys_of_cell_1 = [key for key in choices.pieces if key[1] == choices.column_count - 1]
    widest = max(keys_of_cell_1, key=lambda key: choices.pieces[key][1][2])
    assert choices.pieces[widest][1][0] < x + 40 <= plain[1].box[0]
    # Recognition that trusts that cut picks it: the path goes through the widest piece's column.
    confidences = {key: (0.99 if key == widest or key[1] == widest[0] else 0.3) for key in choices.pieces}
    path = best_cut_path(choices, confidences)
    assert path[1] == widest[0] and len(resolve_group(grouped[0], path)) == 2


def _five_with_a_lifted_bar():
    """An amount field: a 5's body (stem and bowl) with its top bar drawn apart, then a ring."""
    page = np.full((90, 330), 250, np.uint8)
    box = (10, 10, 310, 70)
    cv2.line(page, (52, 28), (50, 44), 20, 3)  # the stem
    cv2.ellipse(page, (60, 52), (11, 10), 0, -150, 150, 20, 3)  # the bowl, open on the left
    cv2.line(page, (68, 27), (86, 26), 20, 3)  # the bar, lifted: it starts past the body's right edge
    cv2.ellipse(page, (110, 45), (11, 17), 0, 0, 360, 20, 3)
    return page, box


def test_a_5s_lifted_bar_joins_its_body_in_digit_fields():
    page, box = _five_with_a_lifted_bar()
    segments = segment_field(page, box, None, "amount")
    assert [segment.kind for segment in segments] == ["char", "char"]
    # The first character reaches from the stem to the end of the bar.
    left, _, width, _ = segments[0].box
    assert left <= 50 and left + width >= 86
    # In a letters field a flat stroke may be a dash or a letter's part: it is left alone.
    assert len(segment_field(page, box, None, "letters")) == 3


def test_alnum_characters_keep_a_faint_stroke_edge_but_not_the_box():
    page, box = _comb_page(cells=3)
    x, y = box[:2]
    # A dark "11" one pixel from the cell's left wall (x + 39..41), and between its strokes a faint
    # one, lighter than the ink threshold, three pixels from the left stroke.
    page[y + 10 : y + 40, x + 43 : x + 46] = 20
    page[y + 10 : y + 40, x + 53 : x + 56] = 20
    page[y + 15 : y + 35, x + 48] = 190
    images = {}
    for kind in ("digits", "alnum"):
        segments = segment_field(page, box, 3, kind)
        assert [segment.kind for segment in segments] == ["blank", "char", "blank"]
        images[kind] = segments[1].image
    # The images start two pixels left and above the ink: column 7 is the faint stroke.
    assert images["digits"].shape == images["alnum"].shape
    assert images["digits"][:, 7].min() == 255
    assert images["alnum"][7:27, 7].max() < 230
    # The wall's last column is in the image, within the wider halo's reach, but kept out of it.
    assert images["alnum"][:, 0].min() == 255
    np.testing.assert_array_equal(images["alnum"][:, :7], images["digits"][:, :7])


def _wide_capital_m_page():
    """A free field with one wide block capital M, about 1.1 times as wide as tall, and a narrow I."""
    page = np.full((90, 300), 250, np.uint8)
    box = (10, 10, 280, 70)
    top, bottom, left, right = 22, 62, 40, 83  # ink 43 tall, 46 wide
    middle = (left + right) // 2
    for start, end in (((left, bottom), (left, top)), ((left, top), (middle, bottom - 12))):
        cv2.line(page, start, end, 20, 3)
    for start, end in (((middle, bottom - 12), (right, top)), ((right, top), (right, bottom))):
        cv2.line(page, start, end, 20, 3)
    cv2.line(page, (100, top), (100, bottom), 20, 3)
    return page, box


def test_a_wide_capital_stays_whole_in_letter_fields_but_may_be_cut_in_digit_fields():
    page, box = _wide_capital_m_page()
    letters = segment_free(page, box, "letters")
    assert [segment.kind for segment in letters] == ["char", "char"]
    assert 44 <= letters[0].box[2] <= 49  # the whole M, not its strokes
    # Digits are narrower: a blob as wide as that is offered to recognition as touching characters.
    digits = segment_free(page, box, "digits")
    assert [segment.kind for segment in digits] == ["group", "char"]
