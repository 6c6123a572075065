"""The touching-pair reader of free digit fields: its answer, the cut, and how the form reader uses it."""

import json
import shutil

import cv2
import numpy as np
import pytest

from recognition.engine.characters.pairs import (
    MIN_PAIR_ASPECT,
    PAIR_CLASSES,
    PAIR_THRESHOLD,
    is_pair,
    pair_label,
    pair_probability,
    read_pair,
)
from recognition.engine.fields.segment import Segment, split_in_two
from recognition.engine.pages.templates import FieldSpec


def _pair_output(pairs: dict[str, float], singles: dict[str, float] | None = None) -> np.ndarray:
    row = np.zeros(len(PAIR_CLASSES))
    for name, probability in {**(singles or {}), **pairs}.items():
        row[PAIR_CLASSES.index(name)] = probability
    return row


def test_a_sure_pair_becomes_two_digits_with_their_own_confidences():
    first, second = read_pair(_pair_output({"66": 0.90, "56": 0.06}, {"6": 0.04}))
    assert (first.label, second.label) == ("6", "6")
    # The first place is 6 in both pairs (0.96 together), the second is 6 in both too.
    assert first.confidence == pytest.approx(0.90) and second.confidence == pytest.approx(0.96)
    assert first.alternatives[0] == ("5", pytest.approx(0.06))
    assert len(first.alternatives) == 3


def test_the_digits_model_reading_the_halves_settles_a_torn_pair_reader():
    row = _pair_output({"32": 0.50, "92": 0.45}, {"3": 0.05})
    left, right = np.full(10, 0.01), np.full(10, 0.01)
    left[9], right[2] = 0.91, 0.91
    first, second = read_pair(row, (left, right))
    assert (first.label, second.label) == ("9", "2")
    # Scaled back to the pair reader's total: the pair is as likely as before, its digits are not.
    assert first.confidence + first.alternatives[0][1] == pytest.approx(0.95, abs=1e-3)
    assert first.alternatives[0][0] == "3" and first.confidence > 0.9
    assert read_pair(row)[0].label == "3"  # without the halves the pair reader's own best


def test_a_single_digit_or_an_unsure_pair_is_left_alone():
    assert read_pair(_pair_output({}, {"6": 0.99, "0": 0.01})) is None
    below = PAIR_THRESHOLD - 0.01
    assert read_pair(_pair_output({"17": below}, {"4": 1 - below})) is None
    assert not is_pair(_pair_output({"17": below}, {"4": 1 - below}))
    assert is_pair(_pair_output({"17": PAIR_THRESHOLD}, {"4": 1 - PAIR_THRESHOLD}))
    with pytest.raises(ValueError, match="110"):
        read_pair(np.ones(10) / 10)
    assert PAIR_CLASSES[pair_label(1, 7)] == "17" and PAIR_CLASSES[:10] == list("0123456789")
    # For a batch, one pair probability per character.
    batch = np.stack([_pair_output({"17": 0.95}, {"4": 0.05}), _pair_output({}, {"4": 1.0})])
    np.testing.assert_allclose(pair_probability(batch), [0.95, 0.0])
    with pytest.raises(ValueError, match="110"):
        is_pair(batch)


def _blob_image(width: int, joint: int) -> np.ndarray:
    """Two rings touching at column `joint` (dark on white), as a free field's character image."""
    image = np.full((44, width), 255, np.uint8)
    cv2.ellipse(image, (joint // 2 + 1, 22), (joint // 2 - 2, 18), 0, 0, 360, 0, 3)
    cv2.ellipse(image, ((joint + width) // 2, 22), ((width - joint) // 2 - 3, 18), 0, 0, 360, 0, 3)
    cv2.line(image, (joint - 3, 22), (joint + 3, 22), 0, 3)
    return image


def test_split_in_two_cuts_where_the_characters_touch():
    image = _blob_image(64, 30)
    segment = Segment("char", (100, 50, 60, 40), image)
    left, right = split_in_two(segment)
    assert left.kind == right.kind == "char"
    # The boxes share the segment's row and height and meet at the joint, a little left of the middle.
    assert left.box[0] == 100 and right.box[0] + right.box[2] == 160
    assert left.box[1] == right.box[1] == 50 and left.box[3] == right.box[3] == 40
    assert left.box[0] + left.box[2] == right.box[0]
    assert 118 <= right.box[0] <= 130
    # Each image holds one ring: the ink of the other side is gone.
    assert (left.image < 128).any() and (right.image < 128).any()
    assert (left.image < 128).sum() + (right.image < 128).sum() == (image < 128).sum()
    with pytest.raises(ValueError, match="character"):
        split_in_two(Segment("blank", (0, 0, 10, 10)))
    # Faint ink with one dark column: nothing to cut between, the character stays whole.
    faint = np.full((40, 30), 200, np.uint8)
    faint[5:35, 14] = 0
    assert split_in_two(Segment("char", (0, 0, 30, 40), faint)) is None


def _constant_pair_reader(model_dir, pair: str) -> None:
    """A pair-reader version whose answer is `pair` for every image (a real model file, fixed weights)."""
    import keras

    inputs = keras.Input(shape=(28, 28, 1))
    dense = keras.layers.Dense(len(PAIR_CLASSES))
    outputs = keras.layers.Softmax()(dense(keras.layers.Flatten()(inputs)))
    model = keras.Model(inputs, outputs)
    bias = np.zeros(len(PAIR_CLASSES), np.float32)
    bias[PAIR_CLASSES.index(pair)] = 20.0
    dense.set_weights([np.zeros((28 * 28, len(PAIR_CLASSES)), np.float32), bias])
    version_dir = model_dir / "digit-pairs" / "1"
    version_dir.mkdir(parents=True)
    model.save(version_dir / "model.keras")
    (version_dir / "card.json").write_text(
        json.dumps({"kind": "digit-pairs", "version": "1", "classes": PAIR_CLASSES})
    )


@pytest.mark.slow
def test_free_amount_characters_the_pair_reader_is_sure_of_are_cut_in_two(tmp_path, digits_model_dir):
    from recognition.engine.characters.classify import clear_cache
    from recognition.engine.fields.reader import FormReader

    # One wide blob (two rings, as wide as tall) and one narrow bar (a 1) in a free amount box.
    page = np.full((120, 400), 250, np.uint8)
    page[10:70, 10:230] = 255
    page[20:64, 30:74] = np.minimum(page[20:64, 30:74], _blob_image(44, 21))
    cv2.line(page, (110, 22), (110, 62), 0, 4)
    amount = FieldSpec("amount", "amount", (10, 10, 220, 60), None)
    with_pairs, without = tmp_path / "with", tmp_path / "without"
    for folder in (with_pairs, without):
        folder.mkdir()
        (folder / "digits").symlink_to(digits_model_dir / "digits")
    # The blob's halves are rings, which the digits model reads as 0 too (read_pair weighs both).
    _constant_pair_reader(with_pairs, "00")
    clear_cache()
    results, names = FormReader(with_pairs).read_fields(page, [amount])
    chars = results[0]["chars"]
    assert [char["text"] for char in chars[:2]] == ["0", "0"]
    assert len(chars) == 3 and names[-1] == "digit-pairs@1"
    assert chars[0]["confidence"] == pytest.approx(1.0, abs=1e-3)
    # The two boxes split the blob's box; the bar (narrower than MIN_PAIR_ASPECT) stays one character.
    assert chars[0]["box"][0] + chars[0]["box"][2] == chars[1]["box"][0]
    assert chars[0]["box"][0] >= 30 and chars[1]["box"][0] + chars[1]["box"][2] <= 76
    assert chars[2]["box"][2] < MIN_PAIR_ASPECT * chars[2]["box"][3]
    results, names = FormReader(without).read_fields(page, [amount])
    assert len(results[0]["chars"]) == 2 and not any(name.startswith("digit-pairs") for name in names)
    # A pair-reader folder whose version lost its card is a broken install: an error, not a silent
    # reading without it.
    broken = tmp_path / "broken"
    shutil.copytree(with_pairs, broken, symlinks=True)
    (broken / "digit-pairs" / "1" / "card.json").unlink()
    with pytest.raises(FileNotFoundError, match="card.json"):
        FormReader(broken).read_fields(page, [amount])
