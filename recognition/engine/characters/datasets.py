"""Load character data sets: MNIST-style IDX files, MNIST, femnist-dev, official EMNIST."""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

# IDX type codes (third byte of the magic number) and the NumPy types they stand for.
IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
IDX_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09}

DIGIT_CLASSES = [str(digit) for digit in range(10)]
CAPITAL_CLASSES = [chr(code) for code in range(ord("A"), ord("Z") + 1)]
LOWER_CLASSES = [chr(code) for code in range(ord("a"), ord("z") + 1)]
# EMNIST "byclass" order, which femnist-dev labels follow: 0-9, A-Z, a-z.
BYCLASS_CLASSES = DIGIT_CLASSES + CAPITAL_CLASSES + LOWER_CLASSES

MNIST_TRAIN_COUNTS = (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949)
MNIST_TEST_COUNTS = (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009)


def _open_maybe_gzip(path: Path):
    """Open a file for binary reading, transparently un-gzipping when it starts with the gzip magic."""
    with open(path, "rb") as probe:
        head = probe.read(2)
    if head == b"\x1f\x8b":
        return gzip.open(path, "rb")
    return open(path, "rb")


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (gzipped or not) into an array of its declared type and shape."""
    path = Path(path)
    with _open_maybe_gzip(path) as stream:
        data = stream.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path} is not an IDX file (bad magic number)")
    type_code, dimension_count = data[2], data[3]
    if type_code not in IDX_DTYPES:
        raise ValueError(f"{path}: unknown IDX type code 0x{type_code:02x}")
    header_size = 4 + 4 * dimension_count
    if len(data) < header_size:
        raise ValueError(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{dimension_count}I", data[4:header_size])
    dtype = IDX_DTYPES[type_code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header_size != expected:
        raise ValueError(
            f"{path}: IDX body has {len(data) - header_size} bytes, shape {shape} needs {expected}"
        )
    return np.frombuffer(data, dtype=dtype, offset=header_size).reshape(shape).copy()


def write_idx(path: str | Path, array: np.ndarray, compress: bool | None = None) -> None:
    """Write a uint8/int8 array as an IDX file; gzipped when compress is true or the name ends in .gz."""
    path = Path(path)
    array = np.ascontiguousarray(array)
    if array.dtype not in IDX_CODES:
        raise ValueError(f"write_idx supports uint8 and int8, not {array.dtype}")
    header = bytes([0, 0, IDX_CODES[array.dtype], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.tobytes()
    if compress is None:
        compress = path.suffix == ".gz"
    if compress:
        with gzip.open(path, "wb") as stream:
            stream.write(payload)
    else:
        path.write_bytes(payload)


@dataclass
class CharacterSet:
    """Images (N, 28, 28) uint8 white ink on black, integer labels into classes, optional writer ids."""

    images: np.ndarray
    labels: np.ndarray
    classes: list[str]
    writers: np.ndarray | None = None
    source: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, mask_or_indices: np.ndarray) -> CharacterSet:
        """Select samples by boolean mask or index array, keeping classes and writer ids aligned."""
        writers = None if self.writers is None else self.writers[mask_or_indices]
        return CharacterSet(
            self.images[mask_or_indices],
            self.labels[mask_or_indices],
            self.classes,
            writers,
            list(self.source),
        )


def _find(directory: Path, stem: str) -> Path:
    """Find `stem` or `stem.gz` in a directory."""
    for candidate in (directory / stem, directory / f"{stem}.gz"):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"neither {stem} nor {stem}.gz in {directory}")


def load_mnist(directory: str | Path, split: str) -> CharacterSet:
    """Load MNIST 'train' or 't10k'/'test' from a folder of IDX files (as fetch_data writes them)."""
    directory = Path(directory)
    prefix = {"train": "train", "test": "t10k", "t10k": "t10k"}.get(split)
    if prefix is None:
        raise ValueError(f"MNIST split must be 'train' or 'test', not {split!r}")
    images = read_idx(_find(directory, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(_find(directory, f"{prefix}-labels-idx1-ubyte")).astype(np.int64)
    if images.ndim != 3 or len(images) != len(labels):
        raise ValueError(
            f"MNIST {split} in {directory}: images {images.shape} and labels {labels.shape} differ"
        )
    return CharacterSet(images, labels, list(DIGIT_CLASSES), None, [f"mnist-{split}"])


def load_femnist_dev(directory: str | Path) -> CharacterSet:
    """Load femnist-dev: upright 28x28 images, EMNIST byclass labels (62 classes), writer ids."""
    directory = Path(directory)
    images = read_idx(_find(directory, "femnist-images-idx3-ubyte"))
    labels = read_idx(_find(directory, "femnist-labels-idx1-ubyte")).astype(np.int64)
    writers_path = _find(directory, "femnist-writers.txt")
    with _open_maybe_gzip(writers_path) as stream:
        writers = np.array(stream.read().decode("utf-8").split(), dtype=object)
    if not (len(images) == len(labels) == len(writers)):
        raise ValueError(
            f"femnist-dev in {directory}: {len(images)} images, {len(labels)} labels, {len(writers)} writers"
        )
    return CharacterSet(images, labels, list(BYCLASS_CLASSES), writers, ["femnist-dev"])


def load_emnist(images_path: str | Path, labels_path: str | Path, classes: list[str]) -> CharacterSet:
    """Load official EMNIST IDX files, which are stored transposed, and turn them upright."""
    images = read_idx(images_path)
    labels = read_idx(labels_path).astype(np.int64)
    # The official release stores each image transposed (column-major); swap the axes back.
    images = np.ascontiguousarray(images.transpose(0, 2, 1))
    # The "letters" split counts labels from 1 (a/A = 1); shift when the classes are the 26 letters.
    if len(classes) == 26 and labels.min() == 1:
        labels = labels - 1
    if labels.max() >= len(classes):
        raise ValueError(f"EMNIST labels go up to {labels.max()} but only {len(classes)} classes were given")
    return CharacterSet(images, labels, list(classes), None, [f"emnist:{Path(images_path).name}"])


def select_classes(dataset: CharacterSet, mapping: dict[str, str], classes: list[str]) -> CharacterSet:
    """Keep samples whose class is a key of mapping, relabelled to mapping[class] indexed into classes."""
    index_of = {name: position for position, name in enumerate(classes)}
    source_to_target = np.full(len(dataset.classes), -1, dtype=np.int64)
    for position, name in enumerate(dataset.classes):
        if name in mapping:
            source_to_target[position] = index_of[mapping[name]]
    new_labels = source_to_target[dataset.labels]
    keep = new_labels >= 0
    result = dataset.subset(keep)
    result.labels = new_labels[keep]
    result.classes = list(classes)
    return result


def concatenate(datasets: list[CharacterSet]) -> CharacterSet:
    """Join character sets that share their class list; writer ids become None if any part lacks them."""
    if not datasets:
        raise ValueError("nothing to concatenate")
    classes = datasets[0].classes
    if any(part.classes != classes for part in datasets):
        raise ValueError("character sets have different classes")
    writers = None
    if all(part.writers is not None for part in datasets):
        writers = np.concatenate([part.writers for part in datasets])
    return CharacterSet(
        np.concatenate([part.images for part in datasets]),
        np.concatenate([part.labels for part in datasets]),
        list(classes),
        writers,
        [name for part in datasets for name in part.source],
    )


def split_by_writer(
    writers: np.ndarray, validation_fraction: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (train, validation) putting each writer wholly on one side, about fraction of writers."""
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError("validation_fraction must be between 0 and 1")
    unique_writers = np.unique(writers)
    generator = np.random.default_rng(seed)
    shuffled = generator.permutation(unique_writers)
    validation_count = max(1, round(len(shuffled) * validation_fraction))
    validation_writers = set(shuffled[:validation_count].tolist())
    validation_mask = np.array([writer in validation_writers for writer in writers], dtype=bool)
    return ~validation_mask, validation_mask


def split_random(count: int, validation_fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (train, validation) over count samples, for data without writer ids."""
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError("validation_fraction must be between 0 and 1")
    generator = np.random.default_rng(seed)
    validation_mask = np.zeros(count, dtype=bool)
    validation_mask[generator.permutation(count)[: max(1, round(count * validation_fraction))]] = True
    return ~validation_mask, validation_mask


# Handwriting-like and plain sans fonts from Debian packages (fonts-bwht, fonts-comic-neue,
# fonts-humor-sans, fonts-breip, fonts-dejavu-core, fonts-liberation, fonts-freefont-ttf).
SYNTHETIC_FONT_PATTERNS = (
    "opentype/bwht/*.otf",
    "opentype/comic-neue/*.otf",
    "truetype/humor-sans/*.ttf",
    "truetype/breip/*.ttf",
    "truetype/dejavu/DejaVuSans.ttf",
    "truetype/dejavu/DejaVuSans-Bold.ttf",
    "truetype/dejavu/DejaVuSansCondensed.ttf",
    "truetype/liberation/LiberationSans-Regular.ttf",
    "truetype/liberation/LiberationSansNarrow-Regular.ttf",
    "truetype/freefont/FreeSans.ttf",
    "truetype/freefont/FreeSansBold.ttf",
)


def find_synthetic_fonts(font_root: str | Path = "/usr/share/fonts") -> list[Path]:
    """Installed font files matching SYNTHETIC_FONT_PATTERNS (empty when none are installed)."""
    root = Path(font_root)
    return sorted({path for pattern in SYNTHETIC_FONT_PATTERNS for path in root.glob(pattern)})


def render_font_characters(
    characters: list[str], font_paths: list[Path], variants: int = 4, seed: int = 0
) -> CharacterSet:
    """Render each character in each font `variants` times (size, stroke, slant vary) as 28x28 white on black.

    Images go through prepare_character, so they are framed exactly like real samples.
    """
    from PIL import Image, ImageDraw, ImageFont

    from recognition.engine.characters.preprocess import prepare_character

    generator = np.random.default_rng(seed)
    images, labels, writers = [], [], []
    for font_path in font_paths:
        for label, character in enumerate(characters):
            for _ in range(variants):
                size = int(generator.integers(48, 72))
                font = ImageFont.truetype(str(font_path), size)
                canvas = Image.new("L", (size * 2, size * 2), 0)
                draw = ImageDraw.Draw(canvas)
                stroke = int(generator.integers(0, max(1, size // 24) + 1))
                draw.text(
                    (size // 2, size // 4),
                    character,
                    fill=255,
                    font=font,
                    stroke_width=stroke,
                    stroke_fill=255,
                )
                pixels = np.asarray(canvas)
                if pixels.max() == 0:
                    continue  # the font lacks this glyph
                # A random slant, as people lean their writing; shear about the centre.
                slant = float(generator.uniform(-0.25, 0.25))
                matrix = np.array([[1.0, slant, -slant * size], [0.0, 1.0, 0.0]], dtype=np.float32)
                pixels = cv2.warpAffine(pixels, matrix, (pixels.shape[1], pixels.shape[0]))
                images.append(np.round(prepare_character(pixels) * 255).astype(np.uint8))
                labels.append(label)
                writers.append(f"font:{Path(font_path).stem}")
    if not images:
        raise ValueError("no font rendered any character")
    return CharacterSet(
        np.stack(images),
        np.array(labels, dtype=np.int64),
        list(characters),
        np.array(writers, dtype=object),
        ["synthetic fonts"],
    )
