"""Leave one bank out: fine-tune the sequence reader on one bank's cheque fields, read the other bank's.

Usage:
    python bench/cheque_adaptation.py [--train-bank SYNDICATE|CANARA|ALL] [--from N] [--steps 300]
                                      [--real-replay 400] [--data ../shared/data/cheques-dev]
                                      [--keep DIR]

What a back office gets from its reviewers' corrections on its first cheques: the payee, the amount
in figures and the amount in words of every labelled cheque of the training bank (cut from the page as
the reader cuts them: layout alignment, background and rules cleared, the line of writing) become
whole-field samples; the active sequence version is fine-tuned on them with synthetic replay
(engine.sequences.finetune, the retraining's own settings) and with real training crops of the
names, words and amounts sets replayed beside them (`--real-replay`; without, the German words fell
from 92 % to 83 %); then bench/bench_cheques.py's figures are printed for the other bank's cheques
with the version before and after. Nothing is written under
models/ unless --keep names a model folder to write the fine-tuned version into (calibrated and
measured on the real validation sets as a trained version is); `--train-bank ALL --keep models`
makes the shipped cheque version from every bank's cheques.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.bench_cheques import read_cheques, report  # noqa: E402
from recognition.engine.fields.reader import FormReader, free_field_crops  # noqa: E402
from recognition.engine.pages.load import load_page  # noqa: E402
from recognition.engine.pages.prepare import ink_mask  # noqa: E402
from recognition.engine.pages.templates import resolve_template  # noqa: E402

# A second line of the amount in words with less ink than this share of its crop is blank.
BLANK_LINE_INK = 0.004


def cheque_samples(rows: list[dict], data: Path, template_name: str) -> tuple[list, list[str]]:
    """(crops, texts) of the payee, amount and amount-in-words lines of labelled cheques.

    The amount in words is taken when it fits its first line (the second is blank): the labels do
    not say where a writer broke the line.
    """
    template = resolve_template(template_name)
    reader = FormReader(REPO_ROOT / "models")
    crops, texts = [], []
    for row in rows:
        page = reader.align(template, load_page(data / "images" / row["file"]))
        specs = {spec.name: spec for spec in page.specs}
        labels = {"payee": row["payee"], "amount": row["amount_raw"], "amount_words": row["amount_words"]}
        for name, text in labels.items():
            lines = free_field_crops(page.free_image, specs[name], bands=True)
            if len(lines) > 1 and any(ink_mask(crop)[0].mean() > BLANK_LINE_INK for crop, _ in lines[1:]):
                continue
            crops.append(lines[0][0])
            texts.append(text)
    return crops, texts


def real_replay(data_root: Path, per_set: int, seed: int = 0) -> tuple[list, list[str], list[str]]:
    """(crops, texts, kinds) of up to per_set training crops of each real set (never their validation
    part): replayed beside the cheques so that what the reader knows of other writing stays."""
    from recognition.engine.sequences.realdata import REAL_SETS, load_real_set, read_gray

    random = np.random.default_rng(seed)
    crops, texts, kinds = [], [], []
    for set_name, (_, kind, _, _) in REAL_SETS.items():
        train, _ = load_real_set(data_root, set_name)
        for index in random.permutation(len(train))[:per_set]:
            crops.append(read_gray(train[index].path))
            texts.append(train[index].text)
            kinds.append(kind)
    return crops, texts, kinds


def fine_tuned_version(crops, texts, model_dir: Path, from_version: str, steps: int, replay: tuple) -> str:
    """Fine-tune from_version on the samples into the next version of model_dir; returns its name.

    replay: real crops drawn beside the samples; the samples are repeated so that they are a third of
    what is drawn from the two (the rest of each batch is synthetic replay)."""
    from recognition.engine.learning.versions import next_version
    from recognition.engine.sequences.finetune import (
        MixedFieldFeeder,
        SequenceFineTuneOptions,
        fine_tune_sequence,
        load_network,
        replay_synthesizer,
        write_sequence_version,
    )

    kind_dir = model_dir / "sequence"
    options = SequenceFineTuneOptions(steps=steps, time_budget_s=3600)
    kinds = ["text"] * len(crops)
    model = load_network(kind_dir / from_version)
    synthesizer = replay_synthesizer(REPO_ROOT / "data" / "mnist", options.seed, texts, kinds)
    real_crops, real_texts, real_kinds = replay
    repeats = max(1, -(-len(real_crops) // (2 * max(len(crops), 1))))
    feeder = MixedFieldFeeder(
        list(crops) * repeats + list(real_crops),
        list(texts) * repeats + list(real_texts),
        kinds * repeats + list(real_kinds),
        synthesizer,
        options,
    )
    history = fine_tune_sequence(model, feeder, options)
    card = json.loads((kind_dir / from_version / "card.json").read_text(encoding="utf-8"))
    for trained_only in ("best_epoch", "epochs", "steps_per_epoch", "training_time_s"):
        card.pop(trained_only, None)
    card.update(
        {
            "version": next_version(kind_dir),
            "from": from_version,
            "history": history,
            "fine_tune": options.as_dict(),
            "command": " ".join(["python", *sys.argv]),
            "training_time_s": history["seconds"],
            "samples": len(crops),
            "real_replay": len(replay[0]),
        }
    )
    write_sequence_version(model, card, kind_dir / card["version"])
    return card["version"]


def scratch_models(model_dir: Path) -> Path:
    """A copy of the model folder for the experiment (the sequence kind copied, the rest linked)."""
    scratch = Path(tempfile.mkdtemp(prefix="cheque-adaptation-"))
    for kind in model_dir.iterdir():
        if kind.name == "sequence":
            shutil.copytree(kind, scratch / kind.name, symlinks=True)
        else:
            (scratch / kind.name).symlink_to(kind.resolve(), target_is_directory=kind.is_dir())
    return scratch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--train-bank", default="SYNDICATE", help="a bank's name, or ALL (nothing is measured)"
    )
    parser.add_argument("--from", dest="from_version", help="sequence version (default: the active one)")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument(
        "--real-replay", type=int, default=400, help="training crops of each real set replayed (0: none)"
    )
    parser.add_argument("--data", type=Path, default=REPO_ROOT.parent / "shared" / "data" / "cheques-dev")
    parser.add_argument("--template", default="cheque-cts2010")
    parser.add_argument("--keep", type=Path, help="write the fine-tuned version into this model folder")
    args = parser.parse_args()
    from recognition.engine.characters.classify import resolve_version
    from recognition.engine.sequences.report import finish_version

    model_dir = REPO_ROOT / "models"
    from_version = args.from_version or resolve_version("sequence", model_dir, None)
    rows = list(csv.DictReader((args.data / "labels.tsv").open(encoding="utf-8"), delimiter="\t"))
    every_bank = args.train_bank.upper() == "ALL"
    train_rows = [row for row in rows if every_bank or args.train_bank.upper() in row["bank"].upper()]
    measure_banks = sorted({row["bank"] for row in rows} - {row["bank"] for row in train_rows})
    crops, texts = cheque_samples(train_rows, args.data, args.template)
    print(
        f"{len(crops)} samples from {len(train_rows)} cheques of {args.train_bank}; "
        f"from sequence@{from_version}"
    )
    scratch = scratch_models(model_dir)
    try:
        replay = real_replay(args.data.parent, args.real_replay) if args.real_replay else ([], [], [])
        version = fine_tuned_version(crops, texts, scratch, from_version, args.steps, replay)
        for bank in measure_banks:
            for label, model_folder, chosen in (
                ("before", model_dir, from_version),
                ("after", scratch, version),
            ):
                bench_args = argparse.Namespace(
                    template=args.template, data=args.data, model_dir=model_folder, version=chosen, bank=bank
                )
                report(f"{bank}, sequence@{chosen} ({label})", read_cheques(bench_args))
        if args.keep:
            kept = args.keep / "sequence" / version
            shutil.copytree(scratch / "sequence" / version, kept)
            # Its own calibration and validation figures, as a trained version gets them.
            finish_version(kept, args.data.parent, args.data.parent / "femnist-dev")
            print(f"kept as {kept}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
