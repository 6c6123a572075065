"""Cut a field into character images: comb fields by their printed cells, free fields by components."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from recognition.engine.pages.prepare import ink_mask

# A character image handed to the classifier has this much paper around the ink (pixels).
CROP_PADDING = 2
# Free-field blobs wider than this many character heights may be touching characters (digit
# kinds); capitals are wider (M, W, N, U often 1-1.3 heights), and recognition-driven cutting reads
# a wide capital's strokes as narrower letters it is just as sure of (U as "LI", M as "IW"). Measured
# on the letter fields of the validation pages (bench_forms.py --split bench seeds 4242, 5151, 6262
# and --split dev --seed 11; 3,532 letters): 173 wrong at 1.0, 154 at 1.1, 148 at 1.2, 149 at 1.3,
# 157 at 1.4, 204 at 1.7 (edit distance); 1.2 is no worse than 1.0 on any of the four sets.
GROUP_WIDTH = 1.0
LETTER_GROUP_WIDTH = 1.2
MAX_CUT_CANDIDATES = 6
# The widest single character a group piece may be, in character heights (a 5 with a long tail is
# 1.6); wider candidates are left to the classifier to accept or refuse.
MAX_PIECE_WIDTH = 2.0
# How far (pixels) around a character's ink mask its gray values are kept in the image handed to the
# classifier, by field kind: the faint edge of a thin stroke that the threshold left out, without the
# printed lines or other characters' ink. Measured on validation pages (bench_forms.py, seeds 4242,
# 5151, 6262 and dev 11): a radius of 3 read alnum fields 1-4 points better on every set, while
# letters moved by -4 to +1 characters a set and digit fields lost 4 characters of 10,726 (radius 2:
# 4 as well), so only alnum takes it; the others keep the one-pixel anti-aliased edge.
HALO_RADIUS = {"alnum": 3}
# Free fields: at most this many specks under the noise size are looked at as broken strokes.
MAX_SPECKS = 60


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
class _Crop:
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


def _prepare(
    page: np.ndarray,
    box,
    margin_x: int,
    margin_y: int,
    wall_length: int,
    rule_length: int,
    wall_offsets: np.ndarray,
    wall_window: int,
) -> _Crop:
    """Cut the field out, find its ink and printed lines, and remove the lines.

    Vertical lines count as printed walls only near where the template has them (wall_offsets, from
    the box's left edge): a long straight handwritten 1 elsewhere stays ink.
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
    return _Crop(gray, ink, darkness, origin, local_box, vertical, mask & (1 - ink))


def _character_image(
    crop: _Crop, mask: np.ndarray, offset: tuple[int, int] = (0, 0)
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


def _to_page_box(crop: _Crop, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    return (box[0] + crop.origin[0], box[1] + crop.origin[1], box[2], box[3])


# --------------------------------------------------------------------------- comb fields


def _find_walls(vertical: np.ndarray, expected: np.ndarray, cell_width: float, box_height: int) -> np.ndarray:
    """Printed wall positions near the expected ones; walls not seen follow the ones that were."""
    profile = vertical.sum(axis=0).astype(np.float32)
    window = max(2, int(cell_width * 0.3))
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


# Where a stroke runs from one comb cell into the next, the cut between them may be moved this far
# from the printed wall (in cell widths), to where the stroke is thinnest.
COMB_CUT_WINDOW = 0.3
COMB_CUT_CANDIDATES = 3


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


def segment_comb(
    page: np.ndarray,
    box: tuple[int, int, int, int],
    cells: int,
    blank_fraction: float = 0.025,
    keep_groups: bool = False,
    kind: str = "digits",
) -> list[Segment]:
    """One segment per cell of a comb field ('char' or 'blank'), boxes in page coordinates.

    A stroke that runs from one cell into the next (characters touching across a wall) is cut at the
    wall. With keep_groups, the cells such a stroke spans become one 'group' segment instead, whose
    pieces are each cell's character with the cut at the wall or at a thinner column near it; the
    reader lets recognition choose (a cut through the middle of a leaning 0 reads badly on both sides).
    kind is the field's kind (it sets HALO_RADIUS).
    """
    x, y, width, height = box
    cell_width = width / cells
    margin_x, margin_y = max(3, int(cell_width * 0.25)), max(3, int(height * 0.3))
    crop = _prepare(
        page,
        box,
        margin_x,
        margin_y,
        wall_length=int(height * 0.8),
        rule_length=int(max(cell_width * 1.6, 20)),
        wall_offsets=np.arange(cells + 1) * cell_width,
        wall_window=max(2, int(cell_width * 0.3)),
    )
    crop.halo_radius = HALO_RADIUS.get(kind, 1)
    box_x, box_y = crop.box[0], crop.box[1]
    expected = box_x + np.arange(cells + 1) * cell_width
    walls = _find_walls(crop.vertical_lines, expected, cell_width, height)
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
    wide_components = np.flatnonzero(is_wide).tolist()
    cell_of_component = np.where(keep & ~is_wide, cell_of_component, -1)
    cell_area = cell_width * height
    wall_columns = [int(wall + 0.5) for wall in walls]
    crop_height, crop_width = crop.ink.shape

    def cell_image(cell: int, cuts: dict[int, tuple[int, int]]):
        """The character of a cell: its own components, plus the parts of wide components between the
        given columns (label -> (left, right)); None for a blank cell. Returns (image, crop box)."""
        labels_here = np.flatnonzero(cell_of_component == cell)
        window_left, window_right = max(0, wall_columns[cell]), min(crop_width, wall_columns[cell + 1])
        for label in labels_here:
            window_left = min(window_left, int(stats[label, 0]))
            window_right = max(window_right, int(stats[label, 0] + stats[label, 2]))
        for label, (cut_left, cut_right) in cuts.items():
            # A cut moved past the wall reaches out of the cell: widen the window to it.
            left, right = int(stats[label, 0]), int(stats[label, 0] + stats[label, 2])
            if min(cut_right, right) > max(cut_left, left):
                window_left = min(window_left, max(0, cut_left, left))
                window_right = max(window_right, min(crop_width, cut_right, right))
        lookup = np.zeros(count, np.uint8)
        lookup[labels_here] = 1
        window_labels = labels[:, window_left:window_right]
        mask_window = lookup[window_labels]
        for label, (cut_left, cut_right) in cuts.items():
            inner_left = max(cut_left, window_left) - window_left
            inner_right = max(inner_left, min(cut_right, window_right) - window_left)
            mask_window[:, inner_left:inner_right] |= (
                window_labels[:, inner_left:inner_right] == label
            ).astype(np.uint8)
        if int(mask_window.sum()) < blank_fraction * cell_area:
            return None
        rows = np.flatnonzero(mask_window.any(axis=1))
        if rows[-1] - rows[0] + 1 < height * 0.25:
            return None
        return _character_image(crop, mask_window, (window_left, 0))

    def wall_cuts(cell: int) -> dict[int, tuple[int, int]]:
        return {label: (wall_columns[cell], wall_columns[cell + 1]) for label in wide_components}

    # Cells spanned by exactly one wide component (and no other) can be cut by recognition.
    groups: dict[int, tuple[int, Segment]] = {}
    if keep_groups:
        covered: dict[int, int] = {}
        spans = {}
        for label in wide_components:
            left, right = int(stats[label, 0]), int(stats[label, 0] + stats[label, 2])
            first = max(0, int(np.searchsorted(walls, left + 1)) - 1)
            last = min(cells - 1, int(np.searchsorted(walls, right - 1)) - 1)
            spans[label] = (first, last, left, right)
            for cell in range(first, last + 1):
                covered[cell] = covered.get(cell, 0) + 1
        for label, (first, last, left, right) in spans.items():
            if last <= first or any(covered[cell] > 1 for cell in range(first, last + 1)):
                continue
            component = (labels == label).astype(np.uint8)
            window = max(2, int(cell_width * COMB_CUT_WINDOW))
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
                        cuts = wall_cuts(cell)
                        cuts[label] = (start, stop)
                        found = cell_image(cell, cuts)
                        if found is not None:
                            pieces[(start_index, stop_index)] = (found[0], _to_page_box(crop, found[1]))
            default = [indices[0] for indices in index_of]
            default_cells = [(a, b) for a, b in zip(default[:-1], default[1:], strict=True)]
            if not all(key in pieces for key in default_cells):
                continue  # a cell blank at the wall cut: leave the simple cut alone
            page_box = _to_page_box(crop, (left, box_y, right - left, height))
            group = Segment("group", page_box, choices=CutChoices(len(columns), pieces, default))
            groups[first] = (last, group)

    segments = []
    cell = 0
    while cell < cells:
        if cell in groups:
            last, group = groups[cell]
            segments.append(group)
            cell = last + 1
            continue
        page_box = _to_page_box(
            crop, (wall_columns[cell], box_y, wall_columns[cell + 1] - wall_columns[cell], height)
        )
        found = cell_image(cell, wall_cuts(cell))
        if found is None:
            segments.append(Segment("blank", page_box))
        else:
            segments.append(Segment("char", _to_page_box(crop, found[1]), found[0]))
        cell += 1
    return segments


# --------------------------------------------------------------------------- free fields


def _split_wide(mask: np.ndarray, pieces: int) -> list[int]:
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


def _cut_choices(
    crop: _Crop,
    mask: np.ndarray,
    origin: tuple[int, int],
    char_height: float,
    sure_limit: float,
    maybe_limit: float,
    noise_area: int,
) -> CutChoices | None:
    """Candidate cuts of a wide blob and the character images between them (None: nothing to try)."""
    height, width = mask.shape
    profile = mask.sum(axis=0).astype(np.float32)
    runs = (mask[0] > 0).astype(np.float32) + ((mask[1:] > 0) & (mask[:-1] == 0)).sum(axis=0)
    cost = runs + 0.3 * profile / max(float(profile.max()), 1.0)
    margin = max(2, int(char_height * 0.2))
    spacing = max(2, int(char_height * 0.15))
    # A narrow blob (one wide character or two touching) is only cut across a single stroke.
    stroke_limit = 2 if width > char_height * sure_limit else 1
    order = np.argsort(cost[margin : width - margin], kind="stable") + margin
    chosen: list[int] = []
    for column in order:
        if len(chosen) >= MAX_CUT_CANDIDATES:
            break
        if runs[column] > stroke_limit:
            continue
        if all(abs(int(column) - other) >= spacing for other in chosen):
            chosen.append(int(column))
    pieces_wanted = (
        max(1, int(round(width / (char_height * 0.75)))) if width > char_height * maybe_limit else 1
    )
    default_cuts = _split_wide(mask, pieces_wanted) if pieces_wanted > 1 else []
    columns = sorted(set(chosen) | set(default_cuts) | {0, width})
    if len(columns) <= 2:
        return None
    max_piece = char_height * MAX_PIECE_WIDTH
    min_piece = char_height * 0.15
    pieces = {}
    for first in range(len(columns) - 1):
        for last in range(first + 1, len(columns)):
            piece_width = columns[last] - columns[first]
            if piece_width > max_piece:
                break
            if piece_width < min_piece:
                continue
            piece = mask[:, columns[first] : columns[last]]
            if piece.sum() < noise_area:
                continue
            image, local_box = _character_image(crop, piece, (origin[0] + columns[first], origin[1]))
            pieces[(first, last)] = (image, _to_page_box(crop, local_box))
    default_path = [columns.index(column) for column in [0, *default_cuts, width]]
    return CutChoices(len(columns), pieces, default_path)


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


def _touches(labels: np.ndarray, component: list, other_labels: list[int], distance: int) -> bool:
    """Whether any pixel of other_labels lies within distance of component's bounding box."""
    left, top, right, bottom = component[:4]
    height, width = labels.shape
    window = labels[
        max(0, top - distance) : min(height, bottom + distance),
        max(0, left - distance) : min(width, right + distance),
    ]
    return bool(np.isin(window, other_labels).any())


def _join_detached_bars(components: list, char_height: float) -> None:
    """Join a 5's top bar written apart from its body to the body (in place; digit fields only).

    A flat stroke at the top of the line is no digit on its own; in handwriting it is the bar of a 5
    lifted off the paper. The bar starts where the 5's stem ends, so it joins the character on its
    left when that one ends within a third of a character's height of the bar, else a character it
    overlaps on its right.
    """
    tall_tops = [top for _, top, _, bottom, _ in components if bottom - top >= char_height * 0.6]
    if not tall_tops:
        return
    line_top = float(np.median(tall_tops))
    index = 0
    while index < len(components):
        left, top, right, bottom, _ = components[index]
        width, height = right - left, bottom - top
        is_bar = (
            height < char_height * 0.35
            and width >= height * 1.5
            and width < char_height * 1.2
            and top <= line_top + char_height * 0.3
        )
        target = None
        if is_bar:
            if index > 0:
                previous = components[index - 1]
                if previous[3] - previous[1] >= char_height * 0.6 and left - previous[2] <= char_height / 3:
                    target = index - 1
            if target is None and index + 1 < len(components):
                following = components[index + 1]
                if following[3] - following[1] >= char_height * 0.6 and following[0] < right:
                    target = index + 1
        if target is None:
            index += 1
            continue
        joined = components[target]
        joined[0], joined[1] = min(joined[0], left), min(joined[1], top)
        joined[2], joined[3] = max(joined[2], right), max(joined[3], bottom)
        joined[4] = joined[4] + components[index][4]
        del components[index]


def _recover_specks(components: list, specks: list, char_height: float, noise_area: int, kind: str) -> None:
    """Give back the ink smaller than noise that is part of the writing (in place on components).

    Specks are components under the noise size (each [left, top, right, bottom, labels, area]). Two
    kinds are writing: a faint thin stroke that the ink threshold broke into specks stacked in one
    column (a light 1), and, in an amount, a small round decimal point on the baseline. Both lie in a
    column clear of the characters; a lone speck anywhere else is still noise.
    """
    tall = [c for c in components if c[3] - c[1] >= char_height * 0.45]
    spans = [(c[0], c[2]) for c in tall]
    baseline = float(np.median([c[3] for c in tall])) if tall else None

    def clear(item: list) -> bool:
        return all(item[2] <= left or item[0] >= right for left, right in spans)

    pieces = [s for s in specks if clear(s)]
    short = [c for c in components if c[3] - c[1] < char_height * 0.45 and clear(c)]
    # Stack the specks and short components that share columns, with gaps under 0.3 of a character.
    # (Specks carry their area as a sixth entry; components have five.) A field peppered with more
    # specks than MAX_SPECKS is scanner noise, not a broken stroke: no stacks are built there.
    items = sorted(pieces + short, key=lambda item: item[1])
    used = [False] * len(items)
    for first in range(len(items) if len(pieces) <= MAX_SPECKS else 0):
        if used[first] or len(items[first]) < 6:
            continue  # stacks start from a speck
        stack, changed = [first], True
        left, top, right, bottom = items[first][:4]
        while changed:
            changed = False
            for other in range(len(items)):
                if used[other] or other in stack:
                    continue
                item = items[other]
                overlap = min(right, item[2]) - max(left, item[0])
                gap = max(item[1] - bottom, top - item[3])
                if overlap > 0 and gap < char_height * 0.3:
                    stack.append(other)
                    left, top = min(left, item[0]), min(top, item[1])
                    right, bottom = max(right, item[2]), max(bottom, item[3])
                    changed = True
        if len(stack) < 2 or bottom - top < char_height * 0.5:
            continue
        for index in stack:
            used[index] = True
            if len(items[index]) == 5:
                components.remove(items[index])
        labels = [label for index in stack for label in items[index][4]]
        components.append([left, top, right, bottom, labels])
    if kind != "amount" or baseline is None:
        return
    for index, speck in enumerate(items):
        if used[index] or len(speck) < 6:
            continue
        left, top, right, bottom, labels, area = speck
        round_mark = (
            area >= 4
            and max(right - left, bottom - top) <= char_height * 0.2
            and area >= 0.5 * (right - left) * (bottom - top)
        )
        if round_mark and abs(bottom - baseline) <= char_height * 0.25:
            components.append([left, top, right, bottom, labels])


def segment_free(
    page: np.ndarray, box: tuple[int, int, int, int], kind: str, allow_spaces: bool | None = None
) -> list[Segment]:
    """Characters of a free field, left to right: components, merged, split; boxes in page coordinates.

    For amounts, small marks near the baseline between digits become '.' or ','. For letters and
    alnum fields, a wide gap becomes a space.
    """
    x, y, width, height = box
    margin = max(3, int(height * 0.1))
    crop = _prepare(
        page,
        box,
        margin,
        margin,
        wall_length=int(height * 0.8),
        rule_length=int(max(height * 2, width * 0.3)),
        # A free field's only printed walls are the sides of its box, if it has any.
        wall_offsets=np.array([0, width]),
        wall_window=max(3, int(height * 0.15)),
    )
    crop.halo_radius = HALO_RADIUS.get(kind, 1)
    box_x, box_y = crop.box[0], crop.box[1]
    count, labels, stats, _ = cv2.connectedComponentsWithStats(crop.ink, connectivity=8)
    noise_area = max(6, int(height * height * 0.002))
    components, specks = [], []
    for label in range(1, count):
        left, top, comp_width, comp_height, area = stats[label]
        center_x, center_y = left + comp_width / 2, top + comp_height / 2
        if not (box_x <= center_x <= box_x + width and box_y <= center_y <= box_y + height):
            continue
        entry = [int(left), int(top), int(left + comp_width), int(top + comp_height), [label]]
        if area >= noise_area:
            components.append(entry)
        elif area >= 2:
            specks.append(entry + [int(area)])
    if not components:
        return []
    heights = np.array([bottom - top for _, top, _, bottom, _ in components])
    tall = heights[heights >= height * 0.2]
    if len(tall) == 0:
        return []
    char_height = float(np.median(tall))
    if specks:
        _recover_specks(components, specks, char_height, noise_area, kind)
    components.sort(key=lambda component: component[0])

    # Merge pieces of one character: boxes that overlap horizontally by half the narrower one.
    merged = []
    for component in components:
        if merged:
            previous = merged[-1]
            overlap = min(previous[2], component[2]) - max(previous[0], component[0])
            narrower = min(previous[2] - previous[0], component[2] - component[0])
            if overlap > 0.5 * narrower:
                # In an amount, a small mark overlapping a digit's box may be a decimal point under the
                # digit's tail; it is a piece of the digit only if it lies close to the digit's ink.
                is_mark = (
                    kind == "amount"
                    and max(component[2] - component[0], component[3] - component[1]) < char_height * 0.3
                )
                if not is_mark or _touches(labels, component, previous[4], int(char_height * 0.12) + 1):
                    previous[0], previous[1] = min(previous[0], component[0]), min(previous[1], component[1])
                    previous[2], previous[3] = max(previous[2], component[2]), max(previous[3], component[3])
                    previous[4] = previous[4] + component[4]
                    continue
        merged.append(component)

    # Small pieces lying within a stroke's width of a character's ink are broken-off parts of it
    # (whichever side they sit on); only isolated small marks can be decimal separators.
    def is_small(component: list) -> bool:
        return (
            component[3] - component[1] < char_height * 0.45
            and component[2] - component[0] < char_height * 0.5
        )

    # In an amount, a compact dot on the baseline written close to a digit is still a decimal point;
    # it joins the digit only when it sits under it (most of its width within the digit's).
    tall_bottoms = [component[3] for component in merged if component[3] - component[1] >= char_height * 0.45]
    provisional_baseline = float(np.median(tall_bottoms)) if tall_bottoms else box_y + height

    def is_protected_dot(component: list, neighbour: list) -> bool:
        if kind != "amount":
            return False
        mark_width, mark_height = component[2] - component[0], component[3] - component[1]
        if (
            max(mark_width, mark_height) > char_height * 0.3
            or component[1] < provisional_baseline - char_height * 0.4
        ):
            return False
        inside = min(component[2], neighbour[2]) - max(component[0], neighbour[0])
        return inside < 0.5 * mark_width

    reach = int(char_height * 0.12) + 1
    index = 0
    while index < len(merged):
        component = merged[index]
        if is_small(component):
            for neighbour_index in (index - 1, index + 1):
                if 0 <= neighbour_index < len(merged) and not is_small(merged[neighbour_index]):
                    neighbour = merged[neighbour_index]
                    if _touches(labels, component, neighbour[4], reach) and not is_protected_dot(
                        component, neighbour
                    ):
                        neighbour[0], neighbour[1] = (
                            min(neighbour[0], component[0]),
                            min(neighbour[1], component[1]),
                        )
                        neighbour[2], neighbour[3] = (
                            max(neighbour[2], component[2]),
                            max(neighbour[3], component[3]),
                        )
                        neighbour[4] = neighbour[4] + component[4]
                        del merged[index]
                        index -= 1
                        break
        index += 1

    if kind in ("digits", "date", "amount"):
        _join_detached_bars(merged, char_height)

    big = [c for c in merged if (c[3] - c[1]) >= char_height * 0.45]
    baseline = float(np.median([c[3] for c in big])) if big else box_y + height
    segments: list[Segment] = []
    previous_right = None
    if allow_spaces is None:
        allow_spaces = kind in ("letters", "alnum")
    for position, component in enumerate(merged):
        left, top, right, bottom, label_list = component
        comp_width, comp_height = right - left, bottom - top
        is_small = comp_height < char_height * 0.45 and comp_width < char_height * 0.5
        # A comma drawn with a long tail is as tall as half a digit, but it starts low: a digit reaches
        # up to the top of the line, a separator starts in its lower half and hangs from the baseline.
        is_low_mark = (
            kind == "amount"
            and top >= baseline - char_height * 0.5
            and comp_height < char_height * 0.8
            and comp_width < char_height * 0.5
        )
        if is_small or is_low_mark:
            between = 0 < position < len(merged) - 1
            near_baseline = bottom >= baseline - char_height * 0.35
            if kind == "amount" and between and near_baseline and segments:
                # A comma hangs below the baseline or is clearly taller than wide; a point is round.
                is_comma = bottom > baseline + char_height * 0.12 or comp_height > comp_width * 1.6
                segments.append(
                    Segment(
                        "separator",
                        _to_page_box(crop, (left, top, comp_width, comp_height)),
                        text="," if is_comma else ".",
                        confidence=0.9,
                    )
                )
            continue
        if allow_spaces and previous_right is not None and left - previous_right > char_height * 0.6:
            segments.append(
                Segment(
                    "space",
                    _to_page_box(crop, (previous_right, top, left - previous_right, comp_height)),
                    text=" ",
                )
            )
        previous_right = right
        mask = np.isin(labels[top:bottom, left:right], label_list).astype(np.uint8)
        # Touching characters: a blob wider than most characters becomes a group of candidate pieces,
        # and recognition picks the cuts (a wide M or a slanted 0 stays whole, "RA" is cut).
        is_digit_field = kind in ("digits", "date", "amount")
        sure_limit, maybe_limit = (1.5, 1.2) if is_digit_field else (1.7, 1.4)
        if comp_width > char_height * (GROUP_WIDTH if is_digit_field else LETTER_GROUP_WIDTH):
            group = _cut_choices(crop, mask, (left, top), char_height, sure_limit, maybe_limit, noise_area)
            if group is not None:
                page_box = _to_page_box(crop, (left, top, comp_width, comp_height))
                segments.append(Segment("group", page_box, choices=group))
                continue
        pieces = 1
        if comp_width > char_height * maybe_limit:
            pieces = max(2, int(round(comp_width / (char_height * 0.75))))
        inner_cuts = _split_wide(mask, pieces) if pieces > 1 else []
        if inner_cuts and comp_width <= char_height * sure_limit:
            column_runs = ((mask[1:] > 0) & (mask[:-1] == 0)).sum(axis=0) + (mask[0] > 0)
            if any(column_runs[cut] > 1 for cut in inner_cuts):
                inner_cuts = []
        cuts = [0] + inner_cuts + [comp_width]
        for start, stop in zip(cuts[:-1], cuts[1:], strict=True):
            piece = mask[:, start:stop]
            if piece.sum() < noise_area:
                continue
            image, local_box = _character_image(crop, piece, (left + start, top))
            segments.append(Segment("char", _to_page_box(crop, local_box), image))
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


def resolve_group(segment: Segment, path: list[int]) -> list[Segment]:
    """The 'char' segments of a group along a path of cut columns."""
    return [
        Segment("char", segment.choices.pieces[(first, last)][1], segment.choices.pieces[(first, last)][0])
        for first, last in zip(path[:-1], path[1:], strict=True)
        if (first, last) in segment.choices.pieces
    ]


def segment_field(
    page: np.ndarray, box: tuple[int, int, int, int], cells: int | None, kind: str, keep_groups: bool = False
) -> list[Segment]:
    """Segments of one field of an aligned page (or of a field image with box = the whole image).

    Groups of possibly touching characters are cut geometrically unless keep_groups is true (the
    reader keeps them, to let recognition choose the cuts).
    """
    if cells:
        return segment_comb(page, box, cells, keep_groups=keep_groups, kind=kind)
    segments = segment_free(page, box, kind)
    if keep_groups:
        return segments
    flat = []
    for segment in segments:
        flat.extend(resolve_group(segment, segment.choices.default) if segment.kind == "group" else [segment])
    return flat


def split_in_two(segment: Segment) -> tuple[Segment, Segment] | None:
    """A 'char' segment cut into two at the column where its ink is easiest to cut (two touching digits);
    None when its image has fewer than two columns of dark ink (nothing to cut between).

    The cut is found on the segment's own image (dark ink on white) with the rule of _split_wide; the
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
    cut = ink_left + _split_wide(mask[:, ink_left:ink_right], 2)[0]
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
