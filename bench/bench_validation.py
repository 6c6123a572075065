"""Validation accuracy of model versions: clean, with what a printed box does, and scanned.

Usage:
    python bench/bench_validation.py --kind digits --versions 2,7,12 [--pairs 2+12 7+12]

Reads the kind's validation split (femnist-dev writers held out and MNIST train's hold-out, as
train_model makes them with split seed 0): never data the versions trained on, never MNIST test.
"With box artifacts" applies recognition.engine.characters.preprocess.form_artifacts to every validation image
(fixed seed): a band of stroke lost along a rule or a wall, or a neighbour's stroke at a side, as
the form reader sees characters in comb boxes. "Scanned" applies preprocess.scanned_stroke (solid
pen strokes blurred by a scanner, fixed seed), which train_model --scan-blur trains with. Pairs
(or larger sets, A+B+C) are scored as the average of their outputs, which is what
`manage.py ensemble_model` builds.
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

    from recognition.engine.characters.classify import load_classifier
    from recognition.engine.characters.preprocess import form_artifacts, scanned_stroke
    from recognition.engine.learning import train

    data = train.assemble_data(
        arguments.kind,
        arguments.mnist_dir if arguments.kind != "letters" else None,
        arguments.femnist_dir,
        split_seed=0,
    )
    images = data.validation_inputs[..., 0]
    conditions = {"clean": data.validation_inputs}
    for name, change, seed in (
        ("with box artifacts", form_artifacts, 12345),
        ("scanned", scanned_stroke, 54321),
    ):
        generator = np.random.default_rng(seed)
        conditions[name] = np.stack([change(image, generator) for image in images])[..., None]
    labels = data.validation_labels
    outputs = {}
    for version in arguments.versions.split(","):
        classifier = load_classifier(arguments.kind, arguments.model_dir, version.strip())
        outputs[version.strip()] = [classifier.probabilities(inputs) for inputs in conditions.values()]

    def line(name: str, probabilities: list[np.ndarray]) -> str:
        cells = []
        for output in probabilities:
            errors = int((output.argmax(axis=1) != labels).sum())
            cells.append(f"{100 * (1 - errors / len(labels)):11.2f}% ({errors:4d})")
        return f"{name:>10}" + "".join(cells)

    print(f"{arguments.kind} validation, {len(labels)} characters (errors in brackets)")
    print(f"{'version':>10}" + "".join(f"{name:>19}" for name in conditions))
    for version, probabilities in outputs.items():
        print(line(version, probabilities))
    for pair in arguments.pairs:
        members = pair.split("+")
        averaged = [
            np.mean([outputs[member][index] for member in members], axis=0)
            for index in range(len(conditions))
        ]
        print(line(pair, averaged))


if __name__ == "__main__":
    main()
