"""A cheque's fields checked together: the amount in figures against the words, the date's window."""

from __future__ import annotations

import datetime

from recognition.engine.cheques.dates import VALIDITY_MONTHS, check_cheque_date
from recognition.engine.cheques.words import cross_check, format_indian, parse_amount_words
from recognition.engine.fields.rules import RULE_CONFIDENCE_CAP

# Two readings of one amount, written twice in different ways and read by different means, that
# agree on every digit are far surer than either alone: the amount's confidence is raised to this.
AGREEMENT_CONFIDENCE = 0.99
# A date outside its validity window (post-dated, stale, or a year misread) goes to a person: its
# confidence is capped below any auto-accept threshold, and its reading is kept as read.
WINDOW_CONFIDENCE_CAP = 0.5
# How many readings of each field the cross-check tries (a second reading of the figures that the
# words confirm is taken; the words' readings are tried best first).
READINGS_TRIED = 5


def _readings(field: dict) -> list[tuple[str, float]]:
    readings = [(str(text), float(probability)) for text, probability in field.get("readings") or []]
    return readings or [(field.get("text", ""), float(field.get("confidence", 0.0)))]


def _agreeing_pair(amount: dict, words: dict) -> tuple[int, str, object] | None:
    """(rank of the amount reading, that reading, the words' parse) of the most probable agreeing
    pair of readings, or None when no pair agrees."""
    best = None
    for amount_rank, (amount_text, amount_probability) in enumerate(_readings(amount)[:READINGS_TRIED]):
        for words_text, words_probability in _readings(words)[:READINGS_TRIED]:
            parsed = parse_amount_words(words_text)
            if parsed.rupees is None or cross_check(amount_text, parsed).verdict != "agree":
                continue
            joint = amount_probability * words_probability
            if best is None or joint > best[0]:
                best = (joint, amount_rank, amount_text, parsed)
    return None if best is None else best[1:]


def _set_amount_reading(amount: dict, text: str) -> None:
    """The figures' field takes another of its readings (the one the words confirm)."""
    amount["text"] = text
    # Per-character boxes and alternatives belonged to the first reading: keep the boxes' extent only.
    amount["chars"] = []


def check_amounts(amount: dict, words: dict) -> dict:
    """Cross-check the amount in figures with the amount in words; both field dicts are updated.

    Returns the verdict recorded on the amount as `cross_check`: agree (the amount's confidence is
    raised), disagree (capped, with the reason as a warning) or unreadable (left as it was).
    """
    parsed = parse_amount_words(words.get("text", ""))
    if parsed.rupees is not None:
        words["value"] = parsed.rupees
    pair = _agreeing_pair(amount, words)
    if pair is not None:
        rank, amount_text, agreeing = pair
        if rank > 0:
            _set_amount_reading(amount, amount_text)
        words["value"] = agreeing.rupees
        verdict = {
            "verdict": "agree",
            "reason": f"the words and the figures both say {format_indian(agreeing.rupees)}"
            + (" (the figures' reading that the words confirm)" if rank > 0 else ""),
            "words_value": agreeing.rupees,
        }
        amount["confidence"] = max(float(amount.get("confidence", 0.0)), AGREEMENT_CONFIDENCE)
    else:
        check = cross_check(amount.get("text", ""), parsed)
        verdict = {"verdict": check.verdict, "reason": check.reason, "words_value": check.words_value}
        if check.verdict == "disagree":
            amount["confidence"] = min(float(amount.get("confidence", 0.0)), RULE_CONFIDENCE_CAP)
            amount.setdefault("warnings", []).append(f"amount in words disagrees: {check.reason}")
    amount["cross_check"] = verdict
    return verdict


def check_cheque(fields: list[dict], options: dict, *, today: datetime.date | None = None) -> list[dict]:
    """Apply a cheque template's checks (its `cheque` options: which fields hold the date, the amount
    and the amount in words, and the validity in months) to a page's field results, in place."""
    by_name = {field["name"]: field for field in fields}
    date = by_name.get(options.get("date", "date"))
    if date is not None and date.get("text"):
        warnings = check_cheque_date(
            date["text"],
            today=today or datetime.date.today(),
            validity_months=int(options.get("validity_months", VALIDITY_MONTHS)),
        )
        if warnings:
            date.setdefault("warnings", []).extend(warnings)
            date["confidence"] = min(float(date.get("confidence", 0.0)), WINDOW_CONFIDENCE_CAP)
    amount = by_name.get(options.get("amount", "amount"))
    words = by_name.get(options.get("amount_words", "amount_words"))
    if amount is not None and words is not None:
        check_amounts(amount, words)
    return fields
