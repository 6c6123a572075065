"""Field rules and the assembly of a field result."""

from recognition.engine.characters.classify import CharPrediction
from recognition.engine.fields.rules import (
    RULE_CONFIDENCE_CAP,
    check_amount,
    check_date,
    field_result,
    most_likely_date,
)
from recognition.engine.fields.segment import Segment
from recognition.engine.pages.templates import FieldSpec


def test_date_rule_accepts_real_dates_only():
    assert check_date("29022024") == []  # a leap day
    assert check_date("") == []
    assert check_date("29022023")  # 2023 is not a leap year
    assert check_date("31042020")  # April has 30 days
    assert check_date("01132020")  # no 13th month
    assert check_date("0101202")  # 7 digits


def test_amount_rule():
    for good in ("12", "12.50", "12,5", "1.234,56", "", "1,00,000", "88,00,000", "1,23,456.50", "1,234.56"):
        assert check_amount(good) == [], good
    for bad in ("12.", ".5", "1.2.3", "1,,2", "1,00,00", "12,34,5678"):
        assert check_amount(bad), bad


def _prediction(label, confidence):
    return CharPrediction(label=label, confidence=confidence, alternatives=[("7", 1 - confidence)])


def test_field_result_confidence_is_the_least_sure_char_and_blanks_are_left_out():
    spec = FieldSpec("account", "digits", (0, 0, 100, 20), 4)
    segments = [
        Segment("char", (0, 0, 5, 5)),
        Segment("char", (5, 0, 5, 5)),
        Segment("blank", (10, 0, 5, 5)),
        Segment("blank", (15, 0, 5, 5)),
    ]
    result = field_result(spec, segments, [_prediction("1", 0.99), _prediction("2", 0.8)])
    assert result["text"] == "12"
    assert result["confidence"] == 0.8
    assert [char["box"] for char in result["chars"]] == [[0, 0, 5, 5], [5, 0, 5, 5]]
    assert result["chars"][0]["alternatives"] == [["7", 0.01]]
    assert result["warnings"] == []


def test_an_empty_box_between_digits_or_a_faint_blank_sends_the_field_to_review():
    spec = FieldSpec("account", "digits", (0, 0, 100, 20), 4)
    gap = [Segment("char", (0, 0, 5, 5)), Segment("blank", (5, 0, 5, 5)), Segment("char", (10, 0, 5, 5))]
    result = field_result(spec, gap, [_prediction("1", 0.99), _prediction("2", 0.99)])
    assert result["confidence"] <= RULE_CONFIDENCE_CAP
    assert "box 2 of 4 is empty between characters" in result["warnings"][0]
    # A letters comb may leave a box for the space between two names.
    letters = field_result(
        FieldSpec("name", "letters", (0, 0, 100, 20), 4), gap, [_prediction("A", 0.99)] * 2
    )
    assert letters["warnings"] == [] and letters["confidence"] == 0.99
    faint = [Segment("char", (0, 0, 5, 5)), Segment("blank", (5, 0, 5, 5), confidence=0.4)]
    assert field_result(spec, faint, [_prediction("1", 0.99)])["confidence"] == 0.4


def test_failing_date_rule_lowers_confidence_and_says_why():
    spec = FieldSpec("birth", "date", (0, 0, 160, 20), 8)
    segments = [Segment("char", (index * 20, 0, 5, 5)) for index in range(8)]
    # No alternative of any digit makes a real date: the text stays as read.
    predictions = [CharPrediction(digit, 0.99, [("9", 0.01)]) for digit in "31022020"]
    result = field_result(spec, segments, predictions)
    assert result["text"] == "31022020"
    assert result["confidence"] <= RULE_CONFIDENCE_CAP
    assert "not a real date" in result["warnings"][0]


def test_impossible_date_is_read_as_the_likeliest_real_date_and_still_reviewed():
    spec = FieldSpec("birth", "date", (0, 0, 160, 20), 8)
    segments = [Segment("char", (index * 20, 0, 5, 5)) for index in range(8)]
    # Day 36 is impossible; the 6 could also be a 0 (likelier) or an 8.
    predictions = [CharPrediction(digit, 0.99, [("8", 0.01)]) for digit in "3"]
    predictions.append(CharPrediction("6", 0.6, [("0", 0.3), ("8", 0.1)]))
    predictions += [CharPrediction(digit, 0.99, [("8", 0.01)]) for digit in "072027"]
    result = field_result(spec, segments, predictions)
    assert result["text"] == "30072027"
    assert result["chars"][1]["text"] == "0" and result["chars"][1]["confidence"] == 0.3
    assert result["chars"][1]["alternatives"] == [["6", 0.6], ["8", 0.1]]
    assert result["confidence"] <= RULE_CONFIDENCE_CAP
    assert "likeliest real date" in result["warnings"][0]


def test_leap_day_repair_picks_a_leap_year():
    options = [[(digit, 0.9)] for digit in "2902"]
    # 2023 is read best, but 29 February needs a leap year: 2024 (the 3 could be a 4) wins.
    options += [[("2", 0.9)], [("0", 0.9)], [("2", 0.9)], [("3", 0.8), ("4", 0.2)]]
    assert most_likely_date(options) == [0, 0, 0, 0, 0, 0, 0, 1]
    assert most_likely_date([[("9", 1.0)]] * 8) is None  # 99/99/9999 has no repair


def test_amount_separator_is_a_character_of_the_text():
    spec = FieldSpec("amount", "amount", (0, 0, 160, 20), None)
    segments = [Segment("char", (0, 0, 5, 5)), Segment("separator", (6, 0, 2, 2), text=",", confidence=0.9)]
    segments.append(Segment("char", (10, 0, 5, 5)))
    result = field_result(spec, segments, [_prediction("4", 0.95), _prediction("5", 0.97)])
    assert result["text"] == "4,5"
    assert result["confidence"] == 0.9
    assert result["warnings"] == []
