"""The beam with the kind's rule picks a valid reading; calibration keeps the order of confidences."""

import numpy as np
import pytest

from recognition.engine.fields.rules import check_field
from recognition.engine.sequences.calibration import Calibrator, fit_platt
from recognition.engine.sequences.evaluation import Scored, fit_calibration, summarise
from recognition.engine.sequences.reader import choose_reading


def test_the_rule_picks_the_best_real_date_of_the_beam():
    beams = [("31022016", 0.5), ("31/01/2016", 0.3), ("21022016", 0.2)]
    decoded, share, warnings, kept = choose_reading("date", beams, check_field)
    assert kept == "31012016"
    assert share == pytest.approx(0.3)
    assert warnings == []


def test_a_field_with_no_valid_reading_says_why_and_keeps_the_best():
    beams = [("99999999", 0.7), ("1234", 0.3)]
    decoded, share, warnings, kept = choose_reading("date", beams, check_field)
    assert kept == "99999999"
    assert share == pytest.approx(0.7)
    assert "no reading" in warnings[0] and "not a real date" in warnings[0]


def test_a_free_field_without_a_rule_takes_the_top_reading():
    assert choose_reading("letters", [("LEA", 0.9), ("LEO", 0.1)], check_field)[3] == "LEA"


def test_platt_scaling_keeps_the_order_and_learns_overconfidence():
    random = np.random.default_rng(0)
    shares = random.uniform(0.5, 1.0, 400)
    # The reader is right less often than it says: half as often as its share suggests, near 1.
    correct = random.uniform(0, 1, 400) < shares * 0.8
    slope, intercept = fit_platt(shares, correct)
    assert slope > 0
    calibrator = Calibrator({"digits": (slope, intercept)})
    calibrated = [calibrator.apply("digits", share) for share in sorted(shares)]
    assert calibrated == sorted(calibrated)
    assert calibrator.apply("digits", 0.99) < 0.95
    # A kind without parameters and no default keeps the raw share.
    assert calibrator.apply("text", 0.7) == pytest.approx(0.7)


def test_out_of_fold_figures_count_the_wrong_fields_above_the_threshold():
    scored = [Scored(f"k{index}", "digits", "12", "12", 0.0, 0.999) for index in range(40)]
    scored += [Scored(f"w{index}", "digits", "12", "13", 0.0, 0.2) for index in range(10)]
    parameters, out_of_fold = fit_calibration({"digits": scored})
    assert set(parameters) == {"digits"}
    assert out_of_fold["digits"]["fields"] == 50
    assert out_of_fold["digits"]["wrong_among_accepted"] == 0
    summary = summarise(
        [Scored("a", "amount", "1000", "1.000", 0.99, 0.99), Scored("b", "amount", "7", "1", 0.99, 0.99)]
    )
    assert summary["exact"] == 0.5 and summary["wrong_among_accepted"] == 1
