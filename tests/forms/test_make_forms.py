"""The benchmark's handwriting sources: which writers' digits a generated page is written with."""

import numpy as np
import pytest

from bench.make_forms import FEMNIST_DIR, load_handwriting
from recognition.engine.characters.datasets import load_femnist_dev, split_by_writer


def test_nist_digits_come_from_the_femnist_writers_of_the_split_only():
    femnist = load_femnist_dev(FEMNIST_DIR)
    _, held_out = split_by_writer(femnist.writers, 0.2, 0)
    handwriting = load_handwriting(split="bench", digits="nist")
    assert handwriting.source == "femnist-dev digits and capitals (bench)"
    for digit in range(10):
        expected = femnist.images[held_out & (femnist.labels == digit)]
        np.testing.assert_array_equal(handwriting.by_char[str(digit)], expected)
    # Capitals come from the same writers whichever digits are asked for.
    np.testing.assert_array_equal(
        handwriting.by_char["A"], femnist.images[held_out & (femnist.labels == femnist.classes.index("A"))]
    )


def test_an_unknown_digit_source_is_refused():
    with pytest.raises(ValueError, match="mnist' or 'nist"):
        load_handwriting(split="bench", digits="emnist")
