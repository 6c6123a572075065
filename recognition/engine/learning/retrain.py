"""One retraining: fine-tune the champion on corrections, judge it against the champion, write the version."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recognition.engine.characters.preprocess import prepare_batch
from recognition.engine.learning import finetune, train, versions


@dataclass
class CorrectionSamples:
    """Labelled character crops from reviewers: ids decide the held-out share, images any size/polarity."""

    ids: Sequence[int]
    images: Sequence[np.ndarray]
    labels: Sequence[str]


@dataclass
class RetrainOutcome:
    card: dict
    decision: finetune.GateDecision
    champion: dict
    challenger: dict
    train_count: int
    holdout_count: int
    seconds: float


def _evaluate(
    model, base: train.TrainingData, holdout_inputs: np.ndarray, holdout_labels: np.ndarray
) -> dict:
    return {
        "base_accuracy": finetune.accuracy(model, base.validation_inputs, base.validation_labels),
        "corrections_accuracy": finetune.accuracy(model, holdout_inputs, holdout_labels),
        "corrections_count": len(holdout_labels),
    }


def trained_artifact_share(card: dict) -> float:
    """The share of box-damaged images a version was trained with (the largest of an ensemble's
    members; a fine-tuned version's own fine-tuning share), so fine-tuning replays its base data the
    same way."""
    sources = [*(card.get("member_options") or []), card.get("options") or {}, card.get("fine_tuning") or {}]
    return max(float(source.get("artifact_probability") or 0.0) for source in sources)


def trained_fragments(card: dict, classes: list[str]) -> tuple[float, list[int] | None]:
    """The share of replayed images a version was trained to doubt as halves of a character, and the
    class indices cut (None: all): a fine-tuned version's own fine-tuning settings, else its
    training options (`train_model --fragments`, `--fragment-classes`)."""
    tuned = card.get("fine_tuning") or {}
    if tuned.get("fragment_probability") is not None:
        return float(tuned["fragment_probability"]), tuned.get("fragment_labels")
    trained = card.get("options") or {}
    labels = train.class_indices(classes, trained.get("fragment_classes") or "")
    return float(trained.get("fragment_probability") or 0.0), labels


def retrain(
    *,
    kind: str,
    champion_dir: Path,
    new_version_dir: Path,
    samples: CorrectionSamples,
    base: train.TrainingData,
    options: finetune.FineTuneOptions | None = None,
    on_progress: Callable[[float, str], None] | None = None,
) -> RetrainOutcome:
    """Fine-tune the model in champion_dir and write the challenger to new_version_dir, with its verdict.

    The verdict (finetune.gate) is recorded in the card; acting on it (making
    the version active or not) is the caller's business.
    """
    import keras

    options = options or finetune.FineTuneOptions()
    report_progress = on_progress or (lambda fraction, message: None)
    started = time.monotonic()
    champion_card = json.loads((champion_dir / "card.json").read_text())
    if options.artifact_probability is None:
        options = dataclasses.replace(options, artifact_probability=trained_artifact_share(champion_card))
    classes = list(champion_card["classes"])
    if classes != list(base.classes):
        raise ValueError(f"base data classes {base.classes} differ from the model's {classes}")
    if options.fragment_probability is None:
        share, labels = trained_fragments(champion_card, classes)
        options = dataclasses.replace(options, fragment_probability=share, fragment_labels=labels)
    if not (len(samples.ids) == len(samples.images) == len(samples.labels)):
        raise ValueError("sample ids, images and labels differ in length")

    class_index = {name: index for index, name in enumerate(classes)}
    usable, trained_on, held_out = _split_corrections(samples, class_index)
    train_inputs, train_labels = _correction_batch(samples, trained_on, class_index)
    holdout_inputs, holdout_labels = _correction_batch(samples, held_out, class_index)

    report_progress(0.02, "evaluating the active model")
    champion = keras.models.load_model(champion_dir / "model.keras", compile=False)
    champion_metrics = _evaluate(champion, base, holdout_inputs, holdout_labels)

    challenger = keras.models.load_model(champion_dir / "model.keras", compile=False)
    result = finetune.fine_tune(
        challenger,
        base.train_inputs,
        base.train_labels,
        train_inputs,
        train_labels,
        options,
        on_progress=lambda done, total: report_progress(
            0.05 + 0.85 * done / total, f"fine-tuning {done}/{total}"
        ),
    )
    report_progress(0.92, "evaluating the new model")
    challenger_metrics = _evaluate(challenger, base, holdout_inputs, holdout_labels)
    decision = finetune.gate(champion_metrics, challenger_metrics)

    report_progress(0.96, "writing the new version")
    report = train.evaluate(challenger, base)
    card = versions.write_version(
        challenger,
        base,
        report,
        result.history,
        kind,
        new_version_dir,
        {
            "fine_tuned_from": champion_card.get("version"),
            "fine_tuning": {
                **options.as_dict(),
                "corrections_trained": len(trained_on),
                "corrections_held_out": len(held_out),
                "corrections_unusable": len(samples.labels) - len(usable),
                "seconds": round(result.seconds, 1),
            },
            "gate": _gate_record(champion_metrics, challenger_metrics, decision),
        },
    )
    report_progress(1.0, "done")
    return RetrainOutcome(
        card=card,
        decision=decision,
        champion=champion_metrics,
        challenger=challenger_metrics,
        train_count=len(trained_on),
        holdout_count=len(held_out),
        seconds=time.monotonic() - started,
    )


def _split_corrections(
    samples: CorrectionSamples, class_index: dict[str, int]
) -> tuple[list[int], list[int], list[int]]:
    """Positions of the usable samples (labels the model knows), of those trained on, and of those
    held out for the gate (finetune.is_held_out, by id)."""
    usable = [position for position, label in enumerate(samples.labels) if label in class_index]
    held_out = [position for position in usable if finetune.is_held_out(int(samples.ids[position]))]
    held_out_set = set(held_out)
    trained_on = [position for position in usable if position not in held_out_set]
    if not trained_on:
        raise ValueError("no corrections to train on: every usable sample is in the held-out share")
    return usable, trained_on, held_out


def _correction_batch(
    samples: CorrectionSamples, positions: list[int], class_index: dict[str, int]
) -> tuple[np.ndarray, np.ndarray]:
    """The prepared images and class indices of the samples at positions."""
    inputs = prepare_batch([samples.images[position] for position in positions])
    labels = np.array([class_index[samples.labels[position]] for position in positions], dtype=np.int64)
    return inputs, labels


def _gate_record(champion_metrics: dict, challenger_metrics: dict, decision: finetune.GateDecision) -> dict:
    """The gate's verdict as the card records it."""
    return {
        "champion": champion_metrics,
        "challenger": challenger_metrics,
        "promote": decision.promote,
        "reason": decision.reason,
    }
