"""CTC beam search restricted to the words of a vocabulary, on hand-made probability matrices."""

import numpy as np
import pytest

from recognition.engine.sequences.decode import beam_search, lexicon_beam_search

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ "
WORDS = ("FIVE", "FIFTY", "FOUR", "THOUSAND", "THREE", "LAKH", "ONLY")


def _matrix(columns):
    """(T, 1 + len(ALPHABET)) probabilities from columns of {character or "" (blank): probability};
    what a column leaves is spread over the other classes."""
    matrix = np.zeros((len(columns), 1 + len(ALPHABET)))
    for row, column in enumerate(columns):
        for character, probability in column.items():
            matrix[row, 0 if character == "" else ALPHABET.index(character) + 1] = probability
        rest = 1.0 - matrix[row].sum()
        empty = matrix[row] == 0
        matrix[row, empty] = rest / empty.sum()
    return matrix


def _spelled(text, *, sure=0.9, blank=0.9):
    """One column per character (then one blank column), each sure of its character."""
    columns = []
    for character in text:
        columns += [{character: sure}, {"": blank}]
    return columns


def _ctc_probability(matrix, text):
    """The exact CTC probability of a labelling (forward algorithm), to check the search against."""
    labels = [ALPHABET.index(character) + 1 for character in text]
    states = [0]
    for label in labels:
        states += [label, 0]
    alpha = np.zeros(len(states))
    alpha[0], alpha[1] = matrix[0, 0], matrix[0, states[1]]
    for row in matrix[1:]:
        previous = alpha.copy()
        for state, label in enumerate(states):
            total = previous[state] + (previous[state - 1] if state >= 1 else 0.0)
            if state >= 2 and label != 0 and label != states[state - 2]:
                total += previous[state - 2]
            alpha[state] = total * row[label]
    return alpha[-1] + alpha[-2]


def test_a_near_miss_is_read_as_the_vocabulary_word():
    # The model is surer of FIVF than of FIVE; FIVF is no word, so the search reads FIVE.
    columns = _spelled("FIV") + [{"F": 0.6, "E": 0.3}, {"": 0.9}]
    matrix = _matrix(columns)
    assert beam_search(matrix, ALPHABET)[0][0] == "FIVF"
    readings = lexicon_beam_search(matrix, ALPHABET, WORDS)
    assert readings[0][0] == "FIVE"
    assert readings[0][1] == pytest.approx(_ctc_probability(matrix, "FIVE"), rel=1e-6)


def test_words_run_together_with_a_weak_space_come_out_as_two_words():
    # FOUR and THOUSAND written with no gap: the space is barely seen between R and T.
    columns = _spelled("FOUR") + [{"": 0.97, " ": 0.02}] + _spelled("THOUSAND")
    matrix = _matrix(columns)
    assert beam_search(matrix, ALPHABET)[0][0] == "FOURTHOUSAND"
    readings = lexicon_beam_search(matrix, ALPHABET, WORDS)
    assert readings[0][0] == "FOUR THOUSAND"
    assert readings[0][1] == pytest.approx(_ctc_probability(matrix, "FOUR THOUSAND"), rel=1e-3)


def test_a_doubled_letter_needs_its_blank():
    matrix = _matrix(_spelled("THREE"))
    readings = lexicon_beam_search(matrix, ALPHABET, WORDS)
    assert readings[0][0] == "THREE"
    assert readings[0][1] == pytest.approx(_ctc_probability(matrix, "THREE"), rel=1e-6)


def test_nothing_fits_gives_no_reading():
    matrix = _matrix(_spelled("FIVE"))
    assert lexicon_beam_search(matrix, ALPHABET, ()) == []
    # THOUSAND has 8 letters: it cannot be read in 3 columns, and no other word is offered.
    assert lexicon_beam_search(matrix[:3], ALPHABET, ("THOUSAND",)) == []
    # A vocabulary spelled in characters the alphabet lacks fits nothing either.
    assert lexicon_beam_search(matrix, ALPHABET, ("five",)) == []


def test_readings_are_sorted_and_made_of_vocabulary_words():
    rng = np.random.default_rng(7)
    columns = _spelled("FIFTY") + [{" ": 0.5, "": 0.5}] + _spelled("LAKH") + [{" ": 0.4}] + _spelled("ONLY")
    matrix = _matrix(columns) + rng.uniform(0, 0.05, (len(columns), 1 + len(ALPHABET)))
    matrix /= matrix.sum(axis=1, keepdims=True)
    readings = lexicon_beam_search(matrix, ALPHABET, WORDS)
    assert readings[0][0] == "FIFTY LAKH ONLY"
    assert len(readings) > 1
    probabilities = [probability for _, probability in readings]
    assert probabilities == sorted(probabilities, reverse=True)
    assert all(0 < probability <= 1 for probability in probabilities)
    for text, _ in readings:
        assert text.split(" ") and all(word in WORDS for word in text.split(" ")), text
        assert "  " not in text and text == text.strip()
