"""Field rules (real dates, well-formed amounts) and the assembly of one field's result."""

from __future__ import annotations

import datetime
import re

from recognition.engine.segment import Segment
from recognition.engine.templates import KIND_ALPHABETS, FieldSpec

# A field that breaks its rule keeps its text (a reviewer sees what was read) but its confidence is
# capped, so it sorts among the doubtful fields.
RULE_CONFIDENCE_CAP = 0.3
SEPARATOR_CONFIDENCE = 0.9
AMOUNT_PATTERN = re.compile(r"\d+([.,]\d+)?")
GROUPED_AMOUNT_PATTERN = re.compile(r"\d{1,3}([.,]\d{3})+([.,]\d{1,2})?")


def check_date(text: str) -> list[str]:
    """Why text is not a real DDMMYYYY date; [] when it is (or when the field is empty)."""
    if not text:
        return []
    if len(text) != 8 or not text.isdigit():
        return [f"a date needs 8 digits DDMMYYYY, read {len(text)} characters {text!r}"]
    day, month, year = int(text[:2]), int(text[2:4]), int(text[4:])
    try:
        datetime.date(year, month, day)
    except ValueError as error:
        return [f"{text[:2]}/{text[2:4]}/{text[4:]} is not a real date ({error})"]
    return []


def check_amount(text: str) -> list[str]:
    """Why text is not a well-formed amount (digits, one optional decimal separator); [] when it is."""
    if not text:
        return []
    if AMOUNT_PATTERN.fullmatch(text) or GROUPED_AMOUNT_PATTERN.fullmatch(text):
        return []
    return [f"{text!r} is not a well-formed amount (digits with at most one decimal separator)"]


def check_field(kind: str, text: str) -> list[str]:
    """The rule of a field kind applied to its text; the reasons it fails, [] when it passes."""
    if kind == "date":
        return check_date(text)
    if kind == "amount":
        return check_amount(text)
    return []


def restrict_to_alphabet(label: str, confidence: float, alternatives: list, alphabet: str):
    """The best (label, confidence, alternatives) among characters the field kind allows.

    A model may know more classes than a field allows (alnum letters in a digits field, say); the best
    allowed alternative wins and the rest keep their order.
    """
    ranked = [(label, confidence)] + [
        (alt_label, alt_confidence) for alt_label, alt_confidence in alternatives
    ]
    allowed = [(name.upper(), probability) for name, probability in ranked if name.upper() in alphabet]
    if not allowed:
        return label, confidence, alternatives
    return allowed[0][0], allowed[0][1], allowed[1:]


def field_result(spec: FieldSpec, segments: list[Segment], predictions: list) -> dict:
    """The result entry of one field (format hwr-form-result/1) from its segments and the predictions of
    its 'char' segments, in order. Blank cells are left out; separators and spaces are characters."""
    alphabet = KIND_ALPHABETS[spec.kind]
    chars = []
    prediction_iterator = iter(predictions)
    for segment in segments:
        box = [int(value) for value in segment.box]
        if segment.kind == "blank":
            continue
        if segment.kind in ("separator", "space"):
            alternatives = (
                [[",", 0.1]] if segment.text == "." else ([[".", 0.1]] if segment.text == "," else [])
            )
            chars.append(
                {
                    "text": segment.text,
                    "confidence": round(segment.confidence, 4),
                    "box": box,
                    "alternatives": alternatives,
                }
            )
            continue
        prediction = next(prediction_iterator)
        label, confidence, alternatives = restrict_to_alphabet(
            prediction.label, prediction.confidence, prediction.alternatives, alphabet
        )
        chars.append(
            {
                "text": label,
                "confidence": round(float(confidence), 4),
                "box": box,
                "alternatives": [[name, round(float(probability), 4)] for name, probability in alternatives],
            }
        )
    text = "".join(char["text"] for char in chars)
    confidence = min((char["confidence"] for char in chars), default=1.0)
    warnings = check_field(spec.kind, text)
    if warnings:
        confidence = min(confidence, RULE_CONFIDENCE_CAP)
    return {
        "name": spec.name,
        "kind": spec.kind,
        "text": text,
        "confidence": round(float(confidence), 4),
        "chars": chars,
        "warnings": warnings,
    }
