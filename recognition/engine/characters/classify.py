"""Load a trained character model once per process and classify batches of character images."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recognition.engine.characters.pairs import PAIR_KIND
from recognition.engine.characters.preprocess import FRAME_SIZE, prepare_batch

KINDS = ("digits", "letters", "alnum")
ALTERNATIVE_COUNT = 3
# Batches are cut to this size so one call never allocates activations for thousands of images at once.
MAX_BATCH = 1024

_cache: dict[tuple[str, str], CharClassifier] = {}
_cache_lock = threading.Lock()


@dataclass(frozen=True)
class CharPrediction:
    """One classified character: best label, its probability, and the next best (label, probability)."""

    label: str
    confidence: float
    alternatives: list[tuple[str, float]]


class CharClassifier:
    """A loaded model with its classes; classify() takes raw images, classify_prepared() model inputs."""

    def __init__(self, kind: str, version: str, model, card: dict):
        self.kind = kind
        self.version = version
        self.name = f"{kind}@{version}"
        self.card = card
        self.classes: list[str] = list(card["classes"])
        self.model = model
        from recognition.engine.characters.networks import fold_batch_norm

        # Batch norm folded into the convolutions: same outputs, about 1.5x the throughput on a CPU.
        self.inference_model = fold_batch_norm(model)
        self._predict = make_inference_function(self.inference_model)

    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        """Softmax outputs (N, classes) for a prepared float32 (N, 28, 28, 1) batch."""
        batch = np.asarray(batch, dtype=np.float32)
        if batch.ndim == 3:
            batch = batch[..., None]
        if batch.ndim != 4 or batch.shape[1:] != (FRAME_SIZE, FRAME_SIZE, 1):
            raise ValueError(f"expected a (N, {FRAME_SIZE}, {FRAME_SIZE}, 1) batch, got {batch.shape}")
        if len(batch) == 0:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        parts = [self._predict(batch[start : start + MAX_BATCH]) for start in range(0, len(batch), MAX_BATCH)]
        return np.concatenate(parts, axis=0)

    def classify_prepared(self, batch: np.ndarray) -> list[CharPrediction]:
        """Classify a batch that already went through preprocess.prepare_batch."""
        probabilities = self.probabilities(batch)
        order = np.argsort(-probabilities, axis=1)[:, : ALTERNATIVE_COUNT + 1]
        predictions = []
        for row, ranked in zip(probabilities, order, strict=True):
            predictions.append(
                CharPrediction(
                    label=self.classes[ranked[0]],
                    confidence=float(row[ranked[0]]),
                    alternatives=[(self.classes[index], float(row[index])) for index in ranked[1:]],
                )
            )
        return predictions

    def classify(self, images: Sequence[np.ndarray]) -> list[CharPrediction]:
        """Classify 2-D character images of any size and either polarity, one prediction each, in order."""
        if len(images) == 0:
            return []
        if len(images) <= MAX_BATCH:
            return self.classify_prepared(prepare_batch(images))
        # Large batches: prepare the next chunk in a thread while the model reads this one (the
        # forward pass releases the GIL), so preprocessing and inference overlap.
        chunks = [images[start : start + MAX_BATCH] for start in range(0, len(images), MAX_BATCH)]
        predictions: list[CharPrediction] = []
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(prepare_batch, chunks[0])
            for index in range(len(chunks)):
                batch = pending.result()
                if index + 1 < len(chunks):
                    pending = pool.submit(prepare_batch, chunks[index + 1])
                predictions.extend(self.classify_prepared(batch))
        return predictions


def make_inference_function(model):
    """A compiled forward pass for the active backend; falls back to calling the model directly."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        # A traced graph avoids per-call eager overhead; shapes are relaxed so batch sizes do not retrace.
        function = tf.function(lambda batch: model(batch, training=False), reduce_retracing=True)
        return lambda batch: np.asarray(function(batch))
    if backend == "jax":
        import jax

        function = jax.jit(lambda batch: model(batch, training=False))
        return lambda batch: np.asarray(function(batch))
    return lambda batch: keras.ops.convert_to_numpy(model(batch, training=False))


def model_versions(kind_dir: Path) -> list[str]:
    """Version folder names holding a model.keras, sorted numerically."""
    if not kind_dir.is_dir():
        return []
    versions = [
        entry.name
        for entry in kind_dir.iterdir()
        if entry.name.isdigit() and (entry / "model.keras").exists()
    ]
    return sorted(versions, key=int)


def resolve_version(kind: str, model_dir: Path, version: str | None = None) -> str:
    """The requested version, else the one named in ACTIVE, else the highest number."""
    kind_dir = Path(model_dir) / kind
    if version is None:
        active_file = kind_dir / "ACTIVE"
        if active_file.exists():
            version = active_file.read_text().strip()
        else:
            versions = model_versions(kind_dir)
            if not versions:
                raise FileNotFoundError(f"no trained {kind} model in {kind_dir}")
            version = versions[-1]
    if not (kind_dir / version / "model.keras").exists():
        raise FileNotFoundError(f"{kind_dir / version / 'model.keras'} does not exist")
    return version


def load_classifier(kind: str, model_dir: Path, version: str | None = None) -> CharClassifier:
    """Load models/<kind>/<version>/ (None: the active version); cached per kind and path in the process."""
    if kind not in KINDS and kind != PAIR_KIND:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    resolved = resolve_version(kind, Path(model_dir), version)
    version_dir = (Path(model_dir) / kind / resolved).resolve()
    key = (kind, str(version_dir))
    with _cache_lock:
        if key not in _cache:
            import keras

            card = json.loads((version_dir / "card.json").read_text())
            model = keras.models.load_model(version_dir / "model.keras", compile=False)
            _cache[key] = CharClassifier(kind, resolved, model, card)
        return _cache[key]


def clear_cache() -> None:
    """Forget loaded classifiers (tests and model promotion use it)."""
    with _cache_lock:
        _cache.clear()
