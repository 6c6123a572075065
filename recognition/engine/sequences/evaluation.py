"""Measure the sequence reader on labelled crops, and fit its per-kind calibration out of fold."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recognition.engine.sequences.calibration import Calibrator, fit_platt
from recognition.engine.sequences.realdata import in_validation

AUTO_ACCEPT = 0.98


def edit_distance(first: str, second: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions all cost 1)."""
    previous = list(range(len(second) + 1))
    for row, first_character in enumerate(first, 1):
        current = [row]
        for column, second_character in enumerate(second, 1):
            substitution = previous[column - 1] + (first_character != second_character)
            current.append(min(previous[column] + 1, current[column - 1] + 1, substitution))
        previous = current
    return previous[-1]


def comparable(kind: str, text: str) -> str:
    """What a reading is compared on: amounts by their digits (real amount labels carry no separators)."""
    return "".join(character for character in text if character.isdigit()) if kind == "amount" else text


@dataclass
class Scored:
    """One labelled field as read."""

    key: str
    kind: str
    truth: str
    text: str
    confidence: float
    raw_confidence: float

    @property
    def correct(self) -> bool:
        return comparable(self.kind, self.truth) == comparable(self.kind, self.text)

    @property
    def errors(self) -> int:
        return edit_distance(comparable(self.kind, self.truth), comparable(self.kind, self.text))


def summarise(scored: list[Scored], threshold: float = AUTO_ACCEPT) -> dict:
    """Character accuracy, exact share, share at or above the threshold and the error among those."""
    characters = sum(len(comparable(item.kind, item.truth)) for item in scored)
    accepted = [item for item in scored if item.confidence >= threshold]
    wrong_accepted = sum(not item.correct for item in accepted)
    return {
        "fields": len(scored),
        "character_accuracy": round(1 - sum(item.errors for item in scored) / max(characters, 1), 4),
        "exact": round(sum(item.correct for item in scored) / max(len(scored), 1), 4),
        "auto_accepted": round(len(accepted) / max(len(scored), 1), 4),
        "auto_accepted_fields": len(accepted),
        "wrong_among_accepted": wrong_accepted,
        "error_among_accepted": round(wrong_accepted / max(len(accepted), 1), 4),
    }


def read_labelled(
    reader, crops: list[np.ndarray], truths: list[str], kind: str, keys: list[str]
) -> list[Scored]:
    """Read crops as one kind and pair each reading with its truth."""
    readings = reader.read(crops, [kind] * len(crops))
    return [
        Scored(key, kind, truth, reading.text, reading.confidence, reading.raw_confidence)
        for key, truth, reading in zip(keys, truths, readings, strict=True)
    ]


def fit_calibration(scored_by_kind: dict[str, list[Scored]]) -> tuple[dict, dict]:
    """Per kind: Platt parameters on all its fields, and the out-of-fold figures they give.

    Two folds by a hash of each field's key: each half is calibrated on the other, so the reported
    error among auto-accepted fields comes from fields the calibration never saw.
    """
    parameters, out_of_fold = {}, {}
    for kind, scored in scored_by_kind.items():
        shares = np.array([item.raw_confidence for item in scored])
        correct = np.array([item.correct for item in scored])
        folds = np.array([in_validation("calibration", item.key, 0.5) for item in scored])
        recalibrated = []
        for fold in (True, False):
            train = folds != fold
            if train.sum() < 5:
                continue
            calibrator = Calibrator({kind: fit_platt(shares[train], correct[train])})
            for item in np.array(scored, dtype=object)[folds == fold]:
                recalibrated.append(
                    Scored(
                        item.key,
                        kind,
                        item.truth,
                        item.text,
                        calibrator.apply(kind, item.raw_confidence),
                        item.raw_confidence,
                    )
                )
        parameters[kind] = fit_platt(shares, correct)
        out_of_fold[kind] = summarise(recalibrated)
    return parameters, out_of_fold
