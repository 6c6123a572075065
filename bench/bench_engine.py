"""Benchmark the character engine: seed CNN vs shipped digits model on MNIST test, letters, throughput.

Run from the repository root after `python manage.py fetch_data mnist`:
    python bench/bench_engine.py [--seed-epochs 5] [--skip-seed]
MNIST test is used here only to report figures, never for training or tuning.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402

from recognition.engine.characters import datasets  # noqa: E402
from recognition.engine.characters.classify import load_classifier  # noqa: E402
from recognition.engine.characters.preprocess import prepare_batch  # noqa: E402

FEMNIST_DEV = REPO_ROOT.parent / "shared" / "data" / "femnist-dev"


def train_seed_cnn(train_set, test_set, epochs: int) -> tuple[float, float, int]:
    """The seeds' network (3 conv + dense, Adam) on raw MNIST/255: (test accuracy, seconds, params)."""
    import keras

    from recognition.engine.characters.networks import build_model

    keras.utils.set_random_seed(0)
    model = build_model(10, architecture="seed")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    inputs = train_set.images[..., None].astype("float32") / 255.0
    started = time.monotonic()
    model.fit(inputs, train_set.labels, epochs=epochs, batch_size=64, verbose=0)
    seconds = time.monotonic() - started
    test_inputs = test_set.images[..., None].astype("float32") / 255.0
    _, accuracy = model.evaluate(test_inputs, test_set.labels, verbose=0, batch_size=1024)
    return float(accuracy), seconds, model.count_params()


def held_out_capitals(card: dict):
    """femnist-dev capitals of the writers the letters/alnum model held out (same seed and fraction)."""
    femnist = datasets.load_femnist_dev(FEMNIST_DEV)
    seed = card["data"]["femnist_writers"]["split_seed"]
    fraction = card["options"].get("validation_fraction", 0.2)
    _, validation_mask = datasets.split_by_writer(femnist.writers, fraction, seed)
    held_out = femnist.subset(validation_mask)
    capitals = (held_out.labels >= 10) & (held_out.labels < 36)
    return held_out.subset(capitals), len(np.unique(held_out.writers))


def time_call(function, repeats: int) -> float:
    """Median seconds of repeated calls after one warm-up."""
    function()
    durations = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        durations.append(time.perf_counter() - started)
    return float(np.median(durations))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed-epochs", type=int, default=5)
    parser.add_argument("--skip-seed", action="store_true")
    parser.add_argument("--mnist-dir", type=Path, default=REPO_ROOT / "data" / "mnist")
    parser.add_argument("--model-dir", type=Path, default=REPO_ROOT / "models")
    arguments = parser.parse_args()

    import keras

    print(
        f"machine: {os.cpu_count()} CPU cores, keras {keras.__version__}, backend {keras.backend.backend()}"
    )
    test_set = datasets.load_mnist(arguments.mnist_dir, "test")
    rows = []
    if not arguments.skip_seed:
        train_set = datasets.load_mnist(arguments.mnist_dir, "train")
        accuracy, seconds, parameters = train_seed_cnn(train_set, test_set, arguments.seed_epochs)
        rows.append(
            (f"seed CNN (3 conv + dense, Adam, {arguments.seed_epochs} epochs)", accuracy, parameters)
        )
        print(f"seed CNN trained in {seconds:.0f} s")

    digits = load_classifier("digits", arguments.model_dir)
    # A worker loads its model once and serves many pages: time a warm model, as it serves (the first
    # calls trace the forward pass for the batch shapes).
    digits.classify(list(test_set.images[:1100]))
    started = time.perf_counter()
    predictions = digits.classify(list(test_set.images))
    end_to_end_seconds = time.perf_counter() - started
    predicted = np.array([int(prediction.label) for prediction in predictions])
    digits_accuracy = float((predicted == test_set.labels).mean())
    rows.append(
        (
            f"shipped {digits.name} ({digits.card.get('architecture', '')})",
            digits_accuracy,
            digits.model.count_params(),
        )
    )

    print()
    print(f"{'MNIST test (10,000)':<58} {'accuracy':>9} {'errors':>7} {'params':>9}")
    for name, accuracy, parameters in rows:
        print(f"{name:<58} {accuracy * 100:>8.2f}% {round((1 - accuracy) * 10000):>7d} {parameters:>9,d}")

    print()
    for kind in ("letters", "alnum"):
        try:
            classifier = load_classifier(kind, arguments.model_dir)
        except FileNotFoundError:
            print(f"{kind}: no shipped model")
            continue
        capitals, writer_count = held_out_capitals(classifier.card)
        predictions = classifier.classify(list(capitals.images))
        truth = [datasets.BYCLASS_CLASSES[label] for label in capitals.labels]
        accuracy = float(np.mean([p.label == t for p, t in zip(predictions, truth, strict=True)]))
        print(
            f"{classifier.name}: capitals of {writer_count} femnist-dev writers never seen in training: "
            f"{accuracy * 100:.2f}% of {len(capitals)}"
        )
        if kind == "alnum":
            femnist = datasets.load_femnist_dev(FEMNIST_DEV)
            seed = classifier.card["data"]["femnist_writers"]["split_seed"]
            _, validation_mask = datasets.split_by_writer(femnist.writers, 0.2, seed)
            held_out = femnist.subset(validation_mask & (femnist.labels < 36))
            predictions = classifier.classify(list(held_out.images))
            truth = [datasets.BYCLASS_CLASSES[label] for label in held_out.labels]
            accuracy = float(np.mean([p.label == t for p, t in zip(predictions, truth, strict=True)]))
            print(f"{classifier.name}: digits + capitals of the same held-out writers: {accuracy * 100:.2f}%")

    print()
    prepared = prepare_batch(list(test_set.images))
    batch_seconds = time_call(lambda: digits.probabilities(prepared), repeats=3)
    one = prepared[:1]
    latency_seconds = time_call(lambda: digits.probabilities(one), repeats=300)
    preprocess_seconds = time_call(lambda: prepare_batch(list(test_set.images[:2000])), repeats=1) / 2000
    print(f"throughput, model on prepared batches of 1024: {len(prepared) / batch_seconds:,.0f} chars/s")
    print(f"batch-1 latency, model only (median of 300): {latency_seconds * 1000:.2f} ms")
    print(f"preprocessing (crop, fit, centre) per char: {preprocess_seconds * 1e6:.0f} us")
    print(f"end to end classify() on 10,000 raw images (warm): {10000 / end_to_end_seconds:,.0f} chars/s")


if __name__ == "__main__":
    main()
