"""Benchmark free-field reading on real crops: the sequence reader, the per-character reader, Tesseract.

Usage:
    python bench/bench_sequences.py [--version N] [--model-dir models] [--data-root ../shared/data]
                                    [--no-characters] [--no-tesseract] [--no-synthetic]

Reads the validation part of each real set (names-dev as `letters`, words-dhsd's held-out writers as
`text`, amounts-dev as `amount`; the training never sees them) and synthetic free fields by held-out
femnist-dev writers (`digits`, `date`, `alnum`). Prints per set: character accuracy (1 - CER), exact
share, the share auto-accepted (confidence >= 0.98) and the error among those, fields per second.
Amounts are compared on their digits (the labels carry no separators). The per-character reader
(segmentation + character CNNs, what free fields used before) and Tesseract 5 (`--psm 7`, the
kind's whitelist; `apt-get install tesseract-ocr`) read the same real crops.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.bench_forms import tesseract_read  # noqa: E402
from recognition.engine.sequences.evaluation import Scored, summarise  # noqa: E402
from recognition.engine.sequences.realdata import REAL_SETS, load_real_set, read_gray  # noqa: E402
from recognition.engine.sequences.report import synthetic_validation  # noqa: E402

HEADER = (
    f"{'set':<22}{'reader':<12}{'fields':>7}{'char acc':>10}{'exact':>8}{'auto':>8}{'wrong/auto':>12}"
    f"{'fields/s':>10}"
)


def row(set_name: str, reader: str, scored: list[Scored], seconds: float | None) -> str:
    figures = summarise(scored)
    speed = f"{len(scored) / seconds:10.1f}" if seconds else f"{'-':>10}"
    wrong = f"{figures['wrong_among_accepted']}/{figures['auto_accepted_fields']}"
    return (
        f"{set_name:<22}{reader:<12}{figures['fields']:>7}{figures['character_accuracy']:>10.2%}"
        f"{figures['exact']:>8.2%}{figures['auto_accepted']:>8.2%}{wrong:>12}{speed}"
    )


def sequence_scores(reader, crops, truths, kind, keys) -> tuple[list[Scored], float]:
    reader.read(crops[:4], [kind] * min(4, len(crops)))  # warm-up: the first call builds the graph
    started = time.perf_counter()
    readings = reader.read(crops, [kind] * len(crops))
    seconds = time.perf_counter() - started
    scored = [
        Scored(key, kind, truth, reading.text, reading.confidence, reading.raw_confidence)
        for key, truth, reading in zip(keys, truths, readings, strict=True)
    ]
    return scored, seconds


def character_scores(form_reader, crops, truths, kind, keys) -> tuple[list[Scored], float]:
    """The per-character reader on whole crops, as recognize_field read free fields before."""
    from recognition.engine.pages.templates import FieldSpec

    scored, started = [], time.perf_counter()
    for key, crop, truth in zip(keys, crops, truths, strict=True):
        height, width = crop.shape
        spec = FieldSpec(name="field", kind=kind, box=(0, 0, width, height), cells=None)
        try:
            field = form_reader.read_fields(crop, [spec], use_sequences=False)[0][0]
            text, confidence = field["text"], field["confidence"]
        except ValueError:
            text, confidence = "", 0.0
        scored.append(Scored(key, kind, truth, text, confidence, confidence))
    return scored, time.perf_counter() - started


def tesseract_scores(crops, truths, kind, keys) -> list[Scored]:
    scored = []
    with tempfile.TemporaryDirectory() as workdir:
        for key, crop, truth in zip(keys, crops, truths, strict=True):
            text = tesseract_read(crop, kind, Path(workdir))
            scored.append(Scored(key, kind, truth, text, 0.0, 0.0))
    return scored


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model-dir", type=Path, default=REPO_ROOT / "models")
    parser.add_argument("--version", default=None, help="sequence version (default: the active one)")
    parser.add_argument("--data-root", type=Path, default=REPO_ROOT.parent / "shared" / "data")
    parser.add_argument("--no-characters", action="store_true", help="skip the per-character reader")
    parser.add_argument("--no-tesseract", action="store_true")
    parser.add_argument("--no-synthetic", action="store_true")
    arguments = parser.parse_args(argv)

    from recognition.engine.fields.reader import FormReader
    from recognition.engine.sequences.reader import load_sequence_reader

    reader = load_sequence_reader(arguments.model_dir, arguments.version)
    print(f"sequence reader: {reader.version_dir}")
    form_reader = None if arguments.no_characters else FormReader(arguments.model_dir)
    tesseract = not arguments.no_tesseract and shutil.which("tesseract") is not None
    if not arguments.no_tesseract and not tesseract:
        print("tesseract: not installed (apt-get install -y tesseract-ocr), comparison skipped")
    print(HEADER)
    for set_name, (_, kind, _, _) in REAL_SETS.items():
        try:
            _, samples = load_real_set(arguments.data_root, set_name)
        except FileNotFoundError:
            print(f"{set_name}: not found under {arguments.data_root}, skipped")
            continue
        crops = [read_gray(sample.path) for sample in samples]
        truths, keys = [sample.text for sample in samples], [sample.path.name for sample in samples]
        label = f"{set_name} ({kind})"
        scored, seconds = sequence_scores(reader, crops, truths, kind, keys)
        print(row(label, "sequence", scored, seconds))
        if form_reader is not None and kind != "text":
            scored, seconds = character_scores(form_reader, crops, truths, kind, keys)
            print(row(label, "characters", scored, seconds))
        if tesseract and kind != "text":
            print(row(label, "tesseract", tesseract_scores(crops, truths, kind, keys), None))
    if not arguments.no_synthetic:
        femnist_dir = arguments.data_root / "femnist-dev"
        for kind, (crops, truths, keys) in synthetic_validation(femnist_dir).items():
            scored, seconds = sequence_scores(reader, crops, truths, kind, keys)
            print(row(f"synthetic ({kind})", "sequence", scored, seconds))
            if form_reader is not None:
                scored, seconds = character_scores(form_reader, crops, truths, kind, keys)
                print(row(f"synthetic ({kind})", "characters", scored, seconds))


if __name__ == "__main__":
    main()
