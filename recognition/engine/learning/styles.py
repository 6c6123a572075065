"""Synthetic writer styles: one consistent distortion applied to every character a 'writer' makes.

Used to demonstrate and measure the learning loop: a style the shipped model
reads badly stands for a new writer population (a branch whose clerks write
steeply slanted, condensed figures with a broad pen). Unlike training
augmentation, which varies at random per character, a style is the same for
every character, as a person's handwriting is.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Work at 3x resolution so the shear and the stroke change stay smooth.
_UPSCALE = 3


@dataclass(frozen=True)
class HandwritingStyle:
    name: str
    # x += shear * (y - centre): negative leans the tops to the right (a strong forward slant),
    # positive to the left (back-slant).
    shear: float = 0.0
    # Width relative to height: below 1 condenses the characters.
    horizontal_scale: float = 1.0
    # Pixels (at 28x28) the strokes grow (positive) or shrink (negative) by.
    stroke_change: int = 0
    # Amplitude in pixels (at 28x28) of a sideways wave down the character.
    wave: float = 0.0


SLANTED_CONDENSED = HandwritingStyle(
    name="slanted-condensed", shear=-0.55, horizontal_scale=0.6, stroke_change=1, wave=2.0
)


def apply_style(image: np.ndarray, style: HandwritingStyle) -> np.ndarray:
    """Apply `style` to one uint8 character image, white ink on black; returns the same size and type."""
    if image.ndim != 2 or image.size == 0:
        raise ValueError(f"expected a non-empty 2-D character image, got shape {image.shape}")
    height, width = image.shape
    big = cv2.resize(image, (width * _UPSCALE, height * _UPSCALE), interpolation=cv2.INTER_LINEAR)
    big_height, big_width = big.shape
    centre = np.array([big_width / 2.0, big_height / 2.0])
    linear = np.array([[style.horizontal_scale, style.shear], [0.0, 1.0]])
    offset = centre - linear @ centre
    matrix = np.hstack([linear, offset[:, None]]).astype(np.float32)
    warped = cv2.warpAffine(big, matrix, (big_width, big_height), flags=cv2.INTER_LINEAR, borderValue=0)
    if style.wave:
        rows, columns = np.mgrid[0:big_height, 0:big_width].astype(np.float32)
        shifted_columns = columns + style.wave * _UPSCALE * np.sin(rows / big_height * 2.0 * np.pi)
        warped = cv2.remap(warped, shifted_columns, rows, cv2.INTER_LINEAR, borderValue=0)
    if style.stroke_change:
        kernel = np.ones((3, 3), np.uint8)
        operation = cv2.dilate if style.stroke_change > 0 else cv2.erode
        warped = operation(warped, kernel, iterations=abs(style.stroke_change) * _UPSCALE // 2 or 1)
    return cv2.resize(warped, (width, height), interpolation=cv2.INTER_AREA)


def apply_style_batch(images: np.ndarray, style: HandwritingStyle) -> np.ndarray:
    """apply_style over an (N, H, W) uint8 array."""
    return np.stack([apply_style(image, style) for image in images]) if len(images) else images.copy()
