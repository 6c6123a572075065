"""CTC decoding in NumPy: greedy and beam search on known matrices, alignment, the kind's projection."""

import numpy as np
import pytest

from recognition.engine.sequences.charset import CLASS_OF, NUM_CLASSES, kept_text, kind_projection
from recognition.engine.sequences.decode import align, beam_search, greedy, kind_probabilities

ALPHABET = "ab"


def test_greedy_merges_repeats_and_drops_blanks():
    # Columns: a a blank a b b -> "aab"
    best = [1, 1, 0, 1, 2, 2]
    probabilities = np.full((6, 3), 0.05)
    probabilities[np.arange(6), best] = 0.9
    assert greedy(probabilities, ALPHABET) == "aab"


def test_beam_search_sums_the_paths_of_a_reading():
    # Two columns. The best single path is "blank blank" (0.6 * 0.6 = 0.36: empty reading), but the
    # reading "a" has the paths a-a, a-blank, blank-a: 0.16 + 0.24 + 0.24 = 0.64.
    probabilities = np.array([[0.6, 0.4, 0.0], [0.6, 0.4, 0.0]])
    readings = dict(beam_search(probabilities, ALPHABET, beam_width=5))
    assert readings["a"] == pytest.approx(0.64)
    assert readings[""] == pytest.approx(0.36)
    assert beam_search(probabilities, ALPHABET)[0][0] == "a"


def test_beam_search_needs_a_blank_between_repeated_characters():
    probabilities = np.array([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    assert beam_search(probabilities, ALPHABET)[0] == ("a", pytest.approx(1.0))
    probabilities = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    assert beam_search(probabilities, ALPHABET)[0] == ("aa", pytest.approx(1.0))


def test_align_gives_each_character_its_columns():
    best = [0, 1, 1, 0, 2, 0]
    probabilities = np.full((6, 3), 0.01)
    probabilities[np.arange(6), best] = 0.98
    assert align(probabilities, ALPHABET, "ab") == [(1, 2), (4, 4)]
    with pytest.raises(ValueError):
        align(probabilities[:1], ALPHABET, "ab")


def test_a_letters_field_folds_lower_case_into_capitals_and_drops_digits():
    probabilities = np.zeros((1, NUM_CLASSES))
    probabilities[0, CLASS_OF["a"]] = 0.3
    probabilities[0, CLASS_OF["A"]] = 0.2
    probabilities[0, CLASS_OF["4"]] = 0.5
    projected = kind_probabilities(probabilities, "letters")
    assert projected.shape == (1, kind_projection("letters").shape[1])
    # "A" holds a + A (0.5) of the 0.5 that the kind allows: all of it once renormalised.
    assert projected[0, 1 + "ABCDEFGHIJKLMNOPQRSTUVWXYZ".index("A")] == pytest.approx(1.0)


def test_an_amount_reads_its_marks_but_keeps_only_digits_and_separators():
    assert kept_text("amount", "₹1,00,000/-") == "1,00,000"
    assert kept_text("date", "15/03/2016") == "15032016"
    with pytest.raises(ValueError):
        kind_projection("cursive")
