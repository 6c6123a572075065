"""Learning-loop benchmark: a writer style the model reads badly, N corrections, one retraining.

For N = 50, 100 and 300 corrected characters (entered through the same
service the review screen uses), one retraining runs through a real Celery
worker on the `training` queue; the script prints the style's character
accuracy before and after, the base validation accuracy before and after,
the gate's verdict and the fine-tuning time.

The style (recognition.engine.learning.styles.SLANTED_CONDENSED) is applied to
femnist-dev digits: corrections come from the writers the shipped model was
trained on, the style's test set from the writers it was validated on (never
trained on, and never corrected here).

    .venv/bin/python bench/learning_loop.py [--counts 50 100 300] [--steps 300]

It runs on its own temporary database, media folder, Redis and copy of
models/, so the repository's models are never changed.

With --real it measures the sequence reader on real fields instead: the held-out (validation) part of
names-dev (read as letters) and amounts-dev (amount), as realdata.load_real_set splits them, is halved
by a stable hash; one half is imported with `import_samples`, `retrain --kind KIND` retrains once, and
the other half is read with `recognize_field --kind KIND` before and after. It prints character
accuracy, exact fields and the retraining's time per kind.

    .venv/bin/python bench/learning_loop.py --real [--data-root ../shared/data] [--steps 400]
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

CELL = 40
CELLS_PER_FIELD = 10


@dataclass
class StyleSets:
    """Styled femnist-dev digits (white on black 28x28): a pool to correct and a test set."""

    correction_images: np.ndarray
    correction_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


def style_sets(femnist_dir: Path, style=None, seed: int = 0) -> StyleSets:
    """Split femnist-dev digits by writer as the training command does, then apply the style to both sides."""
    from recognition.engine.characters import datasets
    from recognition.engine.learning import styles

    style = style or styles.SLANTED_CONDENSED
    femnist = datasets.load_femnist_dev(femnist_dir)
    train_mask, validation_mask = datasets.split_by_writer(femnist.writers, 0.2, seed)
    digits = femnist.labels < 10
    pool = femnist.subset(train_mask & digits)
    test = femnist.subset(validation_mask & digits)
    order = np.random.default_rng(seed).permutation(len(pool))
    return StyleSets(
        correction_images=styles.apply_style_batch(pool.images[order], style),
        correction_labels=pool.labels[order],
        test_images=styles.apply_style_batch(test.images, style),
        test_labels=test.labels,
    )


def _png(image: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def demo_template(rows: int):
    """A form of `rows` ten-cell digit fields, stored as a FormTemplate."""
    from recognition.models import FormTemplate
    from recognition.services.templates import template_save

    width, height = CELL * CELLS_PER_FIELD, CELL * rows
    definition = {
        "format": "hwr-form-template/1",
        "name": f"learning-demo-{rows}",
        "image": "blank.png",
        "size": [width, height],
        "fields": [
            {
                "name": f"row_{row:03d}",
                "kind": "digits",
                "box": [0, row * CELL, width, CELL],
                "cells": CELLS_PER_FIELD,
            }
            for row in range(rows)
        ],
    }
    existing = FormTemplate.objects.filter(name=definition["name"]).first()
    if existing:
        return existing
    blank = np.full((height, width), 255, dtype=np.uint8)
    return template_save(definition=definition, image_data=_png(blank), kind=FormTemplate.Kind.FORM)


def enter_corrections(
    *, owner, reviewer, classifier, images: np.ndarray, labels: np.ndarray, wanted: int
) -> int:
    """Read styled characters with `classifier` as a page would be, then correct every misread field.

    Characters are taken in order, ten to a field, until at least `wanted`
    of them were misread; each misread character becomes a training sample
    through services.field_correct, the review screen's service. Returns the
    number of training samples made.
    """
    import cv2
    from django.core.files.base import ContentFile

    from recognition.models import Document, FieldResult, Page, TrainingSample
    from recognition.services.pages import page_store_reading
    from recognition.services.review import field_correct

    # Dark ink on light paper, as a scanned comb field; one character a cell.
    cells = [
        255 - cv2.resize(image, (CELL - 4, CELL - 4), interpolation=cv2.INTER_LINEAR) for image in images
    ]
    predictions = classifier.classify(cells)
    wrong = np.array(
        [prediction.label != str(label) for prediction, label in zip(predictions, labels, strict=True)]
    )
    cumulative = np.cumsum(wrong)
    if cumulative[-1] < wanted:
        raise ValueError(f"only {cumulative[-1]} misread characters in the pool; {wanted} wanted")
    used = int(np.searchsorted(cumulative, wanted) + 1)
    rows = int(np.ceil(used / CELLS_PER_FIELD))
    used = rows * CELLS_PER_FIELD
    template = demo_template(rows)

    page_image = np.full((rows * CELL, CELLS_PER_FIELD * CELL), 255, dtype=np.uint8)
    fields = []
    for row in range(rows):
        chars, truth = [], ""
        for column in range(CELLS_PER_FIELD):
            index = row * CELLS_PER_FIELD + column
            x, y = column * CELL, row * CELL
            page_image[y + 2 : y + CELL - 2, x + 2 : x + CELL - 2] = cells[index]
            prediction = predictions[index]
            chars.append(
                {
                    "text": prediction.label,
                    "confidence": prediction.confidence,
                    "box": [x, y, CELL, CELL],
                    "alternatives": [list(pair) for pair in prediction.alternatives],
                }
            )
            truth += str(labels[index])
        text = "".join(char["text"] for char in chars)
        confidence = min(char["confidence"] for char in chars)
        fields.append(
            ({"name": f"row_{row:03d}", "text": text, "confidence": confidence, "chars": chars}, truth)
        )

    document = Document.objects.create(owner=owner, template=template, name="styled-writer.png")
    page = Page(document=document, number=1, source_name="styled-writer.png")
    page.image.save("styled-writer.png", ContentFile(_png(page_image)), save=True)
    result = {
        "format": "hwr-form-result/1",
        "template": template.name,
        "model": classifier.name,
        "fields": [field for field, _ in fields],
    }
    page_store_reading(page_id=page.pk, result=result, aligned=page_image)
    before = TrainingSample.objects.count()
    for field_row, (field, truth) in zip(
        FieldResult.objects.filter(page=page).order_by("position"), fields, strict=True
    ):
        if field["text"] != truth:
            field_correct(field_id=field_row.pk, user=reviewer, text=truth)
    return TrainingSample.objects.count() - before


def style_accuracy(classifier, images: np.ndarray, labels: np.ndarray) -> float:
    predictions = classifier.classify(list(images))
    return float(
        np.mean(
            [prediction.label == str(label) for prediction, label in zip(predictions, labels, strict=True)]
        )
    )


def wait_for_run(run_id: int, timeout: float):
    from recognition.models import RetrainingRun

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = RetrainingRun.objects.select_related("new_version").get(pk=run_id)
        if run.status in RetrainingRun.FINISHED:
            return run
        time.sleep(0.5)
    raise TimeoutError(f"retraining run {run_id} did not finish in {timeout:.0f} s")


# The real sets measured with --real: (set name in realdata.REAL_SETS, field kind).
REAL_KINDS = (("names", "letters"), ("amounts", "amount"))


def real_halves(data_root: Path, set_name: str) -> tuple[list, list]:
    """(imported, unseen): the set's validation part halved by a stable hash of each file's name."""
    from recognition.engine.sequences.realdata import in_validation, load_real_set

    _, validation = load_real_set(data_root, set_name)
    imported = [sample for sample in validation if in_validation("learning-loop", sample.path.name, 0.5)]
    unseen = [sample for sample in validation if not in_validation("learning-loop", sample.path.name, 0.5)]
    return imported, unseen


def read_with_command(kind: str, samples: list) -> dict:
    """Read crops with `recognize_field --kind KIND` (the active versions) and score them."""
    from django.core.management import call_command

    from recognition.engine.sequences.evaluation import comparable, edit_distance

    out = io.StringIO()
    call_command("recognize_field", "--kind", kind, *[str(sample.path) for sample in samples], stdout=out)
    readings = [line.split("\t")[0] for line in out.getvalue().splitlines()]
    errors = characters = exact = 0
    for sample, reading in zip(samples, readings, strict=True):
        truth, read = comparable(kind, sample.text), comparable(kind, reading)
        errors += edit_distance(truth, read)
        characters += len(truth)
        exact += truth == read
    return {"fields": len(samples), "characters": characters, "errors": errors, "exact": exact}


def real_main(arguments) -> None:
    """Import half of each real held-out set, retrain once per kind, read the other half."""
    from bench.isolated import isolated_site

    model_dir = Path(tempfile.mkdtemp(prefix="hwr-bench-models-")) / "models"
    shutil.copytree(arguments.model_dir, model_dir)
    work, redis = isolated_site(
        "hwr-bench-learning-real-",
        {
            "MODEL_DIR": str(model_dir),
            "DATA_DIR": str(arguments.mnist_root),
            "RETRAIN_SEQUENCE_STEPS": str(arguments.steps),
            "RETRAIN_MIN_SAMPLES": "10",
        },
    )
    from django.contrib.auth.models import User
    from django.core.management import call_command

    User.objects.create_superuser("bench", password="bench")  # noqa: S106 - throwaway database
    call_command("seed_templates", verbosity=0)
    rows = []
    try:
        for set_name, kind in REAL_KINDS:
            imported, unseen = real_halves(arguments.data_root, set_name)
            before = read_with_command(kind, unseen)
            labels = work / f"{set_name}-labels.tsv"
            labels.write_text(
                "".join(f"{sample.path}\t{sample.text}\n" for sample in imported), encoding="utf-8"
            )
            call_command("import_samples", "--kind", kind, "--user", "bench", str(labels))
            out = io.StringIO()
            started = time.monotonic()
            call_command("retrain", "--kind", kind, "--user", "bench", stdout=out)
            seconds = time.monotonic() - started
            print(out.getvalue(), flush=True)
            after = read_with_command(kind, unseen)
            rows.append((set_name, kind, len(imported), before, after, seconds, out.getvalue()))
    finally:
        redis.stop()

    print(f"{'set':<8} {'kind':<8} {'imported':>8} {'unseen':>7} {'chars before':>13} {'after':>8} "
          f"{'errors cut':>11} {'exact before':>13} {'after':>8} {'retrain s':>10}  verdict")  # fmt: skip
    for set_name, kind, count, before, after, seconds, printed in rows:
        verdict = next((line for line in printed.splitlines() if line.startswith("run ")), "")
        cut = 1 - after["errors"] / before["errors"] if before["errors"] else 0.0
        accuracy = [1 - figures["errors"] / figures["characters"] for figures in (before, after)]
        exact = [figures["exact"] / figures["fields"] for figures in (before, after)]
        print(
            f"{set_name:<8} {kind:<8} {count:>8} {before['fields']:>7} "
            f"{accuracy[0]:>13.2%} {accuracy[1]:>8.2%} {cut:>11.0%} "
            f"{exact[0]:>13.2%} {exact[1]:>8.2%} {seconds:>10.0f}  {verdict}"
        )
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(model_dir.parent, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--counts", type=int, nargs="+", default=[50, 100, 300])
    parser.add_argument("--steps", type=int, default=None, help="fine-tuning steps (default 300, --real 400)")
    parser.add_argument(
        "--femnist-dir", type=Path, default=REPO_ROOT.parent / "shared" / "data" / "femnist-dev"
    )
    parser.add_argument("--real", action="store_true", help="the sequence reader on real held-out fields")
    parser.add_argument("--data-root", type=Path, default=REPO_ROOT.parent / "shared" / "data")
    parser.add_argument("--mnist-root", type=Path, default=REPO_ROOT / "data", help="DATA_DIR holding mnist/")
    parser.add_argument("--model-dir", type=Path, default=REPO_ROOT / "models", help="copied, never changed")
    arguments = parser.parse_args()
    if arguments.real:
        arguments.steps = arguments.steps or 400
        real_main(arguments)
        return
    arguments.steps = arguments.steps or 300

    from bench.isolated import isolated_site, start_worker

    model_dir = Path(tempfile.mkdtemp(prefix="hwr-bench-models-")) / "models"
    shutil.copytree(REPO_ROOT / "models", model_dir)
    work, redis = isolated_site(
        "hwr-bench-learning-",
        {
            "MODEL_DIR": str(model_dir),
            "FEMNIST_DIR": str(arguments.femnist_dir),
            "RETRAIN_STEPS": str(arguments.steps),
            "RETRAIN_MIN_SAMPLES": "10",
        },
    )
    from django.contrib.auth.models import User

    from recognition import selectors
    from recognition.engine.characters.classify import load_classifier
    from recognition.models import Document, TrainingSample
    from recognition.services.models import model_promote, model_versions_sync
    from recognition.services.retraining import retraining_request

    model_versions_sync()
    champion = selectors.model_version_active(kind="digits")
    admin = User.objects.create_superuser("bench", password="bench")  # noqa: S106 - throwaway database
    sets = style_sets(arguments.femnist_dir)
    champion_classifier = load_classifier("digits", model_dir, champion.version)
    before = style_accuracy(champion_classifier, sets.test_images, sets.test_labels)
    print(f"champion {champion.name}; style {len(sets.test_labels)} test characters from held-out writers")

    worker = start_worker("training")
    rows = []
    try:
        for count in arguments.counts:
            # Each N starts from the same champion and an empty retraining queue.
            TrainingSample.objects.all().delete()
            Document.objects.all().delete()
            if selectors.model_version_active(kind="digits").pk != champion.pk:
                model_promote(version_id=champion.pk, user=admin, reason="benchmark: next N")
            made = enter_corrections(
                owner=admin,
                reviewer=admin,
                classifier=champion_classifier,
                images=sets.correction_images,
                labels=sets.correction_labels,
                wanted=count,
            )
            run = retraining_request(kind="digits", user=admin)
            run = wait_for_run(run.pk, timeout=1800)
            if run.new_version is None:
                raise SystemExit(f"retraining failed: {run.error}")
            challenger = load_classifier("digits", model_dir, run.new_version.version)
            after = style_accuracy(challenger, sets.test_images, sets.test_labels)
            seconds = (run.finished_at - run.started_at).total_seconds()
            rows.append((count, made, run, after, seconds))
            evaluation = run.evaluation
            print(
                f"N={count}: {made} samples "
                f"({run.samples_trained} trained, {run.samples_held_out} held out); "
                f"style {before:.2%} -> {after:.2%}; "
                f"base {evaluation['champion']['base_accuracy']:.4%} -> "
                f"{evaluation['challenger']['base_accuracy']:.4%}; "
                f"{run.get_status_display()}; {seconds:.0f} s",
                flush=True,
            )
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        redis.stop()

    print()
    print(f"{'N':>5} {'samples':>8} {'style acc before':>17} {'after':>8} {'errors cut':>11} "
          f"{'base before':>12} {'base after':>11} {'change pp':>10} {'retrain s':>10}  verdict")  # fmt: skip
    for count, made, run, after, seconds in rows:
        base_before = run.evaluation["champion"]["base_accuracy"]
        base_after = run.evaluation["challenger"]["base_accuracy"]
        errors_cut = 1 - (1 - after) / (1 - before) if before < 1 else 0.0
        change = (base_after - base_before) * 100
        print(
            f"{count:>5} {made:>8} {before:>17.2%} {after:>8.2%} {errors_cut:>11.0%} {base_before:>12.3%} "
            f"{base_after:>11.3%} {change:>+10.2f} {seconds:>10.0f}  {run.get_status_display()}"
        )
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(model_dir.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
