"""A trained model's version folder: its number, model.keras, card.json and the plots a person reads."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from recognition.engine.learning.train import TrainingData


def plot_curves(history: dict, path: Path) -> None:
    """Loss and accuracy per epoch for training and validation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(10, 4))
    epochs = np.arange(1, len(history.get("loss", [])) + 1)
    for key, axis in (("loss", loss_axis), ("accuracy", accuracy_axis)):
        axis.plot(epochs, history.get(key, []), label=f"train {key}")
        # A fine-tuning run has no per-epoch validation: plot only what was measured.
        if len(history.get(f"val_{key}", [])) == len(epochs):
            axis.plot(epochs, history[f"val_{key}"], label=f"validation {key}")
        axis.set_xlabel("epoch")
        axis.legend()
        axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)


def plot_confusion(matrix: np.ndarray, classes: list[str], path: Path) -> None:
    """Confusion matrix heat map with counts (log colour scale so rare errors show)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = np.asarray(matrix)
    size = max(5, len(classes) * 0.3)
    figure, axis = plt.subplots(figsize=(size + 1, size))
    axis.imshow(np.log1p(matrix), cmap="Blues")
    axis.set_xticks(range(len(classes)), classes, fontsize=7)
    axis.set_yticks(range(len(classes)), classes, fontsize=7)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    for row in range(len(classes)):
        for column in range(len(classes)):
            if matrix[row, column] and row != column:
                axis.text(
                    column, row, str(matrix[row, column]), ha="center", va="center", fontsize=6, color="red"
                )
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)


def plot_errors(
    inputs: np.ndarray,
    true_labels: np.ndarray,
    predicted: np.ndarray,
    classes: list[str],
    path: Path,
    limit: int = 60,
) -> None:
    """Gallery of misclassified validation images titled 'true -> predicted'."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    wrong = np.nonzero(true_labels != predicted)[0][:limit]
    columns = 10
    rows = max(1, int(np.ceil(len(wrong) / columns)))
    figure, axes = plt.subplots(rows, columns, figsize=(columns * 1.1, rows * 1.3), squeeze=False)
    for axis in axes.ravel():
        axis.axis("off")
    for axis, index in zip(axes.ravel(), wrong, strict=False):
        axis.imshow(inputs[index, :, :, 0], cmap="gray", vmin=0, vmax=1)
        axis.set_title(f"{classes[true_labels[index]]}->{classes[predicted[index]]}", fontsize=8)
    if not len(wrong):
        axes[0, 0].set_title("no errors")
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)


def next_version(kind_dir: Path) -> str:
    """One more than the highest numbered version folder (1 when none)."""
    numbers = (
        [int(entry.name) for entry in kind_dir.iterdir() if entry.name.isdigit()] if kind_dir.is_dir() else []
    )
    return str(max(numbers, default=0) + 1)


def write_version(
    model,
    data: TrainingData,
    report: dict,
    history: dict,
    kind: str,
    version_dir: Path,
    card_extra: dict,
) -> dict:
    """Save model.keras, card.json and the plots into a new version_dir; returns the card.

    A failure part-way (disk full, a plot that cannot be drawn) removes the folder again, so a
    half-written version never looks like a model.
    """
    version_dir.mkdir(parents=True, exist_ok=False)
    try:
        return _write_version_files(model, data, report, history, kind, version_dir, card_extra)
    except BaseException:
        shutil.rmtree(version_dir, ignore_errors=True)
        raise


def _write_version_files(
    model,
    data: TrainingData,
    report: dict,
    history: dict,
    kind: str,
    version_dir: Path,
    card_extra: dict,
) -> dict:
    import keras

    # Save an uncompiled copy: serving needs no optimizer state, and leaving it out shrinks the file 3x.
    inference_model = keras.models.clone_model(model)
    inference_model.set_weights(model.get_weights())
    inference_model.save(version_dir / "model.keras")
    predicted = report.pop("predicted")
    if history.get("loss"):  # a combined model (ensemble) has no training curves of its own
        plot_curves(history, version_dir / "curves.png")
    plot_confusion(np.array(report["confusion_matrix"]), data.classes, version_dir / "confusion.png")
    plot_errors(
        data.validation_inputs, data.validation_labels, predicted, data.classes, version_dir / "errors.png"
    )
    card = {
        "kind": kind,
        "version": version_dir.name,
        "classes": data.classes,
        "input_shape": [28, 28, 1],
        "input": (
            "float32 0..1, white ink on black, through "
            "recognition.engine.characters.preprocess.prepare_character"
        ),
        "parameters": int(model.count_params()),
        "data": data.description,
        "history": {key: [round(float(value), 5) for value in values] for key, values in history.items()},
        "epochs_run": len(history.get("loss", [])),
        "metrics": {"validation": report},
        **card_extra,
    }
    (version_dir / "card.json").write_text(json.dumps(card, indent=1))
    return card
