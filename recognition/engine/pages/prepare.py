"""Clean up a page image: denoise, illumination correction, binarization (Sauvola, Otsu), deskew."""

from __future__ import annotations

import cv2
import numpy as np


def denoise(gray: np.ndarray, strength: int = 3) -> np.ndarray:
    """Remove salt-and-pepper and sensor noise with a median filter (keeps stroke edges sharp)."""
    if strength <= 1:
        return gray
    size = strength if strength % 2 else strength + 1
    return cv2.medianBlur(gray, size)


def estimate_background(gray: np.ndarray, kernel_fraction: float = 0.04) -> np.ndarray:
    """The paper's brightness everywhere: a grey closing (removes dark ink) of a downscaled copy, smoothed."""
    height, width = gray.shape
    factor = max(1, round(max(height, width) / 400))
    small = cv2.resize(
        gray, (max(1, width // factor), max(1, height // factor)), interpolation=cv2.INTER_AREA
    )
    kernel_size = max(3, int(kernel_fraction * max(small.shape)) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (kernel_size, kernel_size))
    background = cv2.morphologyEx(small, cv2.MORPH_CLOSE, kernel)
    background = cv2.GaussianBlur(background, (0, 0), kernel_size / 2)
    return cv2.resize(background, (width, height), interpolation=cv2.INTER_LINEAR)


def correct_illumination(gray: np.ndarray) -> np.ndarray:
    """Divide by the estimated paper brightness so paper becomes uniformly white under uneven light."""
    background = estimate_background(gray).astype(np.float32)
    corrected = gray.astype(np.float32) / np.maximum(background, 1.0) * 255.0
    return np.clip(corrected, 0, 255).astype(np.uint8)


def sauvola_threshold(gray: np.ndarray, window: int = 31, k: float = 0.2, dynamic_range: float = 128.0):
    """Sauvola's local threshold T = m * (1 + k * (s / R - 1)) per pixel, with box filters (fast)."""
    window = max(3, window | 1)
    image = gray.astype(np.float32)
    mean = cv2.boxFilter(image, -1, (window, window), borderType=cv2.BORDER_REFLECT)
    mean_square = cv2.boxFilter(image * image, -1, (window, window), borderType=cv2.BORDER_REFLECT)
    deviation = np.sqrt(np.maximum(mean_square - mean * mean, 0))
    return mean * (1 + k * (deviation / dynamic_range - 1))


def binarize(gray: np.ndarray, method: str = "sauvola", window: int = 31, k: float = 0.2) -> np.ndarray:
    """Ink mask (uint8, 1 = ink) robust to uneven paper: 'sauvola', 'adaptive' (Gaussian) or 'otsu'."""
    if gray.ndim != 2 or gray.dtype != np.uint8:
        raise ValueError("binarize expects a 2-D uint8 grayscale image")
    if method == "sauvola":
        return (gray.astype(np.float32) < sauvola_threshold(gray, window, k)).astype(np.uint8)
    if method == "adaptive":
        mask = cv2.adaptiveThreshold(
            gray, 1, cv2.ADAPTIVE_THRESH_GAUSSIAN_C, cv2.THRESH_BINARY_INV, window | 1, 15
        )
        return mask
    if method == "otsu":
        _, mask = cv2.threshold(gray, 0, 1, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
        return mask
    raise ValueError(f"unknown binarization method {method!r}")


def ink_darkness(gray: np.ndarray) -> np.ndarray:
    """Per-pixel darkness 0 (paper) .. 1 (black), relative to the local paper level of a small crop."""
    # The 90th percentile of the gray levels, from a histogram (much faster than a sort).
    histogram = cv2.calcHist([gray], [0], None, [256], [0, 256]).ravel()
    paper = float(np.searchsorted(np.cumsum(histogram), 0.9 * gray.size))
    paper = max(paper, 1.0)
    return np.clip((paper - gray.astype(np.float32)) / paper, 0.0, 1.0)


def ink_mask(gray: np.ndarray, minimum: float = 0.3, maximum: float = 0.55) -> tuple[np.ndarray, np.ndarray]:
    """Ink mask of a small crop (a field): Otsu on darkness, clamped so a blank crop finds no ink.

    Returns (mask uint8 1 = ink, darkness float32). Clamping matters: on a blank box Otsu would split
    the paper noise in two and call half of it ink.
    """
    darkness = ink_darkness(gray)
    scaled = (darkness * 255).astype(np.uint8)
    otsu, _ = cv2.threshold(scaled, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    threshold = min(max(otsu / 255.0, minimum), maximum)
    return (darkness > threshold).astype(np.uint8), darkness


def estimate_skew(gray: np.ndarray, max_angle: float = 8.0, step: float = 0.25) -> float:
    """The page's skew in degrees (positive = counter-clockwise text), by projection-profile sharpness."""
    height, width = gray.shape
    factor = max(1.0, max(height, width) / 800)
    small = cv2.resize(gray, (int(width / factor), int(height / factor)), interpolation=cv2.INTER_AREA)
    mask = binarize(small, "sauvola", 25).astype(np.float32)
    center = (mask.shape[1] / 2, mask.shape[0] / 2)
    best_angle, best_score = 0.0, -1.0
    for angle in np.arange(-max_angle, max_angle + step / 2, step):
        matrix = cv2.getRotationMatrix2D(center, float(angle), 1.0)
        rotated = cv2.warpAffine(mask, matrix, (mask.shape[1], mask.shape[0]), flags=cv2.INTER_NEAREST)
        profile = rotated.sum(axis=1)
        score = float(np.sum(np.diff(profile) ** 2))
        if score > best_score:
            best_angle, best_score = float(angle), score
    return -best_angle


def deskew(gray: np.ndarray, max_angle: float = 8.0) -> tuple[np.ndarray, float]:
    """Rotate the page so text lines are horizontal; returns (image, the skew angle that was removed)."""
    angle = estimate_skew(gray, max_angle)
    if abs(angle) < 0.1:
        return gray, angle
    height, width = gray.shape
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), -angle, 1.0)
    rotated = cv2.warpAffine(gray, matrix, (width, height), flags=cv2.INTER_LINEAR, borderValue=255)
    return rotated, angle


def prepare_page(gray: np.ndarray) -> np.ndarray:
    """The full clean-up for a page that is read without alignment: denoise, even light, deskew."""
    cleaned = correct_illumination(denoise(gray, 3))
    return deskew(cleaned)[0]


# Gaps (pixels) closed along a printed rule or wall before its length is measured: security printing
# draws rules as a line of microtext, whose letters closing joins.
RULE_GAP = 9


def printed_dark(gray: np.ndarray) -> np.ndarray:
    """Pixels darker than the paper around them (uint8 0/1), whatever the background's colour."""
    return cv2.adaptiveThreshold(gray, 1, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 31, 12)


def long_runs(mask: np.ndarray, gap: tuple[int, int], length: tuple[int, int]) -> np.ndarray:
    """The parts of mask that run straight at least `length` (width, height) once gaps up to `gap`
    are closed: printed rules (length (n, 1)) or walls ((1, n)); handwriting and text have no such runs."""
    closed = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, gap))
    return cv2.morphologyEx(closed, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, length))


def ink_contrast(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(local paper level, each pixel's contrast against it, the page's strong ink contrast: its 99.5th
    percentile), float32; what clear_background keeps or erases by, computed once a page."""
    image = gray.astype(np.float32)
    size = max(15, int(round(min(gray.shape) / 40)) | 1)
    paper = cv2.blur(
        cv2.dilate(image, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))), (size, size)
    )
    contrast = np.clip(paper - image, 0.0, 255.0)
    return paper, contrast, float(np.percentile(contrast, 99.5))


def clear_background(
    gray: np.ndarray,
    share: float = 0.4,
    rule_length: int | None = None,
    contrast: tuple[np.ndarray, np.ndarray, float] | None = None,
) -> np.ndarray:
    """The page with light printed backgrounds (security patterns, microprint, tints) turned to paper,
    and, given rule_length, the horizontal rules at least that long too.

    A pixel is kept where its contrast against the local paper is at least `share` of the page's
    strong ink contrast (printed text and handwriting); fainter marks become paper. Field crops of such
    pages otherwise scale the pattern up to ink wherever nothing is written, and a rule under the
    writing (printed as a line of microtext on cheques) to a line of ink. contrast: the page's
    ink_contrast, when it is cleared more than one way.
    """
    paper, pixel_contrast, strong = ink_contrast(gray) if contrast is None else contrast
    if strong <= 0:
        return gray.copy()
    erase = pixel_contrast < share * strong
    if rule_length:
        rules = long_runs(printed_dark(gray), (RULE_GAP, 1), (rule_length, 1))
        erase |= cv2.dilate(rules, np.ones((5, 1), np.uint8)) > 0
    return np.where(erase, np.clip(paper, 0, 255), gray).astype(np.uint8)
