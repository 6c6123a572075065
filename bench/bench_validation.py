"""Validation accuracy of model versions, clean and with what a printed box does to handwriting.

Usage:
    python bench/bench_validation.py --kind digits --versions 2,6,11 [--pairs 2+6 6+11]

Reads the kind's validation split (femnist-dev writers held out and MNIST train's hold-out, as
train_model makes them with split seed 0): never data the versions trained on, never MNIST test.
"With box artifacts" applies recognition.engine.preprocess.form_artifacts to every validation image
(fixed seed): a band of stroke lost along a rule or a wall, or a neighbour's stroke at a side, as
the form reader sees characters in comb boxes. Pairs (or larger sets, A+B+C) are scored as the
average of their outputs, which is what `manage.py ensemble_model` builds.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kind", default="digits", choices=("digits", "letters", "alnum"))
    parser.add_argument("--versions", required=True, help="comma-separated versions")
    parser.add_argument("--pairs", nargs="*", default=[], help="A+B (or A+B+C...) sets to score as averages")
    parser.add_argument(
        "--model-dir", type=Path, default=Path(os.environ.get("MODEL_DIR", REPO_ROOT / "models"))
    )
    parser.add_argument("--mnist-dir", type=Path, default=REPO_ROOT / "data" / "mnist")
    parser.add_argument(
        "--femnist-dir", type=Path, default=REPO_ROOT.parent / "shared" / "data" / "femnist-dev"
    )
    arguments = parser.parse_args(argv)

    from recognition.engine import train
    from recognition.engine.classify import load_classifier
    from recognition.engine.preprocess import form_artifacts

    data = train.assemble_data(
        arguments.kind,
        arguments.mnist_dir if arguments.kind != "letters" else None,
        arguments.femnist_dir,
        split_seed=0,
    )
    generator = np.random.default_rng(12345)
    damaged = np.stack([form_artifacts(image[..., 0], generator) for image in data.validation_inputs])[
        ..., None
    ]
    labels = data.validation_labels
    outputs = {}
    for version in arguments.versions.split(","):
        classifier = load_classifier(arguments.kind, arguments.model_dir, version.strip())
        outputs[version.strip()] = (
            classifier.probabilities(data.validation_inputs),
            classifier.probabilities(damaged),
        )

    def line(name: str, clean: np.ndarray, with_artifacts: np.ndarray) -> str:
        clean_errors = int((clean.argmax(axis=1) != labels).sum())
        artifact_errors = int((with_artifacts.argmax(axis=1) != labels).sum())
        return (
            f"{name:>10}  {100 * (1 - clean_errors / len(labels)):6.2f}% ({clean_errors:4d})"
            f"   {100 * (1 - artifact_errors / len(labels)):6.2f}% ({artifact_errors:4d})"
        )

    print(f"{arguments.kind} validation, {len(labels)} characters (errors in brackets)")
    print(f"{'version':>10}  {'clean':>15}   {'with box artifacts':>15}")
    for version, (clean, with_artifacts) in outputs.items():
        print(line(version, clean, with_artifacts))
    for pair in arguments.pairs:
        members = pair.split("+")
        print(
            line(
                pair,
                np.mean([outputs[member][0] for member in members], axis=0),
                np.mean([outputs[member][1] for member in members], axis=0),
            )
        )


if __name__ == "__main__":
    main()
