"""Character images as the form reader cuts them out of comb boxes, with their labels, for training.

Usage:
    python bench/make_form_crops.py --out data/form_crops/digits.npz [--fields 6000] [--seed 1]
                                    [--processes 2]

A model trained only on clean character scans has never seen what a printed box does to
handwriting: a loop whose top lies on the box's rule loses it with the rule (a 9 reads as 7, a 5 as
6), a neighbour's stroke reaches into the cell. preprocess.form_artifacts imitates that; this script
makes the real thing. It draws comb fields of random geometry (4-12 cells, 30-62 px wide, 1.0-1.5
times as tall, rules 1-3 px, printed black to mid gray), writes digits in them with
bench/make_forms.py's pen (the handwriting of the engine's TRAINING split only: MNIST train without
its 5,000 held-out images, femnist-dev training writers), degrades the page like a scan
(make_forms.degrade), warps it back as alignment would, and runs the engine's comb segmentation
(recognition.engine.fields.comb.segment_comb). Every cell the segmentation reads as a character, where
the truth has one, becomes a (28x28 prepared image, label) pair. Nothing from the validation
split, the benchmark's handwriting or MNIST test is used.

train_model --form-crops FILE adds the images to the training set (never to validation).
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.make_forms import degrade, load_handwriting, write_field  # noqa: E402
from recognition.engine.characters.preprocess import prepare_character  # noqa: E402
from recognition.engine.fields.comb import segment_comb  # noqa: E402

DIGITS = "0123456789"


def comb_page(rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """A blank page with one comb field of random geometry; returns (page, field as in a template)."""
    cells = int(rng.integers(4, 13))
    cell_width = int(rng.integers(30, 63))
    height = int(cell_width * rng.uniform(1.0, 1.5))
    thickness = int(rng.integers(1, 4))
    gray = int(rng.integers(0, 121))
    margin_x, margin_y = int(rng.integers(40, 90)), int(rng.integers(40, 90))
    width = cells * cell_width
    page = np.full((height + 2 * margin_y, width + 2 * margin_x), 255, np.uint8)
    x, y = margin_x, margin_y
    cv2.rectangle(page, (x, y), (x + width - 1, y + height - 1), gray, thickness)
    for index in range(1, cells):
        wall = x + round(index * width / cells)
        cv2.line(page, (wall, y), (wall, y + height - 1), gray, thickness)
    field = {"name": "digits", "kind": "digits", "box": [x, y, width, height], "cells": cells}
    return page, field


def field_crops(handwriting, rng: np.random.Generator) -> tuple[list[np.ndarray], list[int]]:
    """Write one random comb field, scan it, align it back, segment it; the labelled character images."""
    page, field = comb_page(rng)
    cells = field["cells"]
    length = cells if rng.random() < 0.7 else int(rng.integers(1, cells + 1))
    text = "".join(DIGITS[index] for index in rng.integers(0, 10, length))
    write_field(page, field, text, handwriting, rng)
    scanned, homography = degrade(page, rng, strength=float(rng.uniform(0.5, 1.0)))
    # Alignment maps the scan back onto the template: the inverse warp, with its resampling.
    aligned = cv2.warpPerspective(
        scanned,
        np.linalg.inv(homography),
        (page.shape[1], page.shape[0]),
        flags=cv2.INTER_LINEAR,
        borderValue=255,
    )
    images, labels = [], []
    for cell, segment in enumerate(segment_comb(aligned, tuple(field["box"]), cells)):
        if segment.kind != "char" or cell >= len(text):
            continue  # a missed character or a speck in an empty cell teaches nothing about shapes
        images.append(np.round(prepare_character(segment.image) * 255).astype(np.uint8))
        labels.append(int(text[cell]))
    return images, labels


def _work(arguments: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    seed, fields = arguments
    cv2.setNumThreads(1)
    handwriting = load_handwriting(split="dev")
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for _ in range(fields):
        field_images, field_labels = field_crops(handwriting, rng)
        images.extend(field_images)
        labels.extend(field_labels)
    return np.array(images, np.uint8).reshape(-1, 28, 28), np.array(labels, np.int64)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True, help="the .npz file to write")
    parser.add_argument("--fields", type=int, default=6000, help="comb fields to write")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    shares = [
        (args.seed * 1000 + index, args.fields // args.processes + (index < args.fields % args.processes))
        for index in range(args.processes)
    ]
    with multiprocessing.get_context("spawn").Pool(args.processes) as pool:
        parts = pool.map(_work, shares)
    images = np.concatenate([part[0] for part in parts])
    labels = np.concatenate([part[1] for part in parts])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        images=images,
        labels=labels,
        classes=np.array(list(DIGITS)),
        source=np.array(f"bench/make_form_crops.py --fields {args.fields} --seed {args.seed}"),
    )
    counts = np.bincount(labels, minlength=10)
    print(
        f"wrote {len(labels)} character images from {args.fields} comb fields to {args.out} "
        f"in {time.perf_counter() - start:.0f} s; per digit {counts.tolist()}"
    )


if __name__ == "__main__":
    main()
