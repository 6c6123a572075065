"""The reader's characters, and each field kind's alphabet as a mapping of the model's classes."""

from __future__ import annotations

import numpy as np

DIGITS = "0123456789"
UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
LOWER = UPPER.lower()
GERMAN = "ÄÖÜäöüß"
PUNCTUATION = " .,-/'=:&()+#₹$"
# Class 0 is the CTC blank; character i of CHARSET is class i + 1.
CHARSET = DIGITS + UPPER + LOWER + GERMAN + PUNCTUATION
BLANK = 0
NUM_CLASSES = len(CHARSET) + 1
CLASS_OF = {character: index + 1 for index, character in enumerate(CHARSET)}

# Marks that real check amounts carry and their labels leave out (ORAND-CAR-A: digits only).
AMOUNT_MARKS = ".,-/=$₹"

# What each field kind may read. Characters outside it are folded into a reading it allows (a lower
# case letter into its capital), and what cannot be folded is taken out before decoding, so the
# beam only ever holds readings the kind allows. `kept` is what the final text keeps: an amount's
# trailing `/-` or currency sign is read, so it is never taken for a digit, then left out.
READ_ALPHABETS = {
    "digits": {"read": DIGITS, "kept": DIGITS},
    "date": {"read": DIGITS + "./-", "kept": DIGITS},
    "amount": {"read": DIGITS + ".,-/=$₹", "kept": DIGITS + ".,"},
    "letters": {"read": UPPER + " -'.", "kept": UPPER + " -'."},
    "alnum": {"read": DIGITS + UPPER + " ", "kept": DIGITS + UPPER + " "},
    "text": {"read": CHARSET, "kept": CHARSET},
}
FOLDS = {
    **{lower: lower.upper() for lower in LOWER},
    "Ä": "A",
    "Ö": "O",
    "Ü": "U",
    "ä": "A",
    "ö": "O",
    "ü": "U",
}


def encode(text: str) -> list[int]:
    """Class indices of text; ValueError for a character the reader does not know."""
    unknown = sorted({character for character in text if character not in CLASS_OF})
    if unknown:
        raise ValueError(f"characters outside the reader's alphabet: {''.join(unknown)!r}")
    return [CLASS_OF[character] for character in text]


def kind_alphabet(kind: str) -> str:
    """The characters a field kind reads (before `kept` filtering); ValueError for an unknown kind."""
    if kind not in READ_ALPHABETS:
        raise ValueError(f"unknown field kind {kind!r}; expected one of {', '.join(READ_ALPHABETS)}")
    return READ_ALPHABETS[kind]["read"]


def kind_projection(kind: str) -> np.ndarray:
    """A (NUM_CLASSES, 1 + len(alphabet)) 0/1 matrix: model probabilities @ it = the kind's probabilities.

    Column 0 is the blank. A model class maps to the kind's character it is, or the one it folds into;
    a class with neither maps nowhere, and its mass is dropped (the caller renormalises).
    """
    alphabet = kind_alphabet(kind)
    projection = np.zeros((NUM_CLASSES, 1 + len(alphabet)), dtype=np.float32)
    projection[BLANK, 0] = 1.0
    for character, model_class in CLASS_OF.items():
        target = character if character in alphabet else FOLDS.get(character)
        if target is not None and target in alphabet:
            projection[model_class, 1 + alphabet.index(target)] = 1.0
    return projection


def kept_text(kind: str, text: str) -> str:
    """The part of a decoded reading a kind keeps as its text."""
    kept = READ_ALPHABETS[kind]["kept"]
    return "".join(character for character in text if character in kept)
