"""Touching digits in free fields: the classes of the pair reader and how its answer becomes two characters.

A free field (a check's courtesy amount) is written without boxes, and two digits written close
together reach the reader as one blob. When the blob is no wider than one wide digit (a "66" is
about as wide as it is tall) the segmentation has no reason to cut it, and the digits model, which
has only single digits to choose from, reads it as one sure digit: the amount loses a character.
The pair reader is a second classifier with a class for each single digit and for each of the 100
ordered pairs of touching digits, trained on single digits and on pairs made by
preprocess.touching_pair. It looks only at the characters of free digit fields; when it is sure
enough that one is a pair, the character is cut in two and the pair's digits replace it.
"""

from __future__ import annotations

import numpy as np

from recognition.engine.characters.datasets import DIGIT_CLASSES

PAIR_KIND = "digit-pairs"
PAIR_CLASSES = list(DIGIT_CLASSES) + [first + second for first in DIGIT_CLASSES for second in DIGIT_CLASSES]
SINGLE_COUNT = len(DIGIT_CLASSES)
# How sure the pair reader must be that a character is two touching digits before it is cut in two.
PAIR_THRESHOLD = 0.9
# Characters narrower than this share of their height are not offered to the pair reader: two
# touching digits are seldom narrower, and the narrow single digits (1, 7) are the ones it could
# take for a pair of 1s.
MIN_PAIR_ASPECT = 0.5


def pair_label(first, second):
    """The class index of the pair of digit indices (first, second); elementwise for arrays."""
    return SINGLE_COUNT + SINGLE_COUNT * first + second


def _checked(probabilities: np.ndarray, one_character: bool = False) -> np.ndarray:
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.shape[-1:] != (len(PAIR_CLASSES),) or (one_character and probabilities.ndim != 1):
        raise ValueError(f"expected {len(PAIR_CLASSES)} pair-reader probabilities, got {probabilities.shape}")
    return probabilities


def pair_probability(probabilities: np.ndarray) -> np.ndarray:
    """How likely the pair reader finds a character to be two touching digits: its pair outputs
    summed (the last axis holds the 110 outputs; one value per character)."""
    return _checked(probabilities)[..., SINGLE_COUNT:].sum(axis=-1)


def is_pair(probabilities: np.ndarray, threshold: float = PAIR_THRESHOLD) -> bool:
    """Whether the pair reader is sure enough that one character is two touching digits."""
    return bool(pair_probability(_checked(probabilities, one_character=True)) >= threshold)


def read_pair(
    probabilities: np.ndarray,
    halves: tuple[np.ndarray, np.ndarray] | None = None,
    threshold: float = PAIR_THRESHOLD,
    alternatives: int = 3,
):
    """The two digits a character is, from the pair reader's output, or None when it is one digit.

    halves: the digits model's probabilities for the character's left and right half once cut in
    two. The pair reader saw the two digits squeezed into one frame, the digits model sees each at
    full size; each pair is weighted by how the digits model reads the halves (a product of the
    two experts, scaled back to the pair reader's total), which settles a pair reader torn between
    `32` and `92` when the left half is a clear 9.

    Each digit's confidence is the probability that the character is a pair with that digit in
    that place (the pair probabilities summed over the other place); the alternatives are the other
    digits for that place, best first.
    """
    from recognition.engine.characters.classify import CharPrediction

    probabilities = _checked(probabilities, one_character=True)
    if not is_pair(probabilities, threshold):
        return None
    pairs = probabilities[SINGLE_COUNT:].reshape(SINGLE_COUNT, SINGLE_COUNT)
    total = pairs.sum()
    if halves is not None:
        joint = pairs * np.outer(np.asarray(halves[0], np.float64), np.asarray(halves[1], np.float64))
        if joint.sum() > 0:
            pairs = joint * (total / joint.sum())
    predictions = []
    for marginal in (pairs.sum(axis=1), pairs.sum(axis=0)):
        order = np.argsort(-marginal)
        predictions.append(
            CharPrediction(
                label=DIGIT_CLASSES[order[0]],
                confidence=float(marginal[order[0]]),
                alternatives=[
                    (DIGIT_CLASSES[index], float(marginal[index])) for index in order[1 : alternatives + 1]
                ],
            )
        )
    return predictions
