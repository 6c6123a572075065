"""Real field crops with their labels (names, German words, check amounts) and their fixed splits.

Each set keeps a validation part that no training step sees: by writer where the set names writers,
else by a hash of the file name, so the split never changes between runs or machines.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from recognition.engine.sequences.charset import CLASS_OF

# name: (folder, field kind it is read as, validation share, marks left out of the labels)
REAL_SETS = {
    "names": ("names-dev", "letters", 0.2, False),
    "words": ("words-dhsd", "text", 0.15, False),
    "amounts": ("amounts-dev", "amount", 0.25, True),
}


@dataclass(frozen=True)
class RealSample:
    path: Path
    text: str
    writer: str | None
    set_name: str


def in_validation(set_name: str, sample_key: str, share: float) -> bool:
    """Whether a sample (by writer, else by file) is in the set's validation part: a stable hash."""
    digest = hashlib.sha256(f"{set_name}:{sample_key}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < share


def load_real_set(data_root: str | Path, set_name: str) -> tuple[list[RealSample], list[RealSample]]:
    """(train, validation) samples of one real set; samples with characters the reader lacks are left out."""
    folder, _, share, _ = REAL_SETS[set_name]
    directory = Path(data_root) / folder
    labels = directory / "labels.tsv"
    if not labels.exists():
        raise FileNotFoundError(f"{labels} not found")
    train, validation = [], []
    for line in labels.read_text(encoding="utf-8").splitlines():
        columns = line.split("\t")
        if len(columns) < 2 or not columns[1] or any(character not in CLASS_OF for character in columns[1]):
            continue
        writer = columns[2] if len(columns) > 2 else None
        sample = RealSample(directory / "images" / columns[0], columns[1], writer, set_name)
        (validation if in_validation(set_name, writer or columns[0], share) else train).append(sample)
    return train, validation


def read_gray(path: str | Path) -> np.ndarray:
    """A crop as uint8 grayscale; ValueError when it cannot be read."""
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise ValueError(f"cannot read image {path}")
    return image
