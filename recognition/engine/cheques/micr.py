"""Read the printed E-13B MICR line of a cheque by template correlation on its fixed pitch grid."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import cv2
import numpy as np

TRANSIT = "\u2446"
AMOUNT = "\u2447"
ON_US = "\u2448"
DASH = "\u2449"

# E-13B is drawn on a 0.013-inch grid; at 300 dpi one grid unit is 3.9 px, a character is 9 units
# (0.117 inch) tall and the pitch is 0.125 inch. Everything below is at this reference scale.
UNIT_PX = 300 * 0.013
GLYPH_HEIGHT_PX = 9 * UNIT_PX
PITCH_PX = 300 * 0.125
MARGIN_PX = 4
TEMPLATE_WIDTH = int(round(PITCH_PX))
TEMPLATE_HEIGHT = int(round(GLYPH_HEIGHT_PX)) + 2 * MARGIN_PX
# The template searches each grid cell this far either way, for a few pixels of print registration.
SHIFT_PX = 4
SUPERSAMPLE = 8
PAD_PX = 2 * TEMPLATE_HEIGHT

# Each glyph: its width in grid units and its bars as (x, y, width, height) in grid units, y down,
# the glyph's right edge on the pitch grid (E-13B positions characters by their right edges).
# Drawn from the E-13B letterforms: thin strokes are one unit, the heavy strokes that shape each
# character's magnetic waveform two or more. Amount and Dash do not occur on Indian cheques; their
# bars follow the common drawings of the symbols and only need to differ from the other twelve.
GLYPH_BARS: dict[str, tuple[float, tuple[tuple[float, float, float, float], ...]]] = {
    "0": (7, ((0, 0, 7, 1), (0, 8, 7, 1), (0, 0, 1.1, 9), (5.9, 0, 1.1, 9))),
    "1": (4, ((0, 0, 2, 1.5), (1, 0, 1, 5.5), (0, 5, 4, 4))),
    "2": (4, ((0, 0, 4, 1), (3, 0, 1, 5.25), (0, 4.25, 4, 1), (0, 4.25, 1, 4.75), (0, 8, 4, 1))),
    "3": (5.5, ((0, 0, 4.1, 1), (3, 0, 1.1, 5), (0, 4.25, 5.5, 1), (3.1, 4.25, 2.4, 4.75), (0, 8, 5.5, 1))),
    "4": (6, ((0, 0, 2.25, 7.4), (0, 5.75, 6, 1.6), (4, 5, 2, 4))),
    "5": (
        5.5,
        ((0, 0, 5.5, 1), (0, 0, 1.2, 5.25), (0, 4.25, 5.5, 1), (4.3, 4.25, 1.2, 4.75), (0, 8, 5.5, 1)),
    ),
    "6": (
        6,
        ((0, 0, 4.1, 1), (3, 0, 1.1, 2.5), (0, 0, 1.1, 9), (0, 5, 6, 1.5), (4.9, 5, 1.1, 4), (0, 8, 6, 1)),
    ),
    "7": (
        5.25,
        ((0, 0, 5.25, 1), (0, 0, 1.1, 2.75), (4.2, 0, 1.05, 4.75), (3, 4.25, 2.25, 0.75), (2, 4.75, 2, 0.75))
        + ((2, 4.75, 1.1, 4.25),),
    ),
    "8": (
        7,
        (
            (1, 0, 5.2, 1),
            (1, 0, 1.1, 5),
            (5.1, 0, 1.1, 5),
            (0, 4.6, 7, 1.2),
            (0, 4.6, 2, 4.4),
            (4.8, 4.6, 2.2, 4.4),
        )
        + ((0, 8, 7, 1),),
    ),
    "9": (6, ((0, 0, 6, 1), (0, 0, 1.1, 5), (4.9, 0, 1.1, 9), (0, 4, 6, 1.1), (4, 4, 2, 5))),
    TRANSIT: (7, ((0, 1.5, 2, 6.2), (4, 0, 3, 3.25), (4, 5.75, 3, 3.25))),
    AMOUNT: (7, ((0, 0.5, 1.25, 8), (2.5, 3, 2, 3), (5.75, 0.5, 1.25, 8))),
    ON_US: (7, ((0, 1.75, 1.25, 6), (2, 1.75, 1.25, 6), (4, 0.5, 3, 4.3))),
    DASH: (6, ((0, 3.5, 1.5, 2.5), (2.25, 3.5, 1.5, 2.5), (4.5, 3.5, 1.5, 2.5))),
}
CLASSES = tuple(GLYPH_BARS)

# A cell whose inked share is below this holds no character (specks, dust, a stray pen dot).
EMPTY_CELL_INK = 0.04
# Correlation below which a cell at either end of the line is background, not part of the line.
LINE_END_SCORE = 0.45
# Correlation a clean glyph reaches easily and a margin over the runner-up that makes it certain;
# confidence falls linearly below them (see character_confidence).
SURE_SCORE = 0.80
FLOOR_SCORE = 0.45
SURE_MARGIN = 0.15


@dataclass(frozen=True)
class MicrChar:
    text: str
    confidence: float
    box: tuple[int, int, int, int]
    alternatives: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class MicrReading:
    text: str
    confidence: float
    chars: tuple[MicrChar, ...]


def draw_glyph(character: str, *, scale: float = 1.0) -> np.ndarray:
    """Ink mask (float32 0..1) of one glyph in a pitch-wide cell, its right edge on the grid line."""
    glyph_width, bars = GLYPH_BARS[character]
    fine = SUPERSAMPLE * scale
    width = int(round(TEMPLATE_WIDTH * fine))
    height = int(round(TEMPLATE_HEIGHT * fine))
    canvas = np.zeros((height, width), np.uint8)
    # One pixel of paper is kept right of the glyph so the correlation sees where the ink stops.
    left = TEMPLATE_WIDTH - 1 - glyph_width * UNIT_PX
    for bar_x, bar_y, bar_width, bar_height in bars:
        x0 = int(round((left + bar_x * UNIT_PX) * fine))
        y0 = int(round((MARGIN_PX + bar_y * UNIT_PX) * fine))
        x1 = int(round((left + (bar_x + bar_width) * UNIT_PX) * fine))
        y1 = int(round((MARGIN_PX + (bar_y + bar_height) * UNIT_PX) * fine))
        canvas[y0:y1, x0:x1] = 255
    size = (int(round(TEMPLATE_WIDTH * scale)), int(round(TEMPLATE_HEIGHT * scale)))
    return cv2.resize(canvas, size, interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


@functools.cache
def glyph_templates() -> tuple[np.ndarray, ...]:
    """The 14 templates at the reference scale, softened like a 300-dpi scan of printed toner."""
    return tuple(cv2.GaussianBlur(draw_glyph(character), (0, 0), 0.9) for character in CLASSES)


def render_line(text: str, *, scale: float = 1.0) -> np.ndarray:
    """A clean uint8 image of a MICR line (dark on light) drawn from the templates, for tests."""
    cell_width = PITCH_PX * scale
    height = int(round(TEMPLATE_HEIGHT * scale))
    width = int(round(cell_width * (len(text) + 2)))
    ink = np.zeros((height, width), np.float32)
    for index, character in enumerate(text):
        if character == " ":
            continue
        glyph = draw_glyph(character, scale=scale)
        x0 = int(round(cell_width * (index + 1)))
        ink[:, x0 : x0 + glyph.shape[1]] = np.maximum(ink[:, x0 : x0 + glyph.shape[1]], glyph)
    return (255 - ink * 225).astype(np.uint8)


def paper_and_threshold(gray: np.ndarray) -> tuple[float, float | None]:
    """The paper's grey and the level between it and the darkest ink (None when there is no ink)."""
    # Quantiles of a uint8 image from its histogram: a sort of the whole crop would cost more than the read.
    cumulative = np.cumsum(np.bincount(gray.ravel(), minlength=256)) / gray.size
    paper = float(np.searchsorted(cumulative, 0.5))
    darkest = float(np.searchsorted(cumulative, 0.005))
    # Toner is near black on any cheque stock; a crop with less contrast than this is blank paper.
    if paper - darkest < 60:
        return paper, None
    return paper, (paper + darkest) / 2


def estimate_skew(ink: np.ndarray, max_degrees: float = 2.0) -> float:
    """The line's slope in degrees: the shear whose row projection is the sharpest."""
    ys, xs = np.nonzero(ink)
    if len(xs) == 0:
        return 0.0
    # Every ink pixel counts once per candidate angle; a subsample keeps this fast on busy crops.
    if len(xs) > 40000:
        keep = np.random.default_rng(0).choice(len(xs), 40000, replace=False)
        ys, xs = ys[keep], xs[keep]
    best_angle, best_sharpness = 0.0, -1.0
    for angle in np.linspace(-max_degrees, max_degrees, 33):
        rows = np.round(ys - xs * np.tan(np.radians(angle))).astype(np.int64)
        profile = np.bincount(rows - rows.min())
        sharpness = float(np.dot(profile, profile))
        if sharpness > best_sharpness:
            best_angle, best_sharpness = float(angle), sharpness
    return best_angle


def candidate_rows(ink: np.ndarray, glyph_height: float, most: int = 3) -> list[int]:
    """Top rows of the densest bands one glyph tall, densest first.

    MICR toner usually outweighs anything else in the band, but a patterned background or a line of
    print in the crop can be as dense; the caller reads each candidate and keeps the best reading.
    """
    profile = np.concatenate([[0], np.cumsum(ink.sum(axis=1))])
    height = max(1, min(int(round(glyph_height)), ink.shape[0]))
    window = (profile[height:] - profile[:-height]).astype(np.float64)
    tops: list[int] = []
    for top in np.argsort(-window, kind="stable"):
        if window[top] < 0.3 * window.max() or len(tops) == most:
            break
        if all(abs(int(top) - other) >= height for other in tops):
            tops.append(int(top))
    return tops


def estimate_grid(column_ink: np.ndarray, nominal_pitch: float) -> tuple[float, float]:
    """Pitch and phase (x of the first right edge) of the character grid along a column-ink profile.

    Characters sit with their right edges on the grid, and at least 2.6 units of paper separate the
    widest glyph from the next cell; so the right grid places ink just left of each grid line and
    paper just right of it, and the score rewards the first and penalises ink in the second.
    """
    cumulative = np.concatenate([[0.0], np.cumsum(column_ink, dtype=np.float64)])
    width = len(column_ink)
    unit = nominal_pitch / (PITCH_PX / UNIT_PX)

    def strip(starts: np.ndarray, length: float) -> np.ndarray:
        lo = np.clip(np.round(starts), 0, width).astype(np.int64)
        hi = np.clip(np.round(starts + length), 0, width).astype(np.int64)
        return cumulative[hi] - cumulative[lo]

    def best_grid(pitches: np.ndarray) -> tuple[float, float]:
        best = (-np.inf, nominal_pitch, 0.0)
        for pitch in pitches:
            phases = np.arange(0.0, pitch, 0.5)
            edges = phases[:, None] + np.arange(int(width / pitch) + 2)[None, :] * pitch
            score = (strip(edges - unit, unit) - 1.5 * strip(edges + 0.3 * unit, 2.0 * unit)).sum(axis=1)
            index = int(np.argmax(score))
            if score[index] > best[0]:
                best = (float(score[index]), float(pitch), float(phases[index]))
        return best[1], best[2]

    # Coarse steps of 1 % find the pitch's neighbourhood; 0.1 % steps then keep a 30-character line
    # within a pixel of its grid from end to end.
    coarse_pitch, _ = best_grid(nominal_pitch * np.linspace(0.9, 1.1, 21))
    return best_grid(coarse_pitch * np.linspace(0.99, 1.01, 21))


def character_confidence(best_score: float, runner_up_score: float) -> float:
    """How sure one cell is: a weak match, or two classes matching nearly as well, both mean unsure."""
    strength = np.clip((best_score - FLOOR_SCORE) / (SURE_SCORE - FLOOR_SCORE), 0.0, 1.0)
    margin = np.clip((best_score - runner_up_score) / SURE_MARGIN, 0.0, 1.0)
    return float(strength * margin)


def classify_cell(window: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Best correlation of every template anywhere in the window (a cell plus SHIFT_PX around)."""
    scores = np.empty(len(CLASSES), np.float32)
    offsets = []
    for index, template in enumerate(glyph_templates()):
        response = cv2.matchTemplate(window, template, cv2.TM_CCOEFF_NORMED)
        _, peak, _, location = cv2.minMaxLoc(response)
        scores[index] = peak
        offsets.append(location)
    return scores, offsets


@dataclass(frozen=True)
class NormalisedBand:
    """The crop turned level and scaled so the pitch is PITCH_PX, with where its grid lies."""

    ink: np.ndarray  # float32, ink bright on black paper, reference scale, PAD_PX of paper round it
    inked: np.ndarray  # bool, the same pixels thresholded
    top: float  # first row of the glyphs
    phase: float  # x of the first grid line (right edge of cell 0)
    to_crop: np.ndarray  # 2x3 affine from the band back to crop pixels


def normalise_bands(gray: np.ndarray, dpi_scale: float) -> list[NormalisedBand]:
    """The candidate character rows of the crop, each levelled and scaled to the reference pitch."""
    paper, threshold = paper_and_threshold(gray)
    if threshold is None:
        return []
    height, width = gray.shape
    rotation = cv2.getRotationMatrix2D((width / 2, height / 2), estimate_skew(gray < threshold), 1.0)
    level = cv2.warpAffine(gray, rotation, (width, height), flags=cv2.INTER_LINEAR, borderValue=paper)
    level_inked = level < threshold
    glyph_height = GLYPH_HEIGHT_PX * dpi_scale
    bands = []
    for top in candidate_rows(level_inked, glyph_height):
        rows = level_inked[max(0, top - 3) : top + int(round(glyph_height)) + 3]
        pitch, phase = estimate_grid(rows.sum(axis=0).astype(np.float64), PITCH_PX * dpi_scale)
        # One warp both levels the line and brings it to the reference scale of the templates.
        factor = PITCH_PX / pitch
        to_band = rotation * factor
        band_size = (int(round(width * factor)), int(round(height * factor)))
        band = cv2.warpAffine(gray, to_band, band_size, flags=cv2.INTER_AREA, borderValue=paper)
        # The templates are soft-edged; a touch of blur evens out JPEG blocks and toner grain.
        ink = cv2.GaussianBlur(255.0 - band.astype(np.float32), (0, 0), 0.7)
        # Paper all round lets a cell at the crop's edge be cut out whole.
        ink = cv2.copyMakeBorder(ink, PAD_PX, PAD_PX, PAD_PX, PAD_PX, cv2.BORDER_CONSTANT, value=0.0)
        bands.append(
            NormalisedBand(
                ink=ink,
                inked=band < threshold,
                top=top * factor,
                phase=phase * factor,
                to_crop=cv2.invertAffineTransform(to_band),
            )
        )
    return bands


def crop_box(
    band: NormalisedBand, x: float, y: float, width: float, height: float
) -> tuple[int, int, int, int]:
    """A box in band pixels as the axis-aligned box around it in the caller's crop."""
    corners = np.array([[x, y], [x + width, y], [x, y + height], [x + width, y + height]], np.float64)
    mapped = corners @ band.to_crop[:, :2].T + band.to_crop[:, 2]
    x0, y0 = np.floor(mapped.min(axis=0)).astype(int)
    x1, y1 = np.ceil(mapped.max(axis=0)).astype(int)
    return int(x0), int(y0), int(x1 - x0), int(y1 - y0)


def read_cell(band: NormalisedBand, right_edge: float) -> MicrChar | None:
    """The character whose right edge sits on this grid line, or None where the cell is paper."""
    band_top = int(round(band.top))
    cell_left = int(round(right_edge - PITCH_PX))
    cell = band.inked[max(0, band_top) : band_top + int(GLYPH_HEIGHT_PX), max(0, cell_left) : int(right_edge)]
    if cell.size == 0 or cell.mean() < EMPTY_CELL_INK:
        return None
    x0 = int(round(right_edge)) - (TEMPLATE_WIDTH - 1) - SHIFT_PX
    y0 = band_top - MARGIN_PX - SHIFT_PX
    window = band.ink[
        y0 + PAD_PX : y0 + PAD_PX + TEMPLATE_HEIGHT + 2 * SHIFT_PX,
        x0 + PAD_PX : x0 + PAD_PX + TEMPLATE_WIDTH + 2 * SHIFT_PX,
    ]
    scores, offsets = classify_cell(np.ascontiguousarray(window))
    order = np.argsort(-scores)
    best, runner_up = int(order[0]), int(order[1])
    shift_x, shift_y = offsets[best]
    box = crop_box(band, x0 + shift_x, y0 + shift_y + MARGIN_PX, TEMPLATE_WIDTH, GLYPH_HEIGHT_PX)
    return MicrChar(
        text=CLASSES[best],
        confidence=character_confidence(float(scores[best]), float(scores[runner_up])),
        box=box,
        alternatives=tuple((CLASSES[index], round(float(scores[index]), 3)) for index in order[:3]),
    )


def read_micr(gray: np.ndarray, *, dpi_scale: float = 1.0) -> MicrReading:
    """Read an E-13B line from a grey crop of the MICR band (dark ink on light, any background)."""
    if gray.ndim != 2 or gray.dtype != np.uint8:
        raise ValueError("read_micr needs a 2-D uint8 grey image")
    best = MicrReading(text="", confidence=0.0, chars=())
    best_weight = 0.0
    for band in normalise_bands(gray, dpi_scale) if min(gray.shape) >= 8 else []:
        reading = read_band(band)
        # The row that reads as the most sure characters is the MICR line, not background print.
        weight = sum(char.confidence for char in reading.chars if char.text != " ")
        if weight > best_weight:
            best, best_weight = reading, weight
    return best


def read_band(band: NormalisedBand) -> MicrReading:
    """Read every cell of the grid along one normalised row."""
    band_width = band.ink.shape[1] - 2 * PAD_PX
    first = int(np.ceil((PITCH_PX / 2 - band.phase) / PITCH_PX))
    last = int(np.floor((band_width + PITCH_PX / 2 - band.phase) / PITCH_PX))
    cells = [read_cell(band, band.phase + index * PITCH_PX) for index in range(first, last + 1)]
    return assemble_reading(band, cells)


def assemble_reading(band: NormalisedBand, cells: list[MicrChar | None]) -> MicrReading:
    """Trim background off the line's ends and turn each run of empty cells into one space."""

    def belongs(cell: MicrChar | None) -> bool:
        return cell is not None and cell.alternatives[0][1] >= LINE_END_SCORE

    kept = [index for index, cell in enumerate(cells) if belongs(cell)]
    if not kept:
        return MicrReading(text="", confidence=0.0, chars=())
    chars: list[MicrChar] = []
    gap_start = None
    for index in range(kept[0], kept[-1] + 1):
        cell = cells[index]
        if cell is None:
            gap_start = index if gap_start is None else gap_start
            continue
        if gap_start is not None:
            chars.append(space_between(band, chars[-1], cell))
            gap_start = None
        chars.append(cell)
    confidence = min(char.confidence for char in chars if char.text != " ")
    return MicrReading(text="".join(char.text for char in chars), confidence=confidence, chars=tuple(chars))


def space_between(band: NormalisedBand, before: MicrChar, after: MicrChar) -> MicrChar:
    """A space spanning the paper between two characters; the grid is empty there, so it is sure."""
    x0 = before.box[0] + before.box[2]
    box = (x0, min(before.box[1], after.box[1]), max(0, after.box[0] - x0), max(before.box[3], after.box[3]))
    return MicrChar(text=" ", confidence=1.0, box=box, alternatives=((" ", 1.0),))


def parse_micr(text: str) -> dict[str, str | None]:
    """Split an Indian CTS line (cheque number, MICR code, SAN, transaction code) into its fields."""
    compact = re.sub(r"\s+", " ", text).strip()
    cheque = re.search(rf"{ON_US}\s?(\d{{6}})\s?{ON_US}", compact)
    micr_code = re.search(rf"(?<!\d)(\d{{9}})\s?{TRANSIT}", compact)
    account = re.search(rf"{TRANSIT}\s?(\d{{6}})\s?{ON_US}", compact)
    transaction = re.search(rf"[{TRANSIT}{ON_US}]\s?(\d{{2}})$", compact)
    return {
        "cheque_number": cheque.group(1) if cheque else None,
        "micr_code": micr_code.group(1) if micr_code else None,
        "account": account.group(1) if account else None,
        "transaction_code": transaction.group(1) if transaction else None,
    }
