"""Calibrate a field's confidence per kind: Platt scaling of the reading's share of the beam."""

from __future__ import annotations

import numpy as np

# Shares are clipped away from 0 and 1 before the logit, so a certain-looking 1.0 stays finite.
EPSILON = 1e-6


def _logit(share: np.ndarray) -> np.ndarray:
    share = np.clip(share, EPSILON, 1 - EPSILON)
    return np.log(share) - np.log1p(-share)


def fit_platt(
    shares: np.ndarray, correct: np.ndarray, *, steps: int = 3000, rate: float = 0.1
) -> tuple[float, float]:
    """(slope, intercept) of p(correct) = sigmoid(slope * logit(share) + intercept), by gradient descent
    on the log loss; the slope is kept positive so calibration never reorders fields."""
    features = _logit(np.asarray(shares, dtype=np.float64))
    targets = np.asarray(correct, dtype=np.float64)
    slope, intercept = 1.0, 0.0
    for _ in range(steps):
        predicted = 1 / (1 + np.exp(-(slope * features + intercept)))
        error = predicted - targets
        slope -= rate * float(np.mean(error * features))
        intercept -= rate * float(np.mean(error))
        slope = max(slope, 0.05)
    return slope, intercept


class Calibrator:
    """Per-kind Platt parameters; a kind without its own uses the "default" entry, else the raw share.

    Calibration only ever lowers a confidence: a field stays no surer than its least sure character.
    """

    def __init__(self, parameters: dict[str, tuple[float, float]] | None = None):
        self.parameters = dict(parameters or {})

    @classmethod
    def from_card(cls, calibration: dict | None) -> Calibrator:
        if not calibration:
            return cls()
        return cls({kind: tuple(entry["platt"]) for kind, entry in calibration.get("kinds", {}).items()})

    def apply(self, kind: str, share: float) -> float:
        parameters = self.parameters.get(kind, self.parameters.get("default"))
        if parameters is None:
            return float(share)
        slope, intercept = parameters
        return min(float(share), float(1 / (1 + np.exp(-(slope * _logit(np.array(share)) + intercept)))))
