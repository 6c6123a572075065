"""Align a page by the printed structures a standard fixes (comb boxes, rectangles), not by its print.

Cheques of different banks share a layout (CTS-2010: the 8-box date comb at the top right, the
amount box after the rupee sign) but nothing else: logos, addresses and background patterns differ,
so the print features that align an ordinary form do not match across banks. Here the page is
brought to the template's width and turned upright by its rules, each structure the template declares
is looked for near where the template has it (its size may differ by some per cent from bank to bank),
and the page is shifted onto the template by the structures found. A structure is recognised by its
shape (a comb is N equal cells between N + 1 walls; a box is two long rules with walls at their
ends), which a page that is not such a document does not have: it is reported unaligned, never read.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from recognition.engine.pages.align import Alignment, AlignmentError
from recognition.engine.pages.prepare import RULE_GAP, estimate_skew, long_runs, printed_dark

# The page's aspect ratio may differ from the template's this much (scanners crop a little
# differently); beyond it the page is not the document the template describes.
ASPECT_TOLERANCE = 0.15
# Structures are looked for this far around where the template has them (shares of the page width
# and height), at these sizes relative to the template's.
SEARCH_MARGIN = (0.08, 0.12)
SIZE_RANGE = (0.75, 1.3)
# A comb or box whose walls and rules are found over less than this share of their length is not
# taken; a page whose required structures score less on average is not aligned.
MIN_STRUCTURE_SCORE = 0.45
# Rules tried as a structure's top or bottom, the strongest in its search window.
MAX_RULE_CANDIDATES = 12
# Pixels around a structure's outline and walls left out when its inside is looked at (_clutter).
CLUTTER_MARGIN = 6
# A structure's inside may be wall-like over this share and still be one; from CLUTTER_REFUSED on,
# it scores nothing (_clutter).
CLUTTER_TOLERATED = 0.2
CLUTTER_REFUSED = 0.5
MIN_LAYOUT_SCORE = 0.6
# A scan's skew is looked for up to this many degrees, in steps of SKEW_STEP.
MAX_ROTATION_DEGREES = 3.0
SKEW_STEP = 0.1
MIN_SKEW_DEGREES = 0.5


@dataclass(frozen=True)
class Structure:
    """A printed structure of a template: a comb of `cells` boxes, or a box (cells None)."""

    name: str
    box: tuple[int, int, int, int]
    cells: int | None = None
    required: bool = True


@dataclass(frozen=True)
class Found:
    """Where a structure was found on the width-normalised page, and how much of it was seen (0..1)."""

    structure: Structure
    box: tuple[float, float, float, float]
    score: float


def template_structures(template) -> list[Structure]:
    """The structures a template declares in its optional `layout` list; by default its comb fields.

    Each entry: {"name": ..., "box": [x, y, w, h], "cells": N or null, "required": true}. A structure
    named like a field locates that field: the field's box moves and scales with it.
    """
    declared = template.source.get("layout")
    if declared is None:
        return [Structure(spec.name, tuple(spec.box), spec.cells) for spec in template.fields if spec.cells]
    if not isinstance(declared, list) or not declared:
        raise ValueError(f"template {template.name!r}: 'layout' must be a non-empty list of structures")
    structures = []
    for index, entry in enumerate(declared):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise ValueError(f"template {template.name!r}: layout[{index}] needs a 'name'")
        box = entry.get("box")
        if not isinstance(box, list | tuple) or len(box) != 4 or min(box[2:]) <= 0:
            raise ValueError(f"template {template.name!r}: layout {entry['name']!r} needs a box [x, y, w, h]")
        x, y, width, height = box
        if x < 0 or y < 0 or x + width > template.size[0] or y + height > template.size[1]:
            raise ValueError(f"template {template.name!r}: layout {entry['name']!r} lies outside the image")
        cells = entry.get("cells")
        if cells is not None and (not isinstance(cells, int) or cells < 1):
            raise ValueError(f"template {template.name!r}: layout {entry['name']!r}: cells must be >= 1")
        structures.append(
            Structure(
                entry["name"], tuple(int(value) for value in box), cells, bool(entry.get("required", True))
            )
        )
    if not any(structure.required for structure in structures):
        raise ValueError(f"template {template.name!r}: at least one layout structure must be required")
    return structures


def line_maps(gray: np.ndarray, rule_length: int, wall_length: int) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal rules and vertical walls of a page (uint8 0/1 masks): dark runs at least this long.

    The threshold is local (a printed line is darker than the paper around it, whatever the
    background's colour); the long openings drop handwriting and text, which have no long runs.
    """
    dark = printed_dark(gray)
    return long_runs(dark, (RULE_GAP, 1), (rule_length, 1)), long_runs(dark, (1, RULE_GAP), (1, wall_length))


def _search_window(box, shape) -> tuple[int, int, int, int]:
    """The page region (x0, y0, x1, y1) searched for a structure expected at box."""
    height, width = shape
    x, y, box_width, box_height = box
    margin_x, margin_y = SEARCH_MARGIN[0] * width, SEARCH_MARGIN[1] * height
    grow = SIZE_RANGE[1] - 1
    x0 = int(max(0, x - margin_x - grow * box_width / 2))
    x1 = int(min(width, x + box_width * SIZE_RANGE[1] + margin_x))
    y0 = int(max(0, y - margin_y - grow * box_height / 2))
    y1 = int(min(height, y + box_height * SIZE_RANGE[1] + margin_y))
    return x0, y0, x1, y1


def _clutter(walls, left: int, top: int, right: int, bottom: int, wall_columns) -> float:
    """How far a structure's inside (away from its outline and walls) is from paper and writing,
    0 (a printed comb or box) to 1 (texture or noise, where every region is "walls").

    Writing inside a box, even dense scribble, leaves most of it free of wall-like runs (a fifth at
    most, CLUTTER_TOLERATED); a page of noise is wall over some two thirds. Only walls count: a long
    horizontal stroke of the writing (an amount's closing dash) is a rule-like run inside a box.
    """
    inner = walls[top + CLUTTER_MARGIN : bottom - CLUTTER_MARGIN, left:right].astype(bool)
    if inner.size == 0:
        return 0.0
    away = np.ones(inner.shape[1], dtype=bool)
    for column in wall_columns:
        away[
            max(0, int(column) - left - CLUTTER_MARGIN) : max(0, int(column) - left + CLUTTER_MARGIN + 1)
        ] = False
    if not away.any():
        return 0.0
    share = float(inner[:, away].mean())
    return float(np.clip((share - CLUTTER_TOLERATED) / (CLUTTER_REFUSED - CLUTTER_TOLERATED), 0.0, 1.0))


def _size_penalty(ratio: float) -> float:
    """A small score penalty for a size unlike the template's, so that of two equally printed
    candidates (a box and the box less its rupee-sign part) the one nearer the template wins."""
    return 0.15 * abs(ratio - 1)


def _peaks(profile: np.ndarray, minimum: float) -> np.ndarray:
    """Positions where a smoothed profile has a local maximum of at least minimum."""
    smooth = np.convolve(profile, np.ones(3) / 3, mode="same")
    left = np.r_[-np.inf, smooth[:-1]]
    right = np.r_[smooth[1:], -np.inf]
    return np.flatnonzero((smooth >= minimum) & (smooth >= left) & (smooth > right))


def _wall_run(walls: np.ndarray, column: int, top: int, bottom: int) -> float:
    """Share of rows top..bottom where a wall runs at column (give or take 2 px)."""
    strip = walls[top:bottom, max(0, column - 2) : column + 3]
    return float(strip.max(axis=1).mean()) if strip.size else 0.0


def _rule_run(rules: np.ndarray, row: int, left: int, right: int) -> float:
    """Share of columns left..right where a rule runs at row (give or take 2 px)."""
    strip = rules[max(0, row - 2) : row + 3, left:right]
    return float(strip.max(axis=0).mean()) if strip.size else 0.0


def _rule_rows(rules: np.ndarray, window, expected_width: float) -> np.ndarray:
    """Rows of the window where a rule runs over at least a third of the expected structure width."""
    x0, y0, x1, y1 = window
    profile = rules[y0:y1, x0:x1].sum(axis=1).astype(np.float32)
    rows = _peaks(profile, expected_width / 3)
    # Only the strongest: a page of texture has a "rule" on every other row, and every pair of them
    # would be searched.
    strongest = np.sort(rows[np.argsort(-profile[rows], kind="stable")[:MAX_RULE_CANDIDATES]])
    return strongest + y0


def find_comb(rules: np.ndarray, walls: np.ndarray, structure: Structure) -> Found | None:
    """The best comb of structure.cells equal cells near where the template has it, or None.

    Candidates are pairs of rules (top and bottom) about the comb's height apart; between them, the
    walls' column profile is searched for cells + 1 equally spaced walls (pitch and start free within
    SIZE_RANGE). The score is the mean share of each wall and of both rules that is really printed.
    """
    return _best_between_rules(rules, walls, structure, _comb_between)


def _best_between_rules(rules, walls, structure: Structure, between) -> Found | None:
    """The best structure `between` finds between any two rules about the structure's height apart
    near where the template has it (between(rules, walls, structure, window, top, bottom))."""
    window = _search_window(structure.box, rules.shape)
    _, _, template_width, template_height = structure.box
    rows = _rule_rows(rules, window, template_width * SIZE_RANGE[0])
    best: Found | None = None
    for top in rows:
        for bottom in rows[rows > top]:
            height = bottom - top
            if not SIZE_RANGE[0] * template_height <= height <= SIZE_RANGE[1] * template_height:
                continue
            found = between(rules, walls, structure, window, int(top), int(bottom))
            if found is not None and (best is None or found.score > best.score):
                best = found
    return best


def _comb_between(rules, walls, structure: Structure, window, top: int, bottom: int) -> Found | None:
    """The best equally spaced comb between two rules, by the walls' column profile."""
    x0, _, x1, _ = window
    cells = structure.cells
    inner_top, inner_bottom = top + 3, bottom - 2
    profile = walls[inner_top:inner_bottom, x0:x1].mean(axis=0)
    template_pitch = structure.box[2] / cells
    best = None
    for pitch in np.arange(SIZE_RANGE[0] * template_pitch, SIZE_RANGE[1] * template_pitch, 0.5):
        span = pitch * cells
        if span >= len(profile):
            break
        starts = np.arange(0, len(profile) - span - 1)
        positions = starts[:, None] + pitch * np.arange(cells + 1)[None, :]
        # Each wall may sit a pixel or two off the grid: take the best of its neighbourhood.
        index = np.clip(np.rint(positions).astype(int), 0, len(profile) - 1)
        near = np.maximum.reduce(
            [profile[np.clip(index + shift, 0, len(profile) - 1)] for shift in (-2, -1, 0, 1, 2)]
        )
        # The weakest walls count: a comb needs all of them, handwriting gives only some.
        strength = np.sort(near, axis=1)[:, : max(2, cells // 3)].mean(axis=1) * 0.5 + near.mean(axis=1) * 0.5
        start = int(np.argmax(strength))
        if best is None or strength[start] > best[0]:
            best = (float(strength[start]), x0 + int(starts[start]), float(pitch))
    if best is None:
        return None
    wall_score, left, pitch = best
    fitted_left, pitch = _refined_grid(profile, left - x0, pitch, cells)
    left = int(round(fitted_left + x0))
    template_pitch = structure.box[2] / cells
    right = int(round(left + pitch * cells))
    rule_score = (_rule_run(rules, top, left, right) + _rule_run(rules, bottom, left, right)) / 2
    score = min(wall_score, 1.0) * 0.6 + rule_score * 0.4 - _size_penalty(pitch / template_pitch)
    walls_at = [left + pitch * wall for wall in range(cells + 1)]
    score *= 1.0 - _clutter(walls, left, top, right, bottom, walls_at)
    return Found(structure, (float(left), float(top), float(right - left), float(bottom - top)), score)


def _refined_grid(profile: np.ndarray, left: float, pitch: float, cells: int) -> tuple[float, float]:
    """The comb's first wall and pitch fitted to the centres of its walls (each wall's profile mass
    within a few pixels of the grid), as the coarse search stops at the first of equal candidates."""
    positions, centres = [], []
    columns = np.arange(len(profile))
    for wall in range(cells + 1):
        expected = left + wall * pitch
        near = (columns >= expected - 4) & (columns <= expected + 4)
        weights = profile[near]
        if weights.sum() > 0:
            positions.append(wall)
            centres.append(float((columns[near] * weights).sum() / weights.sum()))
    if len(positions) < 2:
        return left, pitch
    fitted_pitch, fitted_left = np.polyfit(positions, centres, 1)
    return float(fitted_left), float(fitted_pitch)


def find_box(rules: np.ndarray, walls: np.ndarray, structure: Structure) -> Found | None:
    """The best box near where the template has it, or None: two rules about its height apart and
    two walls between them about its width apart (rules often run on beyond a box, as the amount
    box's do into the words lines, so the walls give its ends)."""
    return _best_between_rules(rules, walls, structure, _box_between)


def _box_between(rules, walls, structure: Structure, window, top: int, bottom: int) -> Found | None:
    """The best pair of walls between two rules, scored by how much of the box's outline is printed."""
    x0, _, x1, _ = window
    template_width = structure.box[2]
    profile = walls[top + 3 : bottom - 2, x0:x1].mean(axis=0)
    columns = _peaks(profile, 0.6) + x0
    best = None
    for left in columns:
        for right in columns[columns > left]:
            width = int(right - left)
            if not SIZE_RANGE[0] * template_width <= width <= SIZE_RANGE[1] * template_width:
                continue
            rule_score = (
                _rule_run(rules, top, int(left), int(right)) + _rule_run(rules, bottom, int(left), int(right))
            ) / 2
            wall_score = (
                _wall_run(walls, int(left), top, bottom) + _wall_run(walls, int(right), top, bottom)
            ) / 2
            score = rule_score * 0.6 + wall_score * 0.4 - _size_penalty(width / template_width)
            score *= 1.0 - _clutter(walls, int(left), top, int(right), bottom, (left, right))
            if best is None or score > best.score:
                best = Found(structure, (float(left), float(top), float(width), float(bottom - top)), score)
    return best


def _deskewing(shape: tuple[int, int], degrees: float) -> np.ndarray:
    """The 2x3 rotation about the page centre that takes out a skew of this many degrees."""
    height, width = shape
    return cv2.getRotationMatrix2D((width / 2, height / 2), -degrees, 1.0)


def _translation(found: list[Found]) -> tuple[float, float]:
    """The shift (template - page) of the found structures' centres, on average.

    The structures' sizes and exact places differ from bank to bank, so a scale or a rotation fitted to
    them would distort the page; the page's scale comes from its width and its rotation from its rules.
    """
    shifts = [
        (
            item.structure.box[0] + item.structure.box[2] / 2 - (item.box[0] + item.box[2] / 2),
            item.structure.box[1] + item.structure.box[3] / 2 - (item.box[1] + item.box[3] / 2),
        )
        for item in found
    ]
    return float(np.mean([shift[0] for shift in shifts])), float(np.mean([shift[1] for shift in shifts]))


def find_structures(normalised: np.ndarray, structures: list[Structure]) -> list[Found | None]:
    """Each structure found on a page already brought to the template's width, or None."""
    width = normalised.shape[1]
    smallest_wall = min(structure.box[3] for structure in structures)
    rules, walls = line_maps(normalised, max(40, width // 40), max(15, int(smallest_wall * 0.5)))
    found = []
    for structure in structures:
        finder = find_comb if structure.cells else find_box
        item = finder(rules, walls, structure)
        found.append(item if item is not None and item.score >= MIN_STRUCTURE_SCORE else None)
    return found


@dataclass
class LayoutAlignment(Alignment):
    """A layout alignment: also where each structure was found, in template pixels."""

    structure_boxes: dict | None = None

    def to_dict(self) -> dict:
        return {
            "method": "layout",
            "score": round(self.score, 3),
            "structures": {name: list(box) for name, box in (self.structure_boxes or {}).items()},
        }


def align_layout(page: np.ndarray, template) -> LayoutAlignment:
    """Align a page to a layout template (see the module docstring).

    Raises AlignmentError (with .score) when the page's shape is not the template's, a required
    structure is missing, or the transform is not one a scanner produces.
    """
    if page.ndim != 2 or page.dtype != np.uint8:
        raise ValueError("page must be a 2-D uint8 grayscale image")
    template_width, template_height = template.size
    page_height, page_width = page.shape
    aspect = (page_width / page_height) / (template_width / template_height)
    if abs(aspect - 1) > ASPECT_TOLERANCE:
        raise AlignmentError(
            f"page does not align with the template: its shape {page_width}x{page_height} is not the "
            f"template's ({template_width}x{template_height}, aspect off by {100 * abs(aspect - 1):.0f} %)",
            0.0,
        )
    scale = template_width / page_width
    normalised = cv2.resize(page, (template_width, round(page_height * scale)), interpolation=cv2.INTER_AREA)
    skew = estimate_skew(normalised, MAX_ROTATION_DEGREES, SKEW_STEP)
    if abs(skew) < MIN_SKEW_DEGREES:
        skew = 0.0  # under it a field moves by a pixel or two; resampling would cost more sharpness
    rotation = _deskewing(normalised.shape, skew)
    upright = cv2.warpAffine(normalised, rotation, normalised.shape[::-1], borderMode=cv2.BORDER_REPLICATE)
    structures = template_structures(template)
    found = find_structures(upright, structures)
    required = [item for item, structure in zip(found, structures, strict=True) if structure.required]
    score = float(np.mean([item.score if item else 0.0 for item in required]))
    missing = [
        structure.name
        for item, structure in zip(found, structures, strict=True)
        if structure.required and item is None
    ]
    if missing or score < MIN_LAYOUT_SCORE:
        what = (
            f"{', '.join(missing)} not found" if missing else f"layout score {score:.2f} < {MIN_LAYOUT_SCORE}"
        )
        raise AlignmentError(f"page does not align with the template's layout: {what}", score)
    seen = [item for item in found if item is not None]
    shift_x, shift_y = _translation(seen)
    transform = rotation.copy()
    transform[:, 2] += (shift_x, shift_y)
    aligned = cv2.warpAffine(
        normalised,
        transform,
        (template_width, template_height),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    homography = np.vstack([transform, [0, 0, 1]]) @ np.diag([scale, scale, 1.0])
    boxes = {
        item.structure.name: tuple(
            int(round(value))
            for value in (item.box[0] + shift_x, item.box[1] + shift_y, item.box[2], item.box[3])
        )
        for item in seen
    }
    return LayoutAlignment(homography, aligned, score, len(seen), len(structures), 0.0, score, boxes)


def locate_fields(specs, structures: list[Structure], boxes: dict, size: tuple[int, int]) -> list:
    """The fields with their boxes moved to where their structure was found (template pixels).

    A field named by a structure keeps its place relative to it: the field's box is mapped by the
    transform that takes the template's structure box to the found one (a shift and a scale per axis).
    Other fields keep the template's box, which the alignment has already mapped.
    """
    by_name = {structure.name: structure for structure in structures}
    located = []
    for spec in specs:
        structure = by_name.get(spec.name)
        if structure is None or spec.name not in boxes:
            located.append(spec)
            continue
        sx, sy, sw, sh = structure.box
        fx, fy, fw, fh = boxes[spec.name]
        x_scale, y_scale = fw / sw, fh / sh
        x, y, width, height = spec.box
        left = min(max(0, int(round(fx + (x - sx) * x_scale))), size[0] - 1)
        top = min(max(0, int(round(fy + (y - sy) * y_scale))), size[1] - 1)
        right = min(size[0], int(round(fx + (x - sx + width) * x_scale)))
        bottom = min(size[1], int(round(fy + (y - sy + height) * y_scale)))
        located.append(
            replace(spec, box=(left, top, max(1, right - left), max(1, bottom - top)), located=True)
        )
    return located
