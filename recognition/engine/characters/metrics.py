"""Classification metrics in NumPy: accuracy, per-class precision/recall/F1, macro averages, confusion."""

from __future__ import annotations

import numpy as np


def confusion_matrix(true_labels: np.ndarray, predicted_labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts matrix[true, predicted] over num_classes classes."""
    true_labels = np.asarray(true_labels, dtype=np.int64)
    predicted_labels = np.asarray(predicted_labels, dtype=np.int64)
    if true_labels.shape != predicted_labels.shape:
        raise ValueError("true and predicted labels differ in shape")
    if len(true_labels) and (
        min(true_labels.min(), predicted_labels.min()) < 0
        or max(true_labels.max(), predicted_labels.max()) >= num_classes
    ):
        raise ValueError("a label lies outside 0..num_classes-1")
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (true_labels, predicted_labels), 1)
    return matrix


def classification_report(true_labels: np.ndarray, predicted_labels: np.ndarray, classes: list[str]) -> dict:
    """Accuracy, per-class precision/recall/F1/support, macro averages and the confusion matrix.

    A class never predicted has precision 0; a class absent from the truth has recall 0 and is left out
    of the macro averages, which average over classes with support only.
    """
    matrix = confusion_matrix(true_labels, predicted_labels, len(classes))
    true_positive = np.diag(matrix).astype(np.float64)
    predicted_count = matrix.sum(axis=0).astype(np.float64)
    support = matrix.sum(axis=1).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted_count > 0, true_positive / predicted_count, 0.0)
        recall = np.where(support > 0, true_positive / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    present = support > 0
    total = matrix.sum()
    return {
        "accuracy": float(true_positive.sum() / total) if total else 0.0,
        "count": int(total),
        "macro_precision": float(precision[present].mean()) if present.any() else 0.0,
        "macro_recall": float(recall[present].mean()) if present.any() else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "per_class": {
            name: {
                "precision": round(float(precision[index]), 4),
                "recall": round(float(recall[index]), 4),
                "f1": round(float(f1[index]), 4),
                "support": int(support[index]),
            }
            for index, name in enumerate(classes)
        },
        "confusion_matrix": matrix.tolist(),
    }
