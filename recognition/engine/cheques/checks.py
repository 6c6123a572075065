"""A cheque's fields checked together: the amount in figures against the words, the date's window."""

from __future__ import annotations

import datetime

import numpy as np

from recognition.engine.cheques.dates import VALIDITY_MONTHS, check_cheque_date
from recognition.engine.cheques.words import amount_to_words, cross_check, format_indian, parse_amount_words
from recognition.engine.fields.rules import RULE_CONFIDENCE_CAP
from recognition.engine.sequences.decode import beam_search
from recognition.engine.sequences.reader import SUPPORT_KEY

# Two readings of one amount, written twice in different ways and read by different means, that
# agree on every digit are far surer than either alone: the amount's confidence is raised to this.
AGREEMENT_CONFIDENCE = 0.99
# A date outside its validity window (post-dated, stale, or a year misread) goes to a person: its
# confidence is capped below any auto-accept threshold, and its reading is kept as read.
WINDOW_CONFIDENCE_CAP = 0.5
# How many readings of each field give candidate amounts, and the beam that reads more of the figures.
READINGS_TRIED = 5
CANDIDATE_BEAM = 20
# A candidate amount is confirmed when the figures give it at least e^-1 of the likelihood of their
# own best reading and the words at least 1/20 of theirs (natural logs). The figures are what is paid
# and what is auto-accepted, so their own columns must nearly prefer it; on cheques-dev a looser
# figures margin (1/20) let one wrong amount through (8,00,001 for 88,00,000: words "Eighty Eight
# lakhs" read close to "Eight Lakh One").
FIGURES_MARGIN = 1.0
WORDS_MARGIN = float(np.log(20.0))
# Of the candidates the figures support best, this many are scored on the words; the confirmed one
# must hold this share of their joint likelihood.
FIGURES_KEPT = 12
MIN_POSTERIOR = 0.9
AMOUNT_SUFFIXES = ("", "/-", "/=", "=", "-")
WORD_VARIANTS = {
    "LAKH": ("LAKH", "LAKHS", "LAC", "LACS", "LACKS"),
    "THOUSAND": ("THOUSAND", "THOUSANDS"),
    "CRORE": ("CRORE", "CRORES"),
    "FORTY": ("FORTY", "FOURTY"),
    "NINETY": ("NINETY", "NINTY", "NIAGHTY"),
}


def _readings(field: dict) -> list[tuple[str, float]]:
    readings = [(str(text), float(probability)) for text, probability in field.get("readings") or []]
    return readings or [(field.get("text", ""), float(field.get("confidence", 0.0)))]


def _candidates(amount: dict, words: dict) -> set[int]:
    """Amounts either field may say: the figures' readings of a wide beam over their own columns (a 0
    lost in a run of zeros, a 3 read for a 5 are among them), the words' readings parsed."""
    values = set()
    supports = amount.get(SUPPORT_KEY) or []
    texts = [text for text, _ in _readings(amount)[:READINGS_TRIED]]
    if supports:
        beams = beam_search(supports[0].probabilities, supports[0].alphabet, beam_width=CANDIDATE_BEAM)
        texts += [text for text, _ in beams]
    for text in texts:
        digits = "".join(character for character in text.split(".")[0] if character.isdigit())
        if digits and len(digits) <= 10:
            values.add(int(digits))
    for text, _ in _readings(words)[:READINGS_TRIED]:
        rupees = parse_amount_words(text).rupees
        if rupees:
            values.add(rupees)
    return {value for value in values if 0 < value < 10**10}


def _line_split_score(supports: list, words: list[str]) -> float:
    """The best score of words written over the field's lines (in order, each line a run of them)."""
    if len(supports) == 1:
        return supports[0].score(" ".join(words))
    if len(supports) != 2:
        return supports[0].score(" ".join(words)) + sum(support.score("") for support in supports[1:])
    first, second = supports
    # A line whose best reading is blank holds none of the words: only one split is worth scoring.
    if second.blank:
        return first.score(" ".join(words)) + second.score("")
    if first.blank:
        return first.score("") + second.score(" ".join(words))
    return max(
        first.score(" ".join(words[:split])) + second.score(" ".join(words[split:]))
        for split in range(len(words) + 1)
    )


def words_support(supports: list, rupees: int) -> tuple[float, str]:
    """How well the words' lines support an amount: (score, the spelling that scores best).

    "Rupees" before and "Only" after are tried with the plain words, then each word with spellings
    writers use (Lakh, Lakhs, Lacs ...) takes its best one in turn; case does not matter (the lines are
    read folded).
    """
    words = amount_to_words(rupees).upper().split()
    frames = (words, ["RUPEES", *words], [*words, "ONLY"], ["RUPEES", *words, "ONLY"])
    score, frame = max((_line_split_score(supports, frame), frame) for frame in frames)
    offset = 1 if frame[0] == "RUPEES" else 0
    for position, word in enumerate(words):
        for variant in WORD_VARIANTS.get(word, ())[1:]:
            trial = [*frame[: offset + position], variant, *frame[offset + position + 1 :]]
            trial_score = _line_split_score(supports, trial)
            if trial_score > score:
                score, frame = trial_score, trial
    return score, " ".join(frame).title()


def figures_support(supports: list, rupees: int) -> tuple[float, str]:
    """How well the figures' columns support an amount: (score, its best-scoring grouping)."""
    groupings = {str(rupees), format_indian(rupees), f"{rupees:,}"}
    return max(
        (supports[0].score(grouping + suffix), grouping)
        for grouping in groupings
        for suffix in AMOUNT_SUFFIXES
    )


def _confirmed_amount(amount: dict, words: dict) -> tuple[int, str, str] | None:
    """(rupees, figures text, words text) of the amount both fields support, or None.

    Candidates are first ranked by the figures alone (cheap); the best FIGURES_KEPT are scored on the
    words too. The best joint candidate is confirmed when the figures support it within FIGURES_MARGIN,
    the words within WORDS_MARGIN, and it holds at least MIN_POSTERIOR of the candidates' joint
    likelihood (a second amount nearly as likely, 26,50,000 against 26,30,000, leaves the choice to a
    person).
    """
    amount_supports, words_supports = amount.get(SUPPORT_KEY), words.get(SUPPORT_KEY)
    if not amount_supports or not words_supports:
        return None
    by_figures = sorted(
        ((*figures_support(amount_supports, rupees), rupees) for rupees in _candidates(amount, words)),
        reverse=True,
    )[:FIGURES_KEPT]
    joint = []
    for figures_score, figures_text, rupees in by_figures:
        words_score, words_text = words_support(words_supports, rupees)
        joint.append(
            (figures_score + words_score, figures_score, words_score, rupees, figures_text, words_text)
        )
    if not joint:
        return None
    joint.sort(reverse=True)
    total, figures_score, words_score, rupees, figures_text, words_text = joint[0]
    posterior = 1.0 / float(np.sum(np.exp(np.array([item[0] for item in joint]) - total)))
    if figures_score < -FIGURES_MARGIN or words_score < -WORDS_MARGIN or posterior < MIN_POSTERIOR:
        return None
    return rupees, figures_text, words_text


def check_amounts(amount: dict, words: dict) -> dict:
    """Cross-check the amount in figures with the amount in words; both field dicts are updated.

    The amount both fields' columns support best (among what either reads) is taken when each
    supports it well enough: the verdict is agree, the figures and the words are set to it and the
    amount's confidence raised. Otherwise the readings are compared as read: disagree caps the amount's
    confidence and says why; unreadable (no number in the words) leaves it as it was.
    """
    confirmed = _confirmed_amount(amount, words)
    if confirmed is not None:
        rupees, figures_text, words_text = confirmed
        changed = figures_text.replace(",", "") != amount.get("text", "").replace(",", "")
        if changed:
            amount["text"], amount["chars"] = figures_text, []
        if words_text.upper() != words.get("text", "").upper():
            words["text"], words["chars"] = words_text, []
        words["value"] = rupees
        # The amount is confirmed; the words' spelling (Lac or Lacs) is only their best reading of it,
        # so their own confidence stays what it was.
        amount["confidence"] = max(float(amount.get("confidence", 0.0)), AGREEMENT_CONFIDENCE)
        verdict = {
            "verdict": "agree",
            "reason": f"the words and the figures both say {format_indian(rupees)}",
            "words_value": rupees,
        }
    else:
        parsed = parse_amount_words(words.get("text", ""))
        if parsed.rupees is not None:
            words["value"] = parsed.rupees
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
