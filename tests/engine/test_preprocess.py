"""Invariants of the one preprocessing path: polarity, crop, 20x20 fit, centring by mass, augmentation."""

import numpy as np
import pytest

from recognition.engine.characters.preprocess import (
    augment_batch,
    character_fragment,
    elastic_distortion,
    form_artifacts,
    ink_is_dark,
    prepare_batch,
    prepare_character,
    scanned_stroke,
)


def dark_seven_on_paper(height=120, width=90, stroke=6):
    """A '7' drawn in dark ink on light paper, off-centre, on a canvas of the given size."""
    image = np.full((height, width), 235, dtype=np.uint8)
    top, left = height // 6, width // 5
    image[top : top + stroke, left : left + width // 2] = 20
    for row in range(top, top + height // 2):
        column = left + width // 2 - (row - top) // 3
        image[row, column - stroke // 2 : column + stroke // 2] = 20
    return image


def centre_of_mass(image):
    rows, columns = np.indices(image.shape)
    mass = image.sum()
    return (rows * image).sum() / mass, (columns * image).sum() / mass


def test_output_is_28x28_float_in_unit_range():
    prepared = prepare_character(dark_seven_on_paper())
    assert prepared.shape == (28, 28) and prepared.dtype == np.float32
    assert prepared.min() >= 0.0 and prepared.max() == pytest.approx(1.0)


def test_polarity_is_detected_and_both_polarities_give_the_same_input():
    dark_on_light = dark_seven_on_paper()
    light_on_dark = 255 - dark_on_light
    assert ink_is_dark(dark_on_light) and not ink_is_dark(light_on_dark)
    np.testing.assert_allclose(prepare_character(dark_on_light), prepare_character(light_on_dark), atol=1e-5)
    # Ink becomes bright: the corners (paper) are black.
    prepared = prepare_character(dark_on_light)
    assert prepared[0, 0] == 0.0 and prepared[-1, -1] == 0.0


@pytest.mark.parametrize("shape", [(120, 90), (28, 28), (400, 250), (15, 40)])
def test_any_size_is_fitted_into_20x20_and_centred_by_mass(shape):
    prepared = prepare_character(dark_seven_on_paper(*shape, stroke=max(2, min(shape) // 12)))
    rows, columns = np.nonzero(prepared > 0.05)
    longest_side = max(rows.max() - rows.min() + 1, columns.max() - columns.min() + 1)
    # The long side fills the 20-pixel box (one extra pixel of interpolation blur either side allowed).
    assert 19 <= longest_side <= 22
    row_centre, column_centre = centre_of_mass(prepared)
    assert abs(row_centre - 13.5) < 0.75 and abs(column_centre - 13.5) < 0.75


def test_off_centre_character_moves_to_the_middle():
    image = np.zeros((60, 60), dtype=np.uint8)
    image[5:25, 40:46] = 255  # a short bar in the top right corner
    row_centre, column_centre = centre_of_mass(prepare_character(image))
    assert abs(row_centre - 13.5) < 0.75 and abs(column_centre - 13.5) < 0.75


def test_blank_and_tiny_inputs():
    assert prepare_character(np.full((30, 30), 200, dtype=np.uint8)).max() == 0.0
    single = prepare_character(np.array([[0, 0, 0], [0, 255, 0], [0, 0, 0]], dtype=np.uint8))
    assert single.shape == (28, 28) and single.max() > 0
    with pytest.raises(ValueError):
        prepare_character(np.zeros((0, 5), dtype=np.uint8))
    with pytest.raises(ValueError):
        prepare_character(np.zeros((2, 3, 4, 5), dtype=np.uint8))


def test_prepare_batch_stacks_characters():
    batch = prepare_batch([dark_seven_on_paper(), 255 - dark_seven_on_paper(50, 40, 3)])
    assert batch.shape == (2, 28, 28, 1) and batch.dtype == np.float32


def test_augmentation_changes_images_but_never_mirrors_them():
    # An 'L' is asymmetric: a mirrored copy would match its own mirror better than the original.
    letter = np.zeros((28, 28), dtype=np.float32)
    letter[4:24, 8:12] = 1.0
    letter[20:24, 8:20] = 1.0
    batch = np.repeat(letter[None, :, :, None], 200, axis=0)
    augmented = augment_batch(batch, np.random.default_rng(0))[..., 0]
    assert augmented.shape == (200, 28, 28) and augmented.min() >= 0 and augmented.max() <= 1
    assert not np.allclose(augmented, letter)
    mirrored = letter[:, ::-1]
    same = (augmented * letter).sum(axis=(1, 2))
    flipped = (augmented * mirrored).sum(axis=(1, 2))
    assert (same > flipped).all()


def test_form_artifacts_damage_like_a_box_and_keep_the_framing():
    seven = prepare_character(dark_seven_on_paper())
    changed = 0
    for seed in range(30):
        damaged = form_artifacts(seven, np.random.default_rng(seed))
        assert damaged.shape == (28, 28) and damaged.dtype == np.float32
        assert damaged.min() >= 0.0 and damaged.max() <= 1.0
        # Prepared again: the damaged character is centred by mass like any input.
        row, column = centre_of_mass(damaged)
        assert abs(row - 13.5) < 1.5 and abs(column - 13.5) < 1.5
        changed += not np.allclose(damaged, seven, atol=0.05)
    assert changed >= 25
    again = form_artifacts(seven, np.random.default_rng(3))
    np.testing.assert_array_equal(again, form_artifacts(seven, np.random.default_rng(3)))


def test_a_fragment_is_one_side_of_a_wide_character_and_narrow_ones_are_not_cut():
    # A "U": two strokes joined at the bottom, as wide as tall.
    u_shape = np.full((100, 100), 235, dtype=np.uint8)
    u_shape[10:90, 10:22] = 20
    u_shape[10:90, 78:90] = 20
    u_shape[78:90, 10:90] = 20
    prepared = prepare_character(u_shape)
    sides = set()
    for seed in range(20):
        fragment = character_fragment(prepared, np.random.default_rng(seed))
        assert fragment.shape == (28, 28) and fragment.min() >= 0.0 and fragment.max() <= 1.0
        assert not np.allclose(fragment, prepared, atol=0.1)
        # Prepared again: narrower than the U (one stroke and part of the bottom).
        columns = np.flatnonzero(fragment.max(axis=0) > 0.2)
        rows = np.flatnonzero(fragment.max(axis=1) > 0.2)
        assert columns[-1] - columns[0] < 0.9 * (rows[-1] - rows[0])
        sides.add(int(fragment[:, :14].sum() > fragment[:, 14:].sum()))
    assert sides == {0, 1}  # the bottom's hook points right on a left side and left on a right side
    one = np.full((100, 100), 235, dtype=np.uint8)
    one[10:90, 45:55] = 20
    assert character_fragment(prepare_character(one), np.random.default_rng(0)) is None
    assert character_fragment(np.zeros((28, 28), np.float32), np.random.default_rng(0)) is None


@pytest.mark.parametrize("option", ["artifact_probability", "elastic_probability", "scan_probability"])
def test_each_optional_augmentation_changes_nothing_at_zero_and_every_image_at_one(option):
    batch = np.repeat(prepare_character(dark_seven_on_paper())[None, :, :, None], 8, axis=0)
    plain = augment_batch(batch, np.random.default_rng(5))
    same = augment_batch(batch, np.random.default_rng(5), **{option: 0.0})
    np.testing.assert_array_equal(plain, same)
    changed = augment_batch(batch, np.random.default_rng(5), **{option: 1.0})
    assert not np.allclose(changed, plain)


def test_elastic_distortion_bends_strokes_locally_and_keeps_the_character():
    seven = prepare_character(dark_seven_on_paper())
    bent = [elastic_distortion(seven, np.random.default_rng(seed)) for seed in range(20)]
    for image in bent:
        assert image.shape == (28, 28) and image.dtype == np.float32
        # Pixels move a little and together: stretched or squeezed strokes, near where they were.
        assert 0.6 < image.sum() / seven.sum() < 1.6
        row, column = centre_of_mass(image)
        assert abs(row - 13.5) < 2.5 and abs(column - 13.5) < 2.5
    moved = [np.abs(image - seven).sum() / seven.sum() for image in bent]
    assert min(moved) > 0.05  # every copy differs from the original
    again = elastic_distortion(seven, np.random.default_rng(4))
    np.testing.assert_array_equal(again, elastic_distortion(seven, np.random.default_rng(4)))


def test_scanned_stroke_blurs_and_bolds_the_character_and_prepares_it_again():
    seven = prepare_character(dark_seven_on_paper())
    inked = (seven > 0.05).sum()
    for seed in range(10):
        scanned = scanned_stroke(seven, np.random.default_rng(seed))
        assert scanned.shape == (28, 28) and scanned.dtype == np.float32
        assert scanned.max() == pytest.approx(1.0)
        # Solid ink blurred by the scan covers more of the frame, and it is centred again.
        assert (scanned > 0.05).sum() > 1.15 * inked
        row, column = centre_of_mass(scanned)
        assert abs(row - 13.5) < 0.5 and abs(column - 13.5) < 0.5
    np.testing.assert_array_equal(
        scanned_stroke(seven, np.random.default_rng(4)), scanned_stroke(seven, np.random.default_rng(4))
    )
    np.testing.assert_array_equal(scanned_stroke(np.zeros((28, 28), np.float32), np.random.default_rng(0)), 0)
