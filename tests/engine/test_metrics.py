"""Metrics against values worked out by hand."""

import numpy as np
import pytest

from recognition.engine.characters.metrics import classification_report, confusion_matrix


def test_confusion_matrix_counts_true_rows_predicted_columns():
    matrix = confusion_matrix(np.array([0, 0, 1, 2, 2, 2]), np.array([0, 1, 1, 2, 0, 2]), 3)
    assert matrix.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]


def test_report_matches_hand_computed_values():
    # true:      a a a b b c
    # predicted: a a b b c c
    report = classification_report(
        np.array([0, 0, 0, 1, 1, 2]), np.array([0, 0, 1, 1, 2, 2]), ["a", "b", "c"]
    )
    assert report["accuracy"] == pytest.approx(4 / 6)
    # a: P = 2/2, R = 2/3; b: P = 1/2, R = 1/2; c: P = 1/2, R = 1/1.
    assert report["per_class"]["a"]["precision"] == pytest.approx(1.0)
    assert report["per_class"]["a"]["recall"] == pytest.approx(0.6667, abs=1e-4)
    assert report["per_class"]["a"]["f1"] == pytest.approx(0.8)
    assert report["per_class"]["c"]["f1"] == pytest.approx(2 / 3, abs=1e-4)
    assert report["macro_precision"] == pytest.approx((1 + 0.5 + 0.5) / 3)
    assert report["macro_recall"] == pytest.approx((2 / 3 + 0.5 + 1) / 3)
    assert report["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert report["per_class"]["b"]["support"] == 2


def test_classes_without_support_are_left_out_of_macro_averages():
    report = classification_report(np.array([0, 0, 1]), np.array([0, 0, 1]), ["a", "b", "never"])
    assert report["macro_recall"] == pytest.approx(1.0)
    assert report["per_class"]["never"]["support"] == 0


def test_labels_out_of_range_are_rejected():
    with pytest.raises(ValueError):
        confusion_matrix(np.array([0, 3]), np.array([0, 1]), 3)
