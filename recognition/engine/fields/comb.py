"""Cut a comb field into its cells' characters, and find the printed comb in a loosely cropped field."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from recognition.engine.fields.segment import (
    HALO_RADIUS,
    CutChoices,
    FieldCrop,
    Segment,
    character_image,
    prepare_crop,
    to_page_box,
)
from recognition.engine.pages.prepare import ink_mask

# Where a stroke runs from one comb cell into the next, the cut between them may be moved this far
# from the printed wall (in cell widths), to where the stroke is thinnest.
COMB_CUT_WINDOW = 0.3
COMB_CUT_CANDIDATES = 3
# A blank cell whose own ink stays under this share of a character's is plainly empty; above it the
# blank's confidence falls, so a faint digit taken for blank sends its field to review.
BLANK_INK_SHARE_IGNORED = 0.25
# A cell with less ink than blank_fraction of its area still holds a character when one stroke runs
# down this share of its height and has at least this share of that ink (a thin 1).
TALL_STROKE_SHARE = 0.4
THIN_STROKE_INK_SHARE = 0.3
# How far (in cell widths) a printed wall is looked for around where the box puts it.
WALL_TOLERANCE = 0.3
LOCATED_WALL_TOLERANCE = 0.08
LOCATED_WALL_LENGTH = 0.5


def _find_walls(
    vertical: np.ndarray, expected: np.ndarray, cell_width: float, box_height: int, tolerance: float
) -> np.ndarray:
    """Printed wall positions near the expected ones (within tolerance cell widths); walls not seen
    follow the ones that were."""
    profile = vertical.sum(axis=0).astype(np.float32)
    window = max(2, int(cell_width * tolerance))
    found = np.full(len(expected), np.nan)
    for index, position in enumerate(expected):
        start, stop = max(0, int(position) - window), min(len(profile), int(position) + window + 1)
        if stop <= start:
            continue
        segment = profile[start:stop]
        best = int(np.argmax(segment))
        if segment[best] >= 0.5 * box_height:
            # Centre of the wall: the mean column of everything close to the peak (walls are 2-4 px).
            strong = np.flatnonzero(segment >= 0.5 * segment[best])
            strong = strong[np.abs(strong - best) <= 3]
            found[index] = start + float(strong.mean())
    seen = ~np.isnan(found)
    if seen.sum() == 0:
        return expected.astype(np.float64)
    offset = float(np.median(found[seen] - expected[seen]))
    walls = np.where(seen, found, expected + offset)
    # A wall must keep the comb's order and roughly its spacing; otherwise trust the grid.
    if np.any(np.diff(walls) < cell_width * 0.5):
        walls = expected + offset
    return walls


def _comb_cut_candidates(component: np.ndarray, wall: int, window: int, margin: tuple[int, int]) -> list[int]:
    """Columns near a wall where a touching pair of characters may be cut: the wall itself first, then
    the columns crossing the fewest strokes with the least ink (component: uint8 mask of the crop)."""
    low, high = max(margin[0], wall - window), min(margin[1], wall + window + 1)
    candidates = [wall]
    if high - low < 2:
        return candidates
    part = component[:, low:high]
    runs = (part[0] > 0).astype(np.float32) + ((part[1:] > 0) & (part[:-1] == 0)).sum(axis=0)
    ink = part.sum(axis=0).astype(np.float32)
    columns = np.arange(low, high)
    cost = runs + 0.3 * ink / max(float(ink.max()), 1.0) + 0.5 * np.abs(columns - wall) / max(window, 1)
    for index in np.argsort(cost, kind="stable"):
        if len(candidates) >= COMB_CUT_CANDIDATES:
            break
        column = int(columns[index])
        if all(abs(column - other) >= 3 for other in candidates):
            candidates.append(column)
    return candidates


@dataclass
class _CombInk:
    """A comb field's crop, its printed walls, and its ink components, each given to its cell."""

    crop: FieldCrop
    cells: int
    cell_width: float
    height: int  # the field box's height
    blank_fraction: float
    walls: np.ndarray  # the cells + 1 wall positions, in crop columns
    wall_columns: list[int]  # the walls rounded to whole columns
    count: int  # connected components of the ink, the background included
    labels: np.ndarray
    stats: np.ndarray
    cell_of_component: np.ndarray  # each component's cell; -1 for none (too small, outside, or wide)
    wide_components: list[int]  # components wider than a cell: strokes running across a wall

    def wall_cuts(self, cell: int) -> dict[int, tuple[int, int]]:
        """Every wide component cut at the walls of a cell (label -> (left, right))."""
        return {
            label: (self.wall_columns[cell], self.wall_columns[cell + 1]) for label in self.wide_components
        }

    def blank_confidence(self, cell: int) -> float:
        """How sure it is that a cell taken for blank is empty: 1 without ink, lower the closer the
        cell's own ink comes to what counts as a character (a faint or flat digit is not a blank)."""
        labels_here = np.flatnonzero(self.cell_of_component == cell)
        ink = float(self.stats[labels_here, cv2.CC_STAT_AREA].sum()) if labels_here.size else 0.0
        share = ink / max(self.blank_fraction * self.cell_width * self.height, 1.0)
        if share < BLANK_INK_SHARE_IGNORED:
            return 1.0
        return round(max(0.2, 1.0 - share), 4)

    def cell_image(self, cell: int, cuts: dict[int, tuple[int, int]]):
        """The character of a cell: its own components, plus the parts of wide components between the
        given columns (label -> (left, right)); None for a blank cell. Returns (image, crop box)."""
        stats, crop_width = self.stats, self.crop.ink.shape[1]
        labels_here = np.flatnonzero(self.cell_of_component == cell)
        window_left = max(0, self.wall_columns[cell])
        window_right = min(crop_width, self.wall_columns[cell + 1])
        for label in labels_here:
            window_left = min(window_left, int(stats[label, 0]))
            window_right = max(window_right, int(stats[label, 0] + stats[label, 2]))
        for label, (cut_left, cut_right) in cuts.items():
            # A cut moved past the wall reaches out of the cell: widen the window to it.
            left, right = int(stats[label, 0]), int(stats[label, 0] + stats[label, 2])
            if min(cut_right, right) > max(cut_left, left):
                window_left = min(window_left, max(0, cut_left, left))
                window_right = max(window_right, min(crop_width, cut_right, right))
        lookup = np.zeros(self.count, np.uint8)
        lookup[labels_here] = 1
        window_labels = self.labels[:, window_left:window_right]
        mask_window = lookup[window_labels]
        for label, (cut_left, cut_right) in cuts.items():
            inner_left = max(cut_left, window_left) - window_left
            inner_right = max(inner_left, min(cut_right, window_right) - window_left)
            mask_window[:, inner_left:inner_right] |= (
                window_labels[:, inner_left:inner_right] == label
            ).astype(np.uint8)
        cell_area = self.cell_width * self.height
        rows = np.flatnonzero(mask_window.any(axis=1))
        ink = int(mask_window.sum())
        # A 1 in a fine pen is little ink in a big box, but a stroke down most of it.
        tall_stroke = rows.size > 0 and rows[-1] - rows[0] + 1 >= TALL_STROKE_SHARE * self.height
        if ink < self.blank_fraction * cell_area and not (
            tall_stroke and ink >= THIN_STROKE_INK_SHARE * self.blank_fraction * cell_area
        ):
            return None
        if rows[-1] - rows[0] + 1 < self.height * 0.25:
            return None
        return character_image(self.crop, mask_window, (window_left, 0))


def _comb_ink(
    page: np.ndarray,
    box: tuple[int, int, int, int],
    cells: int,
    blank_fraction: float,
    kind: str,
    located: bool = False,
) -> _CombInk:
    """Cut a comb field out of the page, find its walls, and give each ink component to its cell."""
    wall_tolerance = LOCATED_WALL_TOLERANCE if located else WALL_TOLERANCE
    _, _, width, height = box
    cell_width = width / cells
    margin_x, margin_y = max(3, int(cell_width * 0.25)), max(3, int(height * 0.3))
    crop = prepare_crop(
        page,
        box,
        margin_x,
        margin_y,
        # Where the walls are known (a located comb), a wall printed faint or broken still goes.
        wall_length=int(height * (LOCATED_WALL_LENGTH if located else 0.8)),
        rule_length=int(max(cell_width * 1.6, 20)),
        wall_offsets=np.arange(cells + 1) * cell_width,
        wall_window=max(2, int(cell_width * wall_tolerance)),
        halo_radius=HALO_RADIUS.get(kind, 1),
    )
    box_x, box_y = crop.box[0], crop.box[1]
    expected = box_x + np.arange(cells + 1) * cell_width
    walls = _find_walls(crop.vertical_lines, expected, cell_width, height, wall_tolerance)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(crop.ink, connectivity=8)
    min_area = max(4, int(cell_width * height * 0.004))
    # Vectorised over components: a noisy scan has hundreds of specks.
    lefts, tops, widths, heights, areas = (stats[:, column] for column in range(5))
    centers = lefts + widths / 2
    cell_of_component = np.searchsorted(walls, centers) - 1
    # Ink must reach into the box (not just the label printed above it or a neighbour below).
    keep = (
        (areas >= min_area)
        & (tops + heights >= box_y + height * 0.15)
        & (tops <= box_y + height * 0.85)
        & (cell_of_component >= 0)
        & (cell_of_component < cells)
    )
    keep[0] = False  # the background
    is_wide = keep & (widths > cell_width * 1.35)
    return _CombInk(
        crop=crop,
        cells=cells,
        cell_width=cell_width,
        height=height,
        blank_fraction=blank_fraction,
        walls=walls,
        wall_columns=[int(wall + 0.5) for wall in walls],
        count=count,
        labels=labels,
        stats=stats,
        cell_of_component=np.where(keep & ~is_wide, cell_of_component, -1),
        wide_components=np.flatnonzero(is_wide).tolist(),
    )


def _comb_groups(ink: _CombInk) -> dict[int, tuple[int, Segment]]:
    """The groups of cells spanned by exactly one wide component (and no other), which recognition
    can cut: first cell -> (last cell, 'group' segment)."""
    covered: dict[int, int] = {}
    spans = {}
    for label in ink.wide_components:
        left, right = int(ink.stats[label, 0]), int(ink.stats[label, 0] + ink.stats[label, 2])
        first = max(0, int(np.searchsorted(ink.walls, left + 1)) - 1)
        last = min(ink.cells - 1, int(np.searchsorted(ink.walls, right - 1)) - 1)
        spans[label] = (first, last, left, right)
        for cell in range(first, last + 1):
            covered[cell] = covered.get(cell, 0) + 1
    groups: dict[int, tuple[int, Segment]] = {}
    for label, (first, last, left, right) in spans.items():
        if last <= first or any(covered[cell] > 1 for cell in range(first, last + 1)):
            continue
        group = _comb_group(ink, label, (first, last), (left, right))
        if group is not None:
            groups[first] = (last, group)
    return groups


def _comb_group(
    ink: _CombInk, label: int, cell_span: tuple[int, int], column_span: tuple[int, int]
) -> Segment | None:
    """The 'group' of the cells a wide component spans: each cell's character with the cut at the
    wall or at a thinner column near it. None when a cell is blank at the wall cut (the simple cut
    is left alone then)."""
    (first, last), (left, right) = cell_span, column_span
    wall_columns = ink.wall_columns
    component = (ink.labels == label).astype(np.uint8)
    window = max(2, int(ink.cell_width * COMB_CUT_WINDOW))
    margin = (left + 2, right - 2)
    # Columns: the component's left end, the candidates at each inner wall, its right end.
    steps = [[min(left, wall_columns[first])]]
    steps += [
        _comb_cut_candidates(component, wall_columns[wall], window, margin)
        for wall in range(first + 1, last + 1)
    ]
    steps.append([max(right, wall_columns[last + 1])])
    columns, index_of = [], []
    for step in steps:
        index_of.append(list(range(len(columns), len(columns) + len(step))))
        columns.extend(step)
    pieces = {}
    for offset, cell in enumerate(range(first, last + 1)):
        for start_index, start in zip(index_of[offset], steps[offset], strict=True):
            for stop_index, stop in zip(index_of[offset + 1], steps[offset + 1], strict=True):
                cuts = ink.wall_cuts(cell)
                cuts[label] = (start, stop)
                found = ink.cell_image(cell, cuts)
                if found is not None:
                    pieces[(start_index, stop_index)] = (found[0], to_page_box(ink.crop, found[1]))
    default = [indices[0] for indices in index_of]
    default_cells = [(a, b) for a, b in zip(default[:-1], default[1:], strict=True)]
    if not all(key in pieces for key in default_cells):
        return None
    page_box = to_page_box(ink.crop, (left, ink.crop.box[1], right - left, ink.height))
    return Segment("group", page_box, choices=CutChoices(len(columns), pieces, default))


def segment_comb(
    page: np.ndarray,
    box: tuple[int, int, int, int],
    cells: int,
    blank_fraction: float = 0.025,
    keep_groups: bool = False,
    kind: str = "digits",
    located: bool = False,
) -> list[Segment]:
    """One segment per cell of a comb field ('char' or 'blank'), boxes in page coordinates.

    A stroke that runs from one cell into the next (characters touching across a wall) is cut at the
    wall. With keep_groups, the cells such a stroke spans become one 'group' segment instead, whose
    pieces are each cell's character with the cut at the wall or at a thinner column near it; the
    reader lets recognition choose (a cut through the middle of a leaning 0 reads badly on both sides).
    kind is the field's kind (it sets HALO_RADIUS). located: the box was found on the page itself
    (layout alignment), so its walls are known to a few pixels (LOCATED_WALL_TOLERANCE; a wider search
    would take a 1 written beside a wall for the wall) and faint or broken ones still go.
    """
    ink = _comb_ink(page, box, cells, blank_fraction, kind, located)
    groups = _comb_groups(ink) if keep_groups else {}
    box_y, wall_columns = ink.crop.box[1], ink.wall_columns
    segments = []
    cell = 0
    while cell < cells:
        if cell in groups:
            last, group = groups[cell]
            segments.append(group)
            cell = last + 1
            continue
        page_box = to_page_box(
            ink.crop, (wall_columns[cell], box_y, wall_columns[cell + 1] - wall_columns[cell], ink.height)
        )
        found = ink.cell_image(cell, ink.wall_cuts(cell))
        if found is None:
            segments.append(Segment("blank", page_box, confidence=ink.blank_confidence(cell)))
        else:
            segments.append(Segment("char", to_page_box(ink.crop, found[1]), found[0]))
        cell += 1
    return segments


def locate_comb_box(image: np.ndarray, cells: int) -> tuple[int, int, int, int]:
    """The printed comb inside a loosely cropped field image: its outer walls and rules.

    A field cropped by hand has a margin of paper (or a bit of the neighbouring print) around the
    boxes; expected wall positions must come from the comb itself, not from the crop's edges. Falls
    back to the whole image when no comb is printed (boxes in drop-out colour, or cropped inside).
    """
    height, width = image.shape
    mask, _ = ink_mask(image)
    vertical_kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (1, max(3, int(height * 0.4))))
    horizontal_kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (max(3, int(width * 0.5)), 1))
    columns = np.flatnonzero(cv2.morphologyEx(mask, cv2.MORPH_OPEN, vertical_kernel).any(axis=0))
    rows = np.flatnonzero(cv2.morphologyEx(mask, cv2.MORPH_OPEN, horizontal_kernel).any(axis=1))
    left, right, top, bottom = 0, width, 0, height
    if len(columns) >= 2 and columns[-1] - columns[0] > width * 0.6:
        left, right = int(columns[0]), int(columns[-1]) + 1
    if len(rows) >= 2 and rows[-1] - rows[0] > height * 0.4:
        top, bottom = int(rows[0]), int(rows[-1]) + 1
    return left, top, right - left, bottom - top
