"""Finish a sequence version: read its validation sets, fit the calibration, write figures and plots."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from recognition.engine.sequences.evaluation import (
    AUTO_ACCEPT,
    Scored,
    fit_calibration,
    read_labelled,
    summarise,
)
from recognition.engine.sequences.realdata import REAL_SETS, load_real_set, read_gray

# Free fields of these kinds have no real labelled crops here: they are measured on synthetic fields
# written by femnist-dev writers the training never saw.
SYNTHETIC_KINDS = {"digits": "code", "date": "date", "alnum": "code"}
SYNTHETIC_FIELDS = 300


def synthetic_validation(femnist_dir: Path, seed: int = 7) -> dict[str, tuple[list, list[str], list[str]]]:
    """Per kind: (crops, truths, keys) of synthetic fields by held-out femnist-dev writers and fonts."""
    from recognition.engine.characters.datasets import load_femnist_dev, split_by_writer
    from recognition.engine.sequences.synth import FieldSynthesizer, GlyphSource

    femnist = load_femnist_dev(femnist_dir)
    _, held_out = split_by_writer(femnist.writers, 0.15, seed=0)
    synthesizer = FieldSynthesizer(GlyphSource.from_sets(None, femnist.subset(held_out)), seed=seed)
    random = np.random.default_rng(seed)
    sets = {}
    for kind, family in SYNTHETIC_KINDS.items():
        crops, truths = [], []
        for _ in range(SYNTHETIC_FIELDS):
            if kind == "digits":
                text = "".join(random.choice(list("0123456789"), int(random.integers(2, 11))))
            elif kind == "alnum":
                text = "".join(
                    random.choice(list("0123456789ABCDEFGHJKLMNPRSTUVWXYZ"), int(random.integers(3, 10)))
                )
            else:
                text = None
            crop, truth, _ = synthesizer.field(family, text)
            crops.append(crop)
            truths.append(
                "".join(character for character in truth if character.isdigit()) if kind == "date" else truth
            )
        sets[kind] = (crops, truths, [f"{kind}-{index}" for index in range(len(crops))])
    return sets


def read_validation(reader, data_root: Path, femnist_dir: Path | None) -> dict[str, list[Scored]]:
    """Every validation field read by the reader, by set name (real sets) or kind (synthetic sets)."""
    scored = {}
    for set_name, (_, kind, _, _) in REAL_SETS.items():
        try:
            _, samples = load_real_set(data_root, set_name)
        except FileNotFoundError:
            continue
        crops = [read_gray(sample.path) for sample in samples]
        scored[set_name] = read_labelled(
            reader, crops, [sample.text for sample in samples], kind, [sample.path.name for sample in samples]
        )
    if femnist_dir is not None and femnist_dir.exists():
        for kind, (crops, truths, keys) in synthetic_validation(femnist_dir).items():
            scored[f"synthetic-{kind}"] = read_labelled(reader, crops, truths, kind, keys)
    return scored


def by_kind(scored: dict[str, list[Scored]]) -> dict[str, list[Scored]]:
    kinds: dict[str, list[Scored]] = {}
    for items in scored.values():
        for item in items:
            kinds.setdefault(item.kind, []).append(item)
    return kinds


def finish_version(
    version_dir: Path, data_root: Path, femnist_dir: Path | None, progress: Callable[[str], None] = print
) -> dict:
    """Calibrate the version in version_dir on its validation fields and write card and plots."""
    from recognition.engine.sequences.reader import SequenceReader

    reader = SequenceReader(version_dir)
    reader.calibrator.parameters = {}
    progress("reading the validation fields")
    scored = read_validation(reader, data_root, femnist_dir)
    parameters, out_of_fold = fit_calibration(by_kind(scored))
    # "text" is the widest kind: its calibration stands in for a kind without its own.
    if "text" in parameters:
        parameters["default"] = parameters["text"]
    card_path = version_dir / "card.json"
    card = json.loads(card_path.read_text(encoding="utf-8"))
    card["calibration"] = {
        "method": "Platt scaling of the reading's share of the beam, per kind; figures out of fold (2 folds)",
        "threshold": AUTO_ACCEPT,
        "kinds": {
            kind: {
                "platt": [round(value, 5) for value in parameters[kind]],
                "out_of_fold": out_of_fold.get(kind),
            }
            for kind in parameters
        },
    }
    reader.calibrator.parameters = parameters
    calibrated = {
        name: [
            Scored(
                item.key,
                item.kind,
                item.truth,
                item.text,
                reader.calibrator.apply(item.kind, item.raw_confidence),
                item.raw_confidence,
            )
            for item in items
        ]
        for name, items in scored.items()
    }
    card["validation"] = {name: summarise(items) for name, items in calibrated.items()}
    validation = card["validation"]
    real = [figures["character_accuracy"] for name, figures in validation.items() if name in REAL_SETS]
    # What the Models page and the retraining gate read: character accuracy over the real sets.
    card["metrics"] = {"validation": {"accuracy": round(float(np.mean(real)), 4) if real else None}}
    card_path.write_text(json.dumps(card, indent=1, ensure_ascii=False), encoding="utf-8")
    write_plots(version_dir, card, calibrated, data_root)
    progress(
        json.dumps({"validation": card["validation"], "calibration": card["calibration"]}, ensure_ascii=False)
    )
    return card


def write_plots(version_dir: Path, card: dict, scored: dict[str, list[Scored]], data_root: Path) -> None:
    """curves.png (loss, validation character accuracy), reliability.png, errors.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    history = card.get("history", [])
    # A fine-tuned version's history is its loss per step (its curves.png is already drawn).
    if history and isinstance(history, list):
        figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(10, 3.5))
        epochs = [entry["epoch"] for entry in history]
        loss_axis.plot(epochs, [entry["loss"] for entry in history])
        loss_axis.set(title="training CTC loss", xlabel="epoch")
        for set_name in history[0]["validation"]:
            accuracy_axis.plot(
                epochs,
                [entry["validation"][set_name]["character_accuracy"] for entry in history],
                label=set_name,
            )
        accuracy_axis.set(title="validation character accuracy (greedy)", xlabel="epoch", ylim=(0, 1))
        accuracy_axis.legend()
        figure.tight_layout()
        figure.savefig(version_dir / "curves.png", dpi=80)
        plt.close(figure)
    figure, axis = plt.subplots(figsize=(4.5, 4))
    bins = np.linspace(0, 1, 11)
    for name, items in scored.items():
        confidence = np.array([item.confidence for item in items])
        correct = np.array([item.correct for item in items])
        centres, rates = [], []
        for low, high in zip(bins[:-1], bins[1:], strict=True):
            inside = (confidence >= low) & (confidence < high if high < 1 else confidence <= high)
            if inside.sum() >= 3:
                centres.append(float(confidence[inside].mean()))
                rates.append(float(correct[inside].mean()))
        axis.plot(centres, rates, marker="o", label=name)
    axis.plot([0, 1], [0, 1], color="gray", linestyle="--")
    axis.set(title="reliability (validation)", xlabel="confidence", ylabel="share read right")
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(version_dir / "reliability.png", dpi=80)
    plt.close(figure)
    write_gallery(version_dir, scored, data_root)


def write_gallery(
    version_dir: Path, scored: dict[str, list[Scored]], data_root: Path, count: int = 16
) -> None:
    """errors.png: real validation crops read wrong, most confident first, with truth and reading."""
    import matplotlib.pyplot as plt

    wrong = []
    for set_name, items in scored.items():
        if set_name not in REAL_SETS:
            continue
        folder = Path(data_root) / REAL_SETS[set_name][0] / "images"
        wrong += [(item, folder / item.key) for item in items if not item.correct]
    wrong = sorted(wrong, key=lambda pair: -pair[0].confidence)[:count]
    if not wrong:
        return
    figure, axes = plt.subplots(len(wrong), 1, figsize=(6, 0.9 * len(wrong)))
    for axis, (item, path) in zip(np.atleast_1d(axes), wrong, strict=True):
        axis.imshow(read_gray(path), cmap="gray")
        axis.set_title(f"truth {item.truth!r}  read {item.text!r}  conf {item.confidence:.3f}", fontsize=7)
        axis.axis("off")
    figure.tight_layout()
    figure.savefig(version_dir / "errors.png", dpi=80)
    plt.close(figure)
