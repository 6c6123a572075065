"""Cut a free field into characters: ink components, merged, joined, split; separators and spaces."""

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
    split_wide,
    to_page_box,
)

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
# Free fields: at most this many specks under the noise size are looked at as broken strokes.
MAX_SPECKS = 60


def _cut_choices(
    crop: FieldCrop,
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
    default_cuts = split_wide(mask, pieces_wanted) if pieces_wanted > 1 else []
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
            image, local_box = character_image(crop, piece, (origin[0] + columns[first], origin[1]))
            pieces[(first, last)] = (image, to_page_box(crop, local_box))
    default_path = [columns.index(column) for column in [0, *default_cuts, width]]
    return CutChoices(len(columns), pieces, default_path)


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


@dataclass
class _FreeInk:
    """A free field's crop and ink components, with the measures its rules are stated in."""

    crop: FieldCrop
    labels: np.ndarray
    kind: str
    char_height: float  # the median height of the field's tall components
    noise_area: int  # ink components under this many pixels are noise
    bottom: int  # the field box's bottom edge in crop rows (the baseline when none is found)


def _free_components(crop: FieldCrop, stats: np.ndarray, count: int, noise_area: int) -> tuple[list, list]:
    """The ink components centred in the field box ([left, top, right, bottom, labels]) and the specks
    under the noise size, which carry their area as a sixth entry."""
    box_x, box_y, width, height = crop.box
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
    return components, specks


def _merge_overlapping(components: list, ink: _FreeInk) -> list:
    """Merge pieces of one character: boxes that overlap horizontally by half the narrower one."""
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
                    ink.kind == "amount"
                    and max(component[2] - component[0], component[3] - component[1]) < ink.char_height * 0.3
                )
                reach = int(ink.char_height * 0.12) + 1
                if not is_mark or _touches(ink.labels, component, previous[4], reach):
                    previous[0], previous[1] = min(previous[0], component[0]), min(previous[1], component[1])
                    previous[2], previous[3] = max(previous[2], component[2]), max(previous[3], component[3])
                    previous[4] = previous[4] + component[4]
                    continue
        merged.append(component)
    return merged


def _absorb_broken_pieces(merged: list, ink: _FreeInk) -> None:
    """Join small pieces lying within a stroke's width of a character's ink to it (in place).

    They are broken-off parts of it (whichever side they sit on); only isolated small marks can be
    decimal separators.
    """
    char_height = ink.char_height

    def is_small(component: list) -> bool:
        return (
            component[3] - component[1] < char_height * 0.45
            and component[2] - component[0] < char_height * 0.5
        )

    # In an amount, a compact dot on the baseline written close to a digit is still a decimal point;
    # it joins the digit only when it sits under it (most of its width within the digit's).
    tall_bottoms = [component[3] for component in merged if component[3] - component[1] >= char_height * 0.45]
    provisional_baseline = float(np.median(tall_bottoms)) if tall_bottoms else ink.bottom

    def is_protected_dot(component: list, neighbour: list) -> bool:
        if ink.kind != "amount":
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
                    if _touches(ink.labels, component, neighbour[4], reach) and not is_protected_dot(
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


def _is_mark(ink: _FreeInk, component: list, baseline: float) -> bool:
    """Whether a component is too small for a character: a speck, or a separator in an amount."""
    left, top, right, bottom, _ = component
    comp_width, comp_height = right - left, bottom - top
    char_height = ink.char_height
    is_small = comp_height < char_height * 0.45 and comp_width < char_height * 0.5
    # A comma drawn with a long tail is as tall as half a digit, but it starts low: a digit reaches
    # up to the top of the line, a separator starts in its lower half and hangs from the baseline.
    is_low_mark = (
        ink.kind == "amount"
        and top >= baseline - char_height * 0.5
        and comp_height < char_height * 0.8
        and comp_width < char_height * 0.5
    )
    return is_small or is_low_mark


def _separator(ink: _FreeInk, component: list, baseline: float) -> Segment | None:
    """The decimal separator ('.' or ',') a mark between an amount's digits is; None for other marks."""
    left, top, right, bottom, _ = component
    comp_width, comp_height = right - left, bottom - top
    near_baseline = bottom >= baseline - ink.char_height * 0.35
    if ink.kind != "amount" or not near_baseline:
        return None
    # A comma hangs below the baseline or is clearly taller than wide; a point is round.
    is_comma = bottom > baseline + ink.char_height * 0.12 or comp_height > comp_width * 1.6
    return Segment(
        "separator",
        to_page_box(ink.crop, (left, top, comp_width, comp_height)),
        text="," if is_comma else ".",
        confidence=0.9,
    )


def _character_segments(ink: _FreeInk, component: list) -> list[Segment]:
    """The 'char' segments of one component (several when it is cut), or the 'group' of its
    candidate pieces."""
    left, top, right, bottom, label_list = component
    comp_width = right - left
    char_height, crop = ink.char_height, ink.crop
    mask = np.isin(ink.labels[top:bottom, left:right], label_list).astype(np.uint8)
    # Touching characters: a blob wider than most characters becomes a group of candidate pieces,
    # and recognition picks the cuts (a wide M or a slanted 0 stays whole, "RA" is cut).
    is_digit_field = ink.kind in ("digits", "date", "amount")
    sure_limit, maybe_limit = (1.5, 1.2) if is_digit_field else (1.7, 1.4)
    if comp_width > char_height * (GROUP_WIDTH if is_digit_field else LETTER_GROUP_WIDTH):
        group = _cut_choices(crop, mask, (left, top), char_height, sure_limit, maybe_limit, ink.noise_area)
        if group is not None:
            page_box = to_page_box(crop, (left, top, comp_width, bottom - top))
            return [Segment("group", page_box, choices=group)]
    pieces = 1
    if comp_width > char_height * maybe_limit:
        pieces = max(2, int(round(comp_width / (char_height * 0.75))))
    inner_cuts = split_wide(mask, pieces) if pieces > 1 else []
    if inner_cuts and comp_width <= char_height * sure_limit:
        column_runs = ((mask[1:] > 0) & (mask[:-1] == 0)).sum(axis=0) + (mask[0] > 0)
        if any(column_runs[cut] > 1 for cut in inner_cuts):
            inner_cuts = []
    cuts = [0] + inner_cuts + [comp_width]
    segments = []
    for start, stop in zip(cuts[:-1], cuts[1:], strict=True):
        piece = mask[:, start:stop]
        if piece.sum() < ink.noise_area:
            continue
        image, local_box = character_image(crop, piece, (left + start, top))
        segments.append(Segment("char", to_page_box(crop, local_box), image))
    return segments


def _free_segments(ink: _FreeInk, merged: list, allow_spaces: bool) -> list[Segment]:
    """The segments of a free field's merged components, left to right, with separators and spaces."""
    char_height = ink.char_height
    big = [c for c in merged if (c[3] - c[1]) >= char_height * 0.45]
    baseline = float(np.median([c[3] for c in big])) if big else ink.bottom
    segments: list[Segment] = []
    previous_right = None
    for position, component in enumerate(merged):
        left, top, right, bottom, _ = component
        if _is_mark(ink, component, baseline):
            between = 0 < position < len(merged) - 1
            separator = _separator(ink, component, baseline) if between and segments else None
            if separator is not None:
                segments.append(separator)
            continue
        if allow_spaces and previous_right is not None and left - previous_right > char_height * 0.6:
            segments.append(
                Segment(
                    "space",
                    to_page_box(ink.crop, (previous_right, top, left - previous_right, bottom - top)),
                    text=" ",
                )
            )
        previous_right = right
        segments.extend(_character_segments(ink, component))
    return segments


def segment_free(
    page: np.ndarray, box: tuple[int, int, int, int], kind: str, allow_spaces: bool | None = None
) -> list[Segment]:
    """Characters of a free field, left to right: components, merged, split; boxes in page coordinates.

    For amounts, small marks near the baseline between digits become '.' or ','. For letters and
    alnum fields, a wide gap becomes a space.
    """
    _, _, width, height = box
    margin = max(3, int(height * 0.1))
    crop = prepare_crop(
        page,
        box,
        margin,
        margin,
        wall_length=int(height * 0.8),
        rule_length=int(max(height * 2, width * 0.3)),
        # A free field's only printed walls are the sides of its box, if it has any.
        wall_offsets=np.array([0, width]),
        wall_window=max(3, int(height * 0.15)),
        halo_radius=HALO_RADIUS.get(kind, 1),
    )
    count, labels, stats, _ = cv2.connectedComponentsWithStats(crop.ink, connectivity=8)
    noise_area = max(6, int(height * height * 0.002))
    components, specks = _free_components(crop, stats, count, noise_area)
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
    ink = _FreeInk(crop, labels, kind, char_height, noise_area, bottom=crop.box[1] + height)
    merged = _merge_overlapping(components, ink)
    _absorb_broken_pieces(merged, ink)
    if kind in ("digits", "date", "amount"):
        _join_detached_bars(merged, char_height)
    if allow_spaces is None:
        allow_spaces = kind in ("letters", "alnum")
    return _free_segments(ink, merged, allow_spaces)
