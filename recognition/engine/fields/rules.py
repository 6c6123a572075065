"""Field rules (real dates, well-formed amounts) and the assembly of one field's result."""

from __future__ import annotations

import datetime
import re

from recognition.engine.fields.segment import Segment
from recognition.engine.pages.templates import KIND_ALPHABETS, FieldSpec

# A field that breaks its rule keeps its text (a reviewer sees what was read) but its confidence is
# capped, so it sorts among the doubtful fields.
RULE_CONFIDENCE_CAP = 0.3
SEPARATOR_CONFIDENCE = 0.9
AMOUNT_PATTERN = re.compile(r"\d+([.,]\d+)?")
GROUPED_AMOUNT_PATTERN = re.compile(r"\d{1,3}([.,]\d{3})+([.,]\d{1,2})?")
# Indian grouping: lakhs and crores in pairs of digits before the last three (1,00,000; 88,00,000).
INDIAN_AMOUNT_PATTERN = re.compile(r"\d{1,2}(,\d{2})+,\d{3}(\.\d{1,2})?")


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


def _real_date(day: int, month: int, year: int) -> bool:
    try:
        datetime.date(year, month, day)
    except ValueError:
        return False
    return True


def most_likely_date(options: list[list[tuple[str, float]]]) -> list[int] | None:
    """The most probable real DDMMYYYY date among each digit's label and alternatives.

    options holds, per character, (digit, probability) best first. Returns the chosen index per
    character, or None when no combination is a real date. Day and month are searched in full; the
    year only matters for 29 February, so its candidates are tried best first until one is a leap year.
    """
    if len(options) != 8 or any(not choices for choices in options):
        return None
    digits = [
        [
            (index, int(label), probability)
            for index, (label, probability) in enumerate(choices)
            if label.isdigit()
        ]
        for choices in options
    ]
    if any(not choices for choices in digits):
        return None
    years = sorted(
        (
            (a[2] * b[2] * c[2] * d[2], [a[0], b[0], c[0], d[0]], a[1] * 1000 + b[1] * 100 + c[1] * 10 + d[1])
            for a in digits[4]
            for b in digits[5]
            for c in digits[6]
            for d in digits[7]
        ),
        key=lambda year: -year[0],
    )
    years = [year for year in years if year[2] >= 1]
    if not years:
        return None
    best = None
    for d1 in digits[0]:
        for d2 in digits[1]:
            for m1 in digits[2]:
                for m2 in digits[3]:
                    day, month = d1[1] * 10 + d2[1], m1[1] * 10 + m2[1]
                    probability = d1[2] * d2[2] * m1[2] * m2[2]
                    if best is not None and probability * years[0][0] <= best[0]:
                        continue
                    for year_probability, year_choice, year in years:
                        if _real_date(day, month, year):
                            total = probability * year_probability
                            if best is None or total > best[0]:
                                best = (total, [d1[0], d2[0], m1[0], m2[0], *year_choice])
                            break
    return None if best is None else best[1]


def check_amount(text: str) -> list[str]:
    """Why text is not a well-formed amount (digits, one optional decimal separator); [] when it is."""
    if not text:
        return []
    if any(
        pattern.fullmatch(text) for pattern in (AMOUNT_PATTERN, GROUPED_AMOUNT_PATTERN, INDIAN_AMOUNT_PATTERN)
    ):
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


def _repair_date(chars: list[dict], text: str) -> tuple[str, bool]:
    """Swap in the alternatives that make the likeliest real date (in place); (text, whether changed)."""
    options = [[(char["text"], char["confidence"]), *map(tuple, char["alternatives"])] for char in chars]
    choice = most_likely_date(options)
    if choice is None or not any(choice):
        return text, False
    for char, index in zip(chars, choice, strict=True):
        if index:
            previous = (char["text"], char["confidence"])
            label, probability = char["alternatives"][index - 1]
            others = [
                alternative
                for position, alternative in enumerate(char["alternatives"])
                if position != index - 1
            ]
            char["text"], char["confidence"] = label, probability
            char["alternatives"] = sorted([list(previous), *others], key=lambda pair: -pair[1])
    return "".join(char["text"] for char in chars), True


def check_blanks(spec: FieldSpec, segments: list[Segment]) -> list[str]:
    """Why the blank cells of a comb field of digits look wrong: an empty box between characters (a
    dropped digit); [] when they look right. Letters and alnum fields may leave a box for a space."""
    if not spec.cells or spec.kind not in ("digits", "date", "amount"):
        return []
    filled = [index for index, segment in enumerate(segments) if segment.kind != "blank"]
    if not filled:
        return []
    inner = [index for index in range(filled[0], filled[-1]) if segments[index].kind == "blank"]
    if not inner:
        return []
    return [f"box {inner[0] + 1} of {spec.cells} is empty between characters: a digit may be missing"]


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
    warnings = check_field(spec.kind, text)
    if spec.kind == "date" and warnings:
        text, repaired = _repair_date(chars, text)
        if repaired:
            warnings = [f"{warnings[0]}; read as {text[:2]}/{text[2:4]}/{text[4:]}, the likeliest real date"]
    warnings += check_blanks(spec, segments)
    blanks = [segment.confidence for segment in segments if segment.kind == "blank"]
    confidence = min([*(char["confidence"] for char in chars), *blanks], default=1.0)
    if warnings:
        # A repaired date is still one the reader was unsure of: it goes to review like a broken one.
        confidence = min(confidence, RULE_CONFIDENCE_CAP)
    return {
        "name": spec.name,
        "kind": spec.kind,
        "text": text,
        "confidence": round(float(confidence), 4),
        "chars": chars,
        "warnings": warnings,
    }
