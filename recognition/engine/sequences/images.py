"""One preparation path for training and reading: a field crop to a height-normalised ink image."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

HEIGHT = 32
# The network halves the width once, so one output column covers this many input columns.
WIDTH_STRIDE = 2
MIN_WIDTH = 16
MAX_WIDTH = 640
# Widths are rounded up to a multiple of this, so batches come in few shapes.
WIDTH_QUANTUM = 64


def ink_image(gray: np.ndarray) -> np.ndarray:
    """Ink strength in [0, 1] (1 = darkest stroke) of a grayscale crop with dark ink on lighter paper.

    The paper is estimated by a max filter wider than a stroke, so printed backgrounds, texture and
    uneven light fall away; the ink is scaled by a high percentile of its own contrast.
    """
    if gray.ndim != 2 or gray.size == 0:
        raise ValueError(f"expected a non-empty 2-D grayscale image, got shape {gray.shape}")
    image = gray.astype(np.float32) / 255.0
    size = max(3, int(round(min(image.shape) / 6)) | 1)
    paper = cv2.dilate(image, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)))
    paper = cv2.blur(paper, (size, size))
    contrast = np.clip(paper - image, 0.0, 1.0)
    scale = float(np.percentile(contrast, 99.5))
    if scale < 0.08:
        return np.zeros_like(contrast)
    return np.clip(contrast / scale, 0.0, 1.0)


def remove_rules(ink: np.ndarray, threshold: float = 0.35) -> np.ndarray:
    """Take out printed box borders and rules: straight vertical ink nearly the crop's height and
    straight horizontal ink most of its width (no handwritten stroke is that long and straight)."""
    height, width = ink.shape
    mask = (ink > threshold).astype(np.uint8)
    vertical_length, horizontal_length = int(height * 0.85), int(width * 0.7)
    rules = np.zeros_like(mask)
    if vertical_length >= 12:
        rules |= cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((vertical_length, 1), np.uint8))
    if horizontal_length >= 3 * height and horizontal_length >= 20:
        rules |= cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((1, horizontal_length), np.uint8))
    if not rules.any():
        return ink
    # A rule's pixel goes; where a stroke crosses it, the stroke's own pixels above and below stay.
    return np.where(cv2.dilate(rules, np.ones((3, 3), np.uint8)) > 0, 0.0, ink).astype(ink.dtype)


def ink_bounds(ink: np.ndarray, threshold: float = 0.35, margin: int = 2) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the ink with a small margin; the whole image when it has none."""
    rows = np.flatnonzero((ink > threshold).any(axis=1))
    columns = np.flatnonzero((ink > threshold).any(axis=0))
    if rows.size == 0 or columns.size == 0:
        return 0, 0, ink.shape[1], ink.shape[0]
    top, bottom = max(0, rows[0] - margin), min(ink.shape[0], rows[-1] + 1 + margin)
    left, right = max(0, columns[0] - margin), min(ink.shape[1], columns[-1] + 1 + margin)
    return int(left), int(top), int(right), int(bottom)


def fit_height(ink: np.ndarray) -> np.ndarray:
    """Resize an ink image to HEIGHT rows, keeping its aspect ratio (width clipped to MIN/MAX_WIDTH)."""
    height, width = ink.shape
    new_width = int(np.clip(round(width * HEIGHT / max(height, 1)), MIN_WIDTH, MAX_WIDTH))
    interpolation = cv2.INTER_AREA if height > HEIGHT else cv2.INTER_LINEAR
    return cv2.resize(ink, (new_width, HEIGHT), interpolation=interpolation)


@dataclass(frozen=True)
class FieldGeometry:
    """Where the network's input sits in the crop: its ink box and the horizontal scale applied."""

    left: int
    top: int
    right: int
    bottom: int
    scale: float

    def columns_to_box(self, first: int, last: int) -> list[int]:
        """Crop coordinates [x, y, w, h] of output columns first..last (inclusive)."""
        x0 = self.left + first * WIDTH_STRIDE / self.scale
        x1 = self.left + (last + 1) * WIDTH_STRIDE / self.scale
        x0, x1 = max(self.left, int(x0)), min(self.right, int(np.ceil(x1)))
        return [x0, self.top, max(1, x1 - x0), self.bottom - self.top]


def prepare_field_geometry(gray: np.ndarray) -> tuple[np.ndarray, FieldGeometry]:
    """The network's input for a crop and where it sits in the crop."""
    ink = remove_rules(ink_image(gray))
    left, top, right, bottom = ink_bounds(ink)
    prepared = fit_height(ink[top:bottom, left:right]).astype(np.float32)
    return prepared, FieldGeometry(left, top, right, bottom, prepared.shape[1] / max(right - left, 1))


def prepare_field(gray: np.ndarray) -> np.ndarray:
    """A crop (uint8 gray, dark ink on light) as the network's input: float32 (HEIGHT, width) ink."""
    return prepare_field_geometry(gray)[0]


def padded_width(width: int) -> int:
    """The batch width an image of this width is padded to."""
    return int(min(MAX_WIDTH, -(-width // WIDTH_QUANTUM) * WIDTH_QUANTUM))


def batch_images(images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Stack prepared images, padded on the right with empty paper: (batch, HEIGHT, W, 1) and the
    number of network output columns each image really has."""
    width = padded_width(max(image.shape[1] for image in images))
    batch = np.zeros((len(images), HEIGHT, width, 1), dtype=np.float32)
    for index, image in enumerate(images):
        batch[index, :, : image.shape[1], 0] = image[:, :width]
    lengths = np.array([min(image.shape[1], width) // WIDTH_STRIDE for image in images], dtype=np.int32)
    return batch, lengths
