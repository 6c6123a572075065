"""A cheque's fields checked together: the figures against the words, the date's validity window."""

import copy
import datetime

import numpy as np
import pytest

from recognition.engine.cheques.checks import (
    AGREEMENT_CONFIDENCE,
    SUPPORT_KEY,
    WINDOW_CONFIDENCE_CAP,
    check_amounts,
    check_cheque,
)
from recognition.engine.fields.rules import RULE_CONFIDENCE_CAP
from recognition.engine.sequences.decode import text_log_probability
from recognition.engine.sequences.reader import Support

FIGURES = "0123456789,./-="
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ "


def _support(alphabet, columns, best):
    """A line's support from hand-made columns ({character: probability}, a blank column after each)."""
    rows = []
    for column in columns:
        for probabilities in (column, {"": 0.96}):
            row = np.full(1 + len(alphabet), 0.0)
            for character, probability in probabilities.items():
                row[0 if character == "" else alphabet.index(character) + 1] = probability
            row[row == 0] = (1 - row.sum()) / (row == 0).sum()
            rows.append(row)
    matrix = np.array(rows)
    return Support(matrix, alphabet, text_log_probability(matrix, alphabet, best))


def _sure(alphabet, text):
    return _support(alphabet, [{character: 0.96} for character in text], text)


TODAY = datetime.date(2024, 3, 15)
OPTIONS = {"date": "date", "amount": "amount", "amount_words": "amount_words", "validity_months": 3}


def _fields(*, date="10032024", amount="250000", words="Two lakh fifty thousand only", **extra):
    fields = [
        {"name": "date", "kind": "date", "text": date, "confidence": 0.9, "warnings": []},
        {"name": "payee", "kind": "text", "text": "RAVI KUMAR", "confidence": 0.8, "warnings": []},
        {
            "name": "amount_words",
            "kind": "text",
            "text": words,
            "confidence": 0.7,
            "warnings": [],
            "readings": extra.pop("words_readings", [[words, 0.6]]),
        },
        {
            "name": "amount",
            "kind": "amount",
            "text": amount,
            "confidence": extra.pop("amount_confidence", 0.8),
            "chars": [{"text": character} for character in amount],
            "warnings": [],
            "readings": extra.pop("amount_readings", [[amount, 0.7]]),
        },
    ]
    assert not extra
    return fields


def _by_name(fields):
    return {field["name"]: field for field in fields}


def test_disagreeing_figures_are_capped_with_the_reason():
    fields = _fields(amount="350000", amount_confidence=0.95)
    amount = _by_name(check_cheque(fields, OPTIONS, today=TODAY))["amount"]
    assert amount["text"] == "350000"
    assert amount["confidence"] == RULE_CONFIDENCE_CAP
    assert amount["cross_check"]["verdict"] == "disagree"
    assert amount["cross_check"]["words_value"] == 250000
    (warning,) = amount["warnings"]
    assert warning.startswith("amount in words disagrees: the words say 2,50,000")
    assert "the figures 3,50,000" in warning


def test_unreadable_words_leave_the_amount_as_it_was():
    fields = _fields(words="squiggle blot", words_readings=[["squiggle blot", 0.4]])
    before = copy.deepcopy(_by_name(fields)["amount"])
    amount = _by_name(check_cheque(fields, OPTIONS, today=TODAY))["amount"]
    verdict = amount.pop("cross_check")
    assert verdict["verdict"] == "unreadable" and verdict["words_value"] is None
    assert amount == before


def test_check_amounts_returns_the_verdict_it_records():
    amount, words = _by_name(_fields())["amount"], _by_name(_fields())["amount_words"]
    verdict = check_amounts(amount, words)
    assert verdict is amount["cross_check"] and verdict["verdict"] == "agree"


@pytest.mark.parametrize(
    ("date", "reason"),
    [("14122023", "stale: dated 14/12/2023"), ("16032024", "post-dated: dated 16/03/2024")],
)
def test_a_date_outside_its_window_is_capped_and_kept(date, reason):
    date_field = _by_name(check_cheque(_fields(date=date), OPTIONS, today=TODAY))["date"]
    assert date_field["text"] == date
    assert date_field["confidence"] == WINDOW_CONFIDENCE_CAP
    (warning,) = date_field["warnings"]
    assert warning.startswith(reason)


def test_the_validity_window_comes_from_the_options():
    # Four months back is stale with three months' validity, fine with six.
    six_months = {**OPTIONS, "validity_months": 6}
    date_field = _by_name(check_cheque(_fields(date="15112023"), six_months, today=TODAY))["date"]
    assert date_field["warnings"] == [] and date_field["confidence"] == 0.9
    date_field = _by_name(check_cheque(_fields(date="15112023"), OPTIONS, today=TODAY))["date"]
    assert date_field["confidence"] == WINDOW_CONFIDENCE_CAP


def test_a_valid_date_and_the_other_fields_are_untouched():
    fields = _fields(date="15012024")
    before = copy.deepcopy(fields)
    after = _by_name(check_cheque(fields, OPTIONS, today=TODAY))
    assert after["date"] == _by_name(before)["date"]
    assert after["payee"] == _by_name(before)["payee"]


def test_a_cheque_without_amount_words_checks_only_its_date():
    fields = [field for field in _fields(date="14122023") if field["name"] != "amount_words"]
    by_name = _by_name(check_cheque(fields, OPTIONS, today=TODAY))
    assert "cross_check" not in by_name["amount"] and by_name["amount"]["confidence"] == 0.8
    assert by_name["date"]["confidence"] == WINDOW_CONFIDENCE_CAP


@pytest.mark.parametrize(
    "written",
    [
        "TWO LAKH FIFTY THOUSAND",
        "TWO LAKH FIFTY THOUSAND ONLY",
        "RUPEES TWO LACS FIFTY THOUSAND",
    ],
)
def test_supported_agreement_raises_the_amounts_confidence(written):
    fields = _fields(words=written.title(), words_readings=[[written.title(), 0.6]])
    by_name = _by_name(fields)
    by_name["amount"][SUPPORT_KEY] = [_sure(FIGURES, "250000")]
    by_name["amount_words"][SUPPORT_KEY] = [_sure(LETTERS, written)]
    check_cheque(fields, OPTIONS, today=TODAY)
    assert by_name["amount"]["confidence"] == AGREEMENT_CONFIDENCE
    # The words' spelling is only their best reading of the amount: their confidence stays as read.
    assert by_name["amount_words"]["confidence"] == 0.7
    assert by_name["amount"]["cross_check"]["verdict"] == "agree"
    assert by_name["amount"]["text"] == "250000"


def test_the_figures_second_reading_the_words_support_replaces_the_first():
    fields = _fields(amount="256000", amount_readings=[["256000", 0.55], ["250000", 0.4]])
    by_name = _by_name(fields)
    columns = [{"2": 0.96}, {"5": 0.96}, {"6": 0.55, "0": 0.4}, {"0": 0.96}, {"0": 0.96}, {"0": 0.96}]
    by_name["amount"][SUPPORT_KEY] = [_support(FIGURES, columns, "256000")]
    by_name["amount_words"][SUPPORT_KEY] = [_sure(LETTERS, "TWO LAKH FIFTY THOUSAND")]
    check_cheque(fields, OPTIONS, today=TODAY)
    amount = by_name["amount"]
    assert amount["text"] == "250000" and amount["chars"] == []
    assert amount["confidence"] == AGREEMENT_CONFIDENCE
    assert amount["cross_check"]["verdict"] == "agree"
