"""Draw the bundled form templates and generate filled, scanned-looking pages with their truth.

Usage:
    python bench/make_forms.py --write-templates   # (re)draw recognition/forms_data/{check,sample_form}
    python bench/make_forms.py --out /tmp/forms --count 50 --seed 7 [--templates check,sample_form]

Handwriting comes from MNIST training digits (settings DATA_DIR/mnist, `python manage.py fetch_data
mnist`) when present, else femnist-dev digits, and femnist-dev capitals for letters. Pages are degraded
like a scanner or phone photo: shifted, scaled 0.8-1.1x, rotated a few degrees, slightly skewed in
perspective, unevenly lit, blurred, noisy and JPEG-compressed. Same seed, same pages.
"""

from __future__ import annotations

import argparse
import calendar
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from recognition.engine.characters.datasets import load_femnist_dev, load_mnist, split_by_writer, split_random  # noqa: E402

FORMS_DATA_DIR = REPO_ROOT / "recognition" / "forms_data"
FEMNIST_DIR = Path(os.environ.get("FEMNIST_DIR", REPO_ROOT.parent / "shared" / "data" / "femnist-dev"))
DATA_DIR = Path(os.environ.get("DATA_DIR", REPO_ROOT / "data"))

PRINT_GRAY = 40  # printed lines and text: dark gray, like toner
FONT = cv2.FONT_HERSHEY_SIMPLEX
FONT_SERIF = cv2.FONT_HERSHEY_COMPLEX

SURNAMES = [
    "MARTIN",
    "BERNARD",
    "DUBOIS",
    "THOMAS",
    "ROBERT",
    "RICHARD",
    "PETIT",
    "DURAND",
    "LEROY",
    "MOREAU",
    "SIMON",
    "LAURENT",
    "LEFEBVRE",
    "MICHEL",
    "GARCIA",
    "DAVID",
    "BERTRAND",
    "ROUX",
    "VINCENT",
    "FOURNIER",
    "MOREL",
    "GIRARD",
    "ANDRE",
    "MERCIER",
    "BLANC",
    "GUERIN",
    "BOYER",
    "GARNIER",
    "CHEVALIER",
    "FRANCOIS",
    "LEGRAND",
    "GAUTHIER",
    "PERRIN",
    "ROBIN",
    "CLEMENT",
    "MORIN",
    "NICOLAS",
    "HENRY",
    "ROUSSEAU",
    "MATHIEU",
    "SMITH",
    "JOHNSON",
    "WILLIAMS",
    "BROWN",
    "JONES",
    "MILLER",
    "DAVIS",
    "WILSON",
    "ANDERSON",
    "TAYLOR",
    "MOORE",
    "JACKSON",
    "WHITE",
    "HARRIS",
    "LEWIS",
    "WALKER",
    "YOUNG",
    "ALLEN",
    "KING",
    "WRIGHT",
    "SCOTT",
    "GREEN",
    "BAKER",
    "ADAMS",
    "NELSON",
    "HILL",
    "CAMPBELL",
    "MITCHELL",
    "CARTER",
]
FIRST_NAMES = [
    "ANNA",
    "JEAN",
    "MARIE",
    "PAUL",
    "LUCAS",
    "EMMA",
    "HUGO",
    "LEA",
    "LOUIS",
    "CHLOE",
    "JULES",
    "INES",
    "ADAM",
    "ZOE",
    "NOAH",
    "JADE",
    "ETHAN",
    "ALICE",
    "OSCAR",
    "ROSE",
    "JAMES",
    "MARY",
    "JOHN",
    "LINDA",
    "PETER",
    "SARAH",
    "DAVID",
    "KAREN",
    "MARK",
    "NANCY",
    "KEVIN",
    "LAURA",
    "OLIVER",
    "GRACE",
]


# --------------------------------------------------------------------------- templates


def _text(image, text, origin, scale=0.8, thickness=2, font=FONT, gray=PRINT_GRAY):
    cv2.putText(image, text, origin, font, scale, gray, thickness, cv2.LINE_AA)


def _comb(image, box, cells, thickness=2):
    x, y, width, height = box
    cv2.rectangle(image, (x, y), (x + width - 1, y + height - 1), PRINT_GRAY, thickness)
    for index in range(1, cells):
        wall = x + round(index * width / cells)
        cv2.line(image, (wall, y), (wall, y + height - 1), PRINT_GRAY, thickness)


def draw_check_template() -> tuple[np.ndarray, dict]:
    """A bank check, 6 x 2.8 inches at 200 dpi: payee line, date in 8 boxes, courtesy amount box."""
    width, height = 1200, 560
    image = np.full((height, width), 255, np.uint8)
    # A light security band and a border give the aligner printed structure far from the fields.
    cv2.rectangle(image, (8, 8), (width - 9, height - 9), PRINT_GRAY, 3)
    cv2.rectangle(image, (16, 16), (width - 17, height - 17), 150, 1)
    _text(image, "OPEN BANK OF EXAMPLE", (40, 62), 1.0, 2, FONT_SERIF)
    _text(image, "12 Harbour Street, Portsmouth", (40, 92), 0.55, 1)
    cv2.circle(image, (1120, 70), 34, PRINT_GRAY, 3)
    _text(image, "OB", (1094, 82), 1.0, 2, FONT_SERIF)
    _text(image, "No 004217", (830, 62), 0.7, 2)
    _text(image, "DATE", (612, 150), 0.7, 2)
    date_box = [700, 112, 400, 60]
    _comb(image, date_box, 8)
    for index, hint in enumerate("DDMMYYYY"):
        _text(image, hint, (date_box[0] + index * 50 + 18, 190), 0.45, 1, gray=120)
    _text(image, "PAY TO THE", (40, 232), 0.6, 2)
    _text(image, "ORDER OF", (40, 258), 0.6, 2)
    payee_box = [190, 196, 640, 74]
    cv2.line(image, (190, 266), (830, 266), PRINT_GRAY, 2)
    _text(image, "$", (858, 262), 1.6, 3, FONT_SERIF)
    amount_box = [900, 200, 260, 76]
    cv2.rectangle(image, (900, 200), (1159, 275), PRINT_GRAY, 2)
    cv2.line(image, (40, 340), (1000, 340), PRINT_GRAY, 2)
    _text(image, "DOLLARS", (1020, 342), 0.7, 2)
    _text(image, "MEMO", (40, 440), 0.6, 2)
    cv2.line(image, (110, 442), (520, 442), PRINT_GRAY, 1)
    cv2.line(image, (700, 442), (1150, 442), PRINT_GRAY, 2)
    _text(image, "AUTHORIZED SIGNATURE", (790, 468), 0.5, 1)
    _text(image, "C004217C  A123456780A  0012345678C", (90, 520), 0.9, 2, cv2.FONT_HERSHEY_PLAIN)
    template = {
        "format": "hwr-form-template/1",
        "name": "check",
        "image": "check.png",
        "size": [width, height],
        "fields": [
            {"name": "payee", "kind": "letters", "box": payee_box, "cells": None},
            {"name": "date", "kind": "date", "box": date_box, "cells": 8},
            {"name": "amount", "kind": "amount", "box": amount_box, "cells": None},
        ],
    }
    return image, template


def draw_sample_form_template() -> tuple[np.ndarray, dict]:
    """A one-page account form, A4 at 100 dpi, with about 90 characters in comb and free fields."""
    width, height = 827, 1169
    image = np.full((height, width), 255, np.uint8)
    cv2.rectangle(image, (30, 30), (width - 31, 120), PRINT_GRAY, 3)
    _text(image, "ACCOUNT OPENING FORM", (50, 80), 1.0, 2, FONT_SERIF)
    _text(image, "Please write one capital letter or digit per box", (50, 108), 0.5, 1)
    cv2.rectangle(image, (690, 45), (780, 105), PRINT_GRAY, -1)
    _text(image, "HW", (706, 87), 1.0, 3, FONT_SERIF, gray=255)
    cell = 42
    rows = [
        ("account_number", "digits", 10, "Account number"),
        ("surname", "letters", 12, "Surname"),
        ("first_name", "letters", 10, "First name"),
        ("birth_date", "date", 8, "Birth date (DDMMYYYY)"),
        ("phone", "digits", 10, "Phone"),
        ("postcode", "digits", 5, "Postcode"),
        ("id_number", "digits", 12, "ID number"),
        ("reference", "alnum", 8, "Reference"),
    ]
    fields = []
    top = 170
    for name, kind, cells, label in rows:
        _text(image, label, (50, top - 10), 0.6, 1)
        box = [50, top, cells * cell, 52]
        _comb(image, box, cells)
        fields.append({"name": name, "kind": kind, "box": box, "cells": cells})
        top += 100
    _text(image, "Amount to deposit", (50, top - 10), 0.6, 1)
    amount_box = [50, top, 360, 70]
    cv2.rectangle(image, (50, top), (409, top + 69), PRINT_GRAY, 2)
    _text(image, "EUR", (425, top + 45), 0.8, 2)
    fields.append({"name": "amount", "kind": "amount", "box": amount_box, "cells": None})
    top += 120
    _text(image, "Signature", (50, top + 40), 0.6, 1)
    cv2.line(image, (160, top + 42), (500, top + 42), PRINT_GRAY, 1)
    for line, text in enumerate(
        (
            "I confirm the information above is correct.",
            "Office use only:  checked [ ]  entered [ ]",
            "Form HW-17 rev 3  -  keep a copy for your records",
        )
    ):
        _text(image, text, (50, top + 110 + line * 34), 0.55, 1)
    cv2.rectangle(image, (560, 1010), (780, 1120), PRINT_GRAY, 2)
    _text(image, "STAMP", (625, 1072), 0.7, 2)
    template = {
        "format": "hwr-form-template/1",
        "name": "sample_form",
        "image": "sample_form.png",
        "size": [width, height],
        "fields": fields,
    }
    return image, template


TEMPLATE_DRAWERS = {"check": draw_check_template, "sample_form": draw_sample_form_template}


def write_templates(directory: Path = FORMS_DATA_DIR) -> dict[str, Path]:
    """Draw each bundled template into directory/<name>/<name>.{png,json}; returns the JSON paths."""
    paths = {}
    for name, draw in TEMPLATE_DRAWERS.items():
        image, template = draw()
        folder = directory / name
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"{name}.png"), image, [cv2.IMWRITE_PNG_COMPRESSION, 9])
        (folder / f"{name}.json").write_text(json.dumps(template, indent=2) + "\n")
        paths[name] = folder / f"{name}.json"
    return paths


# --------------------------------------------------------------------------- handwriting


@dataclass
class Handwriting:
    """Character images (28x28, white ink on black) by character."""

    by_char: dict[str, np.ndarray]
    source: str
    # Index in by_char[char] of every glyph sampled, in order (make_page records them in the truth).
    drawn: list[int] = field(default_factory=list)

    def sample(self, char: str, rng: np.random.Generator) -> np.ndarray:
        pool = self.by_char[char]
        index = int(rng.integers(len(pool)))
        self.drawn.append(index)
        return pool[index]


def load_handwriting(
    data_dir: Path = DATA_DIR, femnist_dir: Path = FEMNIST_DIR, split: str = "all", digits: str = "mnist"
) -> Handwriting:
    """Digits from MNIST training images when fetched (else femnist-dev), capitals from femnist-dev.

    split 'bench' takes only the characters the engine's training held out for validation (the same
    split as recognition.engine.learning.train: femnist-dev by writer, 20 %, seed 0; MNIST train 5,000 at
    random, seed 0), so the benchmark reads handwriting the models never trained on; 'dev' takes the
    rest; 'all' takes everything (demo samples). digits 'nist' writes the digits with femnist-dev's
    NIST writers instead of MNIST (with 'bench': 24 writers none of the models trained on).
    """
    if digits not in ("mnist", "nist"):
        raise ValueError(f"digits must be 'mnist' or 'nist', not {digits!r}")
    femnist = load_femnist_dev(femnist_dir)
    femnist_train, femnist_held_out = split_by_writer(femnist.writers, 0.2, 0)
    femnist_keep = {"all": np.ones(len(femnist), bool), "dev": femnist_train, "bench": femnist_held_out}[
        split
    ]
    by_char: dict[str, np.ndarray] = {}
    for label in range(10, 36):
        by_char[femnist.classes[label]] = femnist.images[femnist_keep & (femnist.labels == label)]
    source = f"femnist-dev capitals ({split})"
    mnist = None
    if digits == "mnist":
        try:
            mnist = load_mnist(data_dir / "mnist", "train")
        except (FileNotFoundError, ValueError):
            mnist = None  # not fetched: the femnist-dev digits stand in
    if mnist is not None:
        mnist_train, mnist_held_out = split_random(len(mnist), 5000 / len(mnist), 0)
        keep = {"all": np.ones(len(mnist), bool), "dev": mnist_train, "bench": mnist_held_out}[split]
        for digit in range(10):
            by_char[str(digit)] = mnist.images[keep & (mnist.labels == digit)]
        source = f"MNIST training digits ({split}), " + source
    else:
        for digit in range(10):
            by_char[str(digit)] = femnist.images[femnist_keep & (femnist.labels == digit)]
        source = f"femnist-dev digits and capitals ({split})"
    return Handwriting(by_char, source)


def _ink_crop(glyph: np.ndarray) -> np.ndarray:
    rows = np.flatnonzero(glyph.max(axis=1) > 40)
    columns = np.flatnonzero(glyph.max(axis=0) > 40)
    if len(rows) == 0:
        return glyph
    return glyph[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1]


def _scaled_glyph(glyph: np.ndarray, height: int, rng: np.random.Generator) -> np.ndarray:
    """Crop a glyph to its ink and scale it to `height` pixels, with a little slant and stroke jitter."""
    glyph = _ink_crop(glyph)
    glyph_height, glyph_width = glyph.shape
    width = max(2, round(glyph_width * height / glyph_height * rng.uniform(0.9, 1.1)))
    scaled = cv2.resize(glyph, (width, height), interpolation=cv2.INTER_CUBIC)
    # A pen leaves solid strokes: the faint grey edges of the 28x28 scans become ink.
    scaled = np.clip(scaled.astype(np.float32) * 1.6, 0, 255).astype(np.uint8)
    slant = rng.uniform(-0.15, 0.15)
    if abs(slant) > 0.02:
        pad = int(abs(slant) * height) + 1
        matrix = np.float32([[1, slant, pad - (slant * height if slant > 0 else 0)], [0, 1, 0]])
        scaled = cv2.warpAffine(scaled, matrix, (width + pad * 2, height))
        scaled = _ink_crop(scaled) if scaled.max() > 40 else scaled
    return scaled


def _stamp(page: np.ndarray, glyph: np.ndarray, x: int, y: int, ink_darkness: float) -> None:
    """Draw white-on-black glyph as dark ink on the page, with its top left corner at (x, y)."""
    height, width = glyph.shape
    page_height, page_width = page.shape
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + width, page_width), min(y + height, page_height)
    if x1 <= x0 or y1 <= y0:
        return
    part = glyph[y0 - y : y1 - y, x0 - x : x1 - x].astype(np.float32) / 255.0
    region = page[y0:y1, x0:x1].astype(np.float32)
    # Ink multiplies the paper: overlapping strokes and printed lines stay dark.
    page[y0:y1, x0:x1] = np.clip(region * (1 - part * ink_darkness), 0, 255).astype(np.uint8)


def _decimal_mark(separator: str, char_height: int, rng: np.random.Generator) -> np.ndarray:
    """A hand-drawn decimal point (a dot) or comma (a dot with a tail down to the left), white on black."""
    radius = max(2, round(char_height * rng.uniform(0.05, 0.08)))
    thickness = max(2, round(char_height * 0.07))
    if separator == ".":
        glyph = np.zeros((radius * 2 + 3, radius * 2 + 3), np.uint8)
        cv2.circle(glyph, (radius + 1, radius + 1), radius, 255, -1, cv2.LINE_AA)
        return glyph
    length = round(char_height * rng.uniform(0.25, 0.35))
    glyph = np.zeros((length + radius * 2, length // 2 + radius * 2 + 4), np.uint8)
    top = (glyph.shape[1] - radius - 2, radius + 1)
    cv2.circle(glyph, top, radius, 255, -1, cv2.LINE_AA)
    cv2.line(glyph, top, (radius, glyph.shape[0] - 2), 255, thickness, cv2.LINE_AA)
    return glyph


# --------------------------------------------------------------------------- field texts


def random_field_text(field: dict, rng: np.random.Generator, full: bool = False) -> str:
    """Plausible content for a field: what a person would write there.

    full: every box of a comb field is written (digits to length, names padded with random
    capitals), the busiest page a form can be, for speed measurements.
    """
    kind, cells = field["kind"], field["cells"]
    if full and cells and kind in ("digits", "letters"):
        alphabet = "0123456789" if kind == "digits" else "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        return "".join(alphabet[index] for index in rng.integers(0, len(alphabet), cells))
    if kind == "date":
        year = int(rng.integers(1940, 2031))
        month = int(rng.integers(1, 13))
        day = int(rng.integers(1, calendar.monthrange(year, month)[1] + 1))
        return f"{day:02d}{month:02d}{year:04d}"
    if kind == "digits":
        length = cells if cells and rng.random() < 0.8 else int(rng.integers(3, (cells or 8) + 1))
        return "".join(str(digit) for digit in rng.integers(0, 10, length))
    if kind == "alnum":
        alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        length = cells or 8
        return "".join(alphabet[index] for index in rng.integers(0, len(alphabet), length))
    if kind == "letters":
        names = FIRST_NAMES if "first" in field["name"] else SURNAMES
        if cells:
            choices = [name for name in names if len(name) <= cells]
            return choices[rng.integers(len(choices))]
        # A free letters field (a check's payee): first name and surname.
        return f"{FIRST_NAMES[rng.integers(len(FIRST_NAMES))]} {SURNAMES[rng.integers(len(SURNAMES))]}"
    if kind == "amount":
        whole = str(int(rng.integers(1, 10 ** int(rng.integers(1, 5)))))
        if rng.random() < 0.3:
            return whole
        separator = "." if rng.random() < 0.6 else ","
        return f"{whole}{separator}{int(rng.integers(0, 100)):02d}"
    raise ValueError(f"unknown field kind {kind!r}")


def write_field(page: np.ndarray, field: dict, text: str, handwriting: Handwriting, rng: np.random.Generator):
    """Write text in a field of a blank page (template coordinates), like a person with a pen."""
    x, y, width, height = field["box"]
    ink = rng.uniform(0.75, 0.95)
    if field["cells"]:
        cell_width = width / field["cells"]
        for index, char in enumerate(text):
            glyph_height = int(height * rng.uniform(0.6, 0.8))
            glyph = _scaled_glyph(handwriting.sample(char, rng), glyph_height, rng)
            glyph_width = min(glyph.shape[1], int(cell_width * 1.05))
            glyph = cv2.resize(glyph, (glyph_width, glyph_height)) if glyph.shape[1] != glyph_width else glyph
            center_x = x + (index + 0.5) * cell_width + rng.uniform(-0.12, 0.12) * cell_width
            center_y = y + height / 2 + rng.uniform(-0.1, 0.1) * height
            _stamp(page, glyph, int(center_x - glyph_width / 2), int(center_y - glyph_height / 2), ink)
        return
    # Free writing: a baseline, characters side by side with irregular gaps, sometimes touching.
    glyph_height = int(height * rng.uniform(0.5, 0.68))
    start = x + int(rng.uniform(0.04, 0.12) * width)
    pieces = []  # (char, glyph or None, gap after)
    for char in text:
        if char == " ":
            pieces.append((char, None, int(glyph_height * rng.uniform(0.9, 1.3))))
        elif char in ".,":
            pieces.append((char, _decimal_mark(char, glyph_height, rng), int(glyph_height * 0.15)))
        else:
            size = int(glyph_height * rng.uniform(0.92, 1.08))
            glyph = _scaled_glyph(handwriting.sample(char, rng), size, rng)
            pieces.append((char, glyph, int(glyph_height * rng.uniform(-0.04, 0.3))))
    # People write smaller when the text is long, so it fits the box.
    natural = sum((0 if glyph is None else glyph.shape[1]) + gap for _, glyph, gap in pieces)
    shrink = min(1.0, (x + width * 0.95 - start) / max(natural, 1))
    baseline = y + int(height * 0.5 + glyph_height * shrink / 2 + rng.uniform(-0.06, 0.06) * height)
    cursor = start
    for char, glyph, gap in pieces:
        gap = int(gap * shrink)
        if glyph is None:
            cursor += gap
            continue
        if shrink < 1.0:
            size = (max(2, int(glyph.shape[1] * shrink)), max(2, int(glyph.shape[0] * shrink)))
            glyph = cv2.resize(glyph, size, interpolation=cv2.INTER_AREA)
        if char in ".,":
            cursor += int(glyph_height * 0.12 * shrink)
            # A point sits on the baseline; a comma starts there and hangs below it.
            top = baseline - glyph.shape[0] if char == "." else baseline - int(glyph_height * 0.14 * shrink)
        else:
            top = baseline - glyph.shape[0] + int(rng.uniform(-0.05, 0.05) * glyph.shape[0])
        _stamp(page, glyph, cursor, top, ink)
        cursor += glyph.shape[1] + gap


# --------------------------------------------------------------------------- scanning


def degrade(
    page: np.ndarray, rng: np.random.Generator, strength: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Make a clean page look scanned or photographed; returns (image, homography template -> image)."""
    height, width = page.shape
    scale = rng.uniform(0.8, 1.1)
    angle = np.deg2rad(rng.uniform(-3, 3) * strength)
    corners = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
    # Perspective: each corner moves independently by up to 1.5 % of the page size.
    jitter = rng.uniform(-0.015, 0.015, (4, 2)) * np.float32([width, height]) * strength
    center = np.float32([width / 2, height / 2])
    rotation = np.float32([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = ((corners + jitter - center) @ rotation.T) * scale
    margin = np.float32([rng.uniform(0.02, 0.06) * width, rng.uniform(0.02, 0.06) * height])
    moved = moved - moved.min(axis=0) + margin
    out_width = int(moved[:, 0].max() + rng.uniform(0.02, 0.06) * width)
    out_height = int(moved[:, 1].max() + rng.uniform(0.02, 0.06) * height)
    homography = cv2.getPerspectiveTransform(corners, moved.astype(np.float32))
    background = int(rng.uniform(200, 250))
    image = cv2.warpPerspective(
        page, homography, (out_width, out_height), flags=cv2.INTER_LINEAR, borderValue=background
    ).astype(np.float32)
    # Uneven light: a smooth gradient across the page, like a phone photo or a lifted scanner lid.
    ys, xs = np.mgrid[0:out_height, 0:out_width].astype(np.float32)
    direction = rng.uniform(-1, 1, 2)
    gradient = (xs / out_width - 0.5) * direction[0] + (ys / out_height - 0.5) * direction[1]
    image *= 1.0 - 0.25 * strength * (gradient - gradient.min()) / max(np.ptp(gradient), 1e-6)
    image = image * rng.uniform(0.85, 1.0) + rng.uniform(0, 20)  # paper tint and contrast
    sigma = rng.uniform(0.3, 1.1) * strength
    if sigma > 0.25:
        image = cv2.GaussianBlur(image, (0, 0), sigma)
    image += rng.normal(0, rng.uniform(2, 7) * strength, image.shape).astype(np.float32)
    image = np.clip(image, 0, 255).astype(np.uint8)
    quality = int(rng.integers(55, 92))
    _, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    image = cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)
    return image, homography


def make_page(
    template_image: np.ndarray,
    template: dict,
    handwriting: Handwriting,
    rng: np.random.Generator,
    strength: float = 1.0,
    texts: dict[str, str] | None = None,
    full: bool = False,
) -> tuple[np.ndarray, dict]:
    """Fill a blank template with handwriting and scan it; returns (page image, truth)."""
    page = template_image.copy()
    truth_fields = []
    for spec in template["fields"]:
        text = (texts or {}).get(spec["name"])
        if text is None:
            text = random_field_text(spec, rng, full)
        handwriting.drawn.clear()
        write_field(page, spec, text, handwriting, rng)
        # Which handwriting sample wrote each character (not separators or spaces): lets a benchmark
        # tell errors the page caused from glyphs the model misreads even on their own.
        truth_fields.append(
            {"name": spec["name"], "kind": spec["kind"], "text": text, "glyphs": list(handwriting.drawn)}
        )
    scanned, homography = degrade(page, rng, strength)
    truth = {
        "template": template["name"],
        "fields": truth_fields,
        "homography_template_to_page": homography.tolist(),
    }
    return scanned, truth


def generate(
    out_dir: Path,
    count: int,
    seed: int,
    template_names: list[str],
    split: str,
    full: bool = False,
    handwriting: Handwriting | None = None,
) -> list[Path]:
    """Write count pages per template as JPEG plus <stem>.truth.json; returns the page paths.

    full: every comb box written (see random_field_text). handwriting: the split's, if the caller
    has loaded it already.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    handwriting = handwriting or load_handwriting(split=split)
    rng = np.random.default_rng(seed)
    written = []
    for name in template_names:
        template_image, template = TEMPLATE_DRAWERS[name]()
        for index in range(count):
            image, truth = make_page(template_image, template, handwriting, rng, full=full)
            stem = f"{name}-{seed}-{index:04d}"
            cv2.imwrite(str(out_dir / f"{stem}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 92])
            (out_dir / f"{stem}.truth.json").write_text(json.dumps(truth, indent=1) + "\n")
            written.append(out_dir / f"{stem}.jpg")
    print(f"wrote {len(written)} pages to {out_dir} (handwriting: {handwriting.source}, seed {seed})")
    return written


def write_samples(seed: int = 2024) -> None:
    """One filled sample page per bundled template, for the run command's demo (PNG + truth JSON)."""
    samples = FORMS_DATA_DIR / "samples"
    samples.mkdir(parents=True, exist_ok=True)
    handwriting = load_handwriting(split="all")
    rng = np.random.default_rng(seed)
    for name, draw in TEMPLATE_DRAWERS.items():
        template_image, template = draw()
        image, truth = make_page(template_image, template, handwriting, rng, strength=0.7)
        cv2.imwrite(str(samples / f"{name}-filled.png"), image, [cv2.IMWRITE_PNG_COMPRESSION, 9])
        (samples / f"{name}-filled.truth.json").write_text(json.dumps(truth, indent=1) + "\n")
    print(f"wrote samples to {samples} (handwriting: {handwriting.source})")


DIGITS_HELP = "whose digits: MNIST training images, or femnist-dev's NIST writers"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--write-templates", action="store_true", help="redraw the bundled templates")
    parser.add_argument("--write-samples", action="store_true", help="redraw the bundled sample pages")
    parser.add_argument("--out", type=Path, help="folder for generated pages")
    parser.add_argument("--count", type=int, default=20, help="pages per template")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--templates", default="check,sample_form")
    parser.add_argument(
        "--split", choices=("dev", "bench", "all"), default="dev", help="which half of the handwriting to use"
    )
    parser.add_argument("--digits", choices=("mnist", "nist"), default="mnist", help=DIGITS_HELP)
    args = parser.parse_args(argv)
    if args.write_templates:
        for name, path in write_templates().items():
            print(f"template {name}: {path}")
    if args.write_samples:
        write_samples()
    if args.out:
        names = [name.strip() for name in args.templates.split(",") if name.strip()]
        unknown = [name for name in names if name not in TEMPLATE_DRAWERS]
        if unknown:
            parser.error(f"unknown templates: {', '.join(unknown)}")
        generate(
            args.out,
            args.count,
            args.seed,
            names,
            args.split,
            handwriting=load_handwriting(split=args.split, digits=args.digits),
        )


if __name__ == "__main__":
    main()
