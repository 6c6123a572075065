"""Segments of a field, and what comb and free fields share: the crop, its ink, character images, cuts."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from recognition.engine.pages.prepare import ink_mask

# A character image handed to the classifier has this much paper around the ink (pixels).
CROP_PADDING = 2
# How far (pixels) around a character's ink mask its gray values are kept in the image handed to the
# classifier, by field kind: the faint edge of a thin stroke that the threshold left out, without the
# printed lines or other characters' ink. Measured on validation pages (bench_forms.py, seeds 4242,
# 5151, 6262 and dev 11): a radius of 3 read alnum fields 1-4 points better on every set, while
# letters moved by -4 to +1 characters a set and digit fields lost 4 characters of 10,726 (radius 2:
# 4 as well), so only alnum takes it; the others keep the one-pixel anti-aliased edge.
HALO_RADIUS = {"alnum": 3}


@dataclass
class CutChoices:
    """A blob that may be several touching characters: the pieces between candidate cut columns.

    The reader classifies every piece and keeps the path of pieces from the first column to the last
    with the highest product of confidences (recognition-driven segmentation). `default` is the
    path a purely geometric cut would take, used when no classifier is at hand.
    """

    column_count: int
    pieces: dict[tuple[int, int], tuple[np.ndarray, tuple[int, int, int, int]]]  # (from, to) -> image, box
    default: list[int]


@dataclass
class Segment:
    """One position of a field: a character to classify, a blank cell, a separator, a space, or a group
    of touching characters whose cuts are decided by recognition."""

    kind: str  # "char" | "blank" | "separator" | "space" | "group"
    box: tuple[int, int, int, int]  # x, y, width, height in the coordinates of the image segmented
    image: np.ndarray | None = None  # dark ink on white paper, uint8 (for "char")
    text: str = ""  # for "separator" ("." or ",") and "space" (" ")
    confidence: float = 1.0
    choices: CutChoices | None = None  # for "group"


@dataclass
class FieldCrop:
    """A field's neighbourhood cut out of the page, with its ink found and printed lines removed."""

    gray: np.ndarray
    ink: np.ndarray  # uint8 1 = handwriting (printed lines removed)
    darkness: np.ndarray
    origin: tuple[int, int]  # crop's top left corner in page coordinates
    box: tuple[int, int, int, int]  # the field box in crop coordinates
    vertical_lines: np.ndarray  # uint8 mask of printed vertical lines
    lines: np.ndarray  # uint8 mask of every printed line's pixels (taken out of ink)
    halo_radius: int = 1  # see HALO_RADIUS


def _cut(page: np.ndarray, box: tuple[int, int, int, int], margin_x: int, margin_y: int):
    x, y, width, height = box
    page_height, page_width = page.shape
    left, top = max(0, x - margin_x), max(0, y - margin_y)
    right, bottom = min(page_width, x + width + margin_x), min(page_height, y + height + margin_y)
    return page[top:bottom, left:right], (left, top), (x - left, y - top, width, height)


def _lines(mask: np.ndarray, horizontal_length: int, vertical_length: int) -> tuple[np.ndarray, np.ndarray]:
    """Long straight runs of ink: printed box walls and baselines, not handwriting."""
    horizontal_kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (max(3, horizontal_length), 1))
    vertical_kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (1, max(3, vertical_length)))
    # A small vertical closing first lets a line that is broken by blur or JPEG still count as one.
    horizontal = cv2.morphologyEx(mask, cv2.MORPH_OPEN, horizontal_kernel)
    vertical = cv2.morphologyEx(mask, cv2.MORPH_OPEN, vertical_kernel)
    return horizontal, vertical


def _remove_lines(mask: np.ndarray, horizontal: np.ndarray, vertical: np.ndarray) -> np.ndarray:
    """Take printed lines out of the ink mask without cutting the handwriting that crosses them.

    The line masks are widened by a pixel to catch their blurred edges. Where a stroke crosses a line,
    ink touches the line on both sides; a closing across the line direction bridges exactly those
    gaps, so the crossing stroke is restored while the rest of the line stays removed.
    """
    grow = np.ones((3, 3), np.uint8)
    horizontal_wide = cv2.dilate(horizontal, grow)
    vertical_wide = cv2.dilate(vertical, grow)
    ink = mask & ~(horizontal_wide | vertical_wide) & 1
    bridge_vertical = cv2.morphologyEx(
        ink, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (1, 9))
    )
    bridge_horizontal = cv2.morphologyEx(
        ink, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (9, 1))
    )
    restored = (bridge_vertical & horizontal_wide) | (bridge_horizontal & vertical_wide)
    return ink | (restored & mask)


def prepare_crop(
    page: np.ndarray,
    box,
    margin_x: int,
    margin_y: int,
    wall_length: int,
    rule_length: int,
    wall_offsets: np.ndarray,
    wall_window: int,
    halo_radius: int = 1,
) -> FieldCrop:
    """Cut the field out, find its ink and printed lines, and remove the lines.

    Vertical lines count as printed walls only near where the template has them (wall_offsets, from
    the box's left edge): a long straight handwritten 1 elsewhere stays ink. halo_radius is the
    field kind's HALO_RADIUS.
    """
    gray, origin, local_box = _cut(page, box, margin_x, margin_y)
    mask, darkness = ink_mask(gray)
    horizontal, vertical = _lines(mask, rule_length, wall_length)
    allowed = np.zeros(mask.shape[1], bool)
    for offset in wall_offsets:
        center = local_box[0] + int(offset)
        allowed[max(0, center - wall_window) : max(0, center + wall_window + 1)] = True
    vertical[:, ~allowed] = 0
    ink = _remove_lines(mask, horizontal, vertical)
    return FieldCrop(gray, ink, darkness, origin, local_box, vertical, mask & (1 - ink), halo_radius)


def character_image(
    crop: FieldCrop, mask: np.ndarray, offset: tuple[int, int] = (0, 0)
) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Dark-on-white image of the ink under mask (other ink and lines erased), and its bounding box.

    mask covers the crop from offset (x, y) on; the box is in crop coordinates.
    """
    rows = np.flatnonzero(mask.any(axis=1))
    columns = np.flatnonzero(mask.any(axis=0))
    top, bottom, left, right = rows[0], rows[-1] + 1, columns[0], columns[-1] + 1
    height, width = mask.shape
    pad_top, pad_left = max(0, top - CROP_PADDING), max(0, left - CROP_PADDING)
    pad_bottom, pad_right = min(height, bottom + CROP_PADDING), min(width, right + CROP_PADDING)
    # Keep the anti-aliased edge of the strokes: a halo around the mask keeps its gray values.
    own = mask[pad_top:pad_bottom, pad_left:pad_right]
    size = 2 * crop.halo_radius + 1
    halo = cv2.dilate(own, np.ones((size, size), np.uint8))
    offset_x, offset_y = offset
    rows = slice(pad_top + offset_y, pad_bottom + offset_y)
    columns = slice(pad_left + offset_x, pad_right + offset_x)
    if crop.halo_radius > 1:
        # A wider halo must not take in the printed lines or another character's ink.
        foreign = crop.lines[rows, columns] | (crop.ink[rows, columns] & (1 - own))
        halo &= 1 - cv2.dilate(foreign, np.ones((3, 3), np.uint8))
        halo |= own
    darkness = crop.darkness[rows, columns]
    darkness = darkness * halo
    peak = max(float(darkness.max()), 0.2)
    image = (255 - np.clip(darkness * (255.0 / peak), 0, 255)).astype(np.uint8)
    return image, (int(left + offset_x), int(top + offset_y), int(right - left), int(bottom - top))


def to_page_box(crop: FieldCrop, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    return (box[0] + crop.origin[0], box[1] + crop.origin[1], box[2], box[3])


def split_wide(mask: np.ndarray, pieces: int) -> list[int]:
    """Columns where to cut a run of touching characters, near the even split points.

    A good cut crosses as few strokes as possible: the column where two characters touch is one
    stroke, while the hollow of an 0 or 8 is two. Ties go to the column nearer the even split and
    with less ink.
    """
    profile = mask.sum(axis=0).astype(np.float32)
    runs = (mask[0] > 0).astype(np.float32) + ((mask[1:] > 0) & (mask[:-1] == 0)).sum(axis=0)
    width = len(profile)
    peak = max(float(profile.max()), 1.0)
    cuts = []
    for index in range(1, pieces):
        target = index * width / pieces
        window = max(1, int(width / pieces * 0.3))
        start, stop = max(1, int(target) - window), min(width - 1, int(target) + window + 1)
        if stop <= start:
            cuts.append(int(target))
            continue
        columns = np.arange(start, stop)
        cost = runs[start:stop] + 0.5 * np.abs(columns - target) / window + 0.3 * profile[start:stop] / peak
        cuts.append(int(columns[np.argmin(cost)]))
    return cuts


def best_cut_path(choices: CutChoices, confidences: dict[tuple[int, int], float]) -> list[int]:
    """The column path through a group whose pieces' confidences have the highest product."""
    best = [-np.inf] * choices.column_count
    previous = [-1] * choices.column_count
    best[0] = 0.0
    for last in range(1, choices.column_count):
        for first in range(last):
            if (first, last) in confidences and best[first] > -np.inf:
                score = best[first] + float(np.log(max(confidences[(first, last)], 1e-6)))
                if score > best[last]:
                    best[last], previous[last] = score, first
    if best[-1] == -np.inf:
        return choices.default
    path = [choices.column_count - 1]
    while path[-1] != 0:
        path.append(previous[path[-1]])
    return path[::-1]


def resolve_group(segment: Segment, path: list[int]) -> list[Segment]:
    """The 'char' segments of a group along a path of cut columns."""
    return [
        Segment("char", segment.choices.pieces[(first, last)][1], segment.choices.pieces[(first, last)][0])
        for first, last in zip(path[:-1], path[1:], strict=True)
        if (first, last) in segment.choices.pieces
    ]


def split_in_two(segment: Segment) -> tuple[Segment, Segment] | None:
    """A 'char' segment cut into two at the column where its ink is easiest to cut (two touching digits);
    None when its image has fewer than two columns of dark ink (nothing to cut between).

    The cut is found on the segment's own image (dark ink on white) with the rule of split_wide; the
    two images keep the image's height, and the segment's box is cut at the same share of its ink's
    width (the box is the ink's bounding box, so the two boxes meet where the ink was cut).
    """
    if segment.kind != "char" or segment.image is None:
        raise ValueError("only a character segment can be split")
    image = segment.image
    mask = (image < 128).astype(np.uint8)
    columns = np.flatnonzero(mask.any(axis=0))
    if len(columns) < 2:
        return None
    ink_left, ink_right = int(columns[0]), int(columns[-1]) + 1
    cut = ink_left + split_wide(mask[:, ink_left:ink_right], 2)[0]
    x, y, width, height = segment.box
    scale = width / max(ink_right - ink_left, 1)
    box_cut = int(round((cut - ink_left) * scale))
    white = np.full((image.shape[0], CROP_PADDING), 255, dtype=image.dtype)
    left_image = np.hstack([image[:, :cut], white])
    right_image = np.hstack([white, image[:, cut:]])
    return (
        Segment("char", (x, y, max(1, box_cut), height), left_image),
        Segment("char", (x + box_cut, y, max(1, width - box_cut), height), right_image),
    )
