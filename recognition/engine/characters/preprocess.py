"""Turn character images into MNIST-like 28x28 inputs, and augment them for training."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

FRAME_SIZE = 28
FIT_SIZE = 20
# Pixels fainter than this share of the brightest ink count as background when cropping.
INK_THRESHOLD = 0.2


def _as_gray_float(image: np.ndarray) -> np.ndarray:
    """Validate a 2-D (or single-channel / colour 3-D) image and return it as float32 0..255 gray."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] in (3, 4):
        image = cv2.cvtColor(
            image.astype(np.uint8), cv2.COLOR_RGBA2GRAY if image.shape[2] == 4 else cv2.COLOR_RGB2GRAY
        )
    elif image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim != 2 or image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"expected a non-empty 2-D gray image, got shape {image.shape}")
    if image.dtype == np.bool_:
        image = image.astype(np.uint8) * 255
    elif np.issubdtype(image.dtype, np.floating):
        # Float images in 0..1 are scaled up so thresholds below work on one scale.
        image = image * 255.0 if image.max(initial=0.0) <= 1.0 else image
    return image.astype(np.float32)


def _border_level(gray: np.ndarray) -> float:
    """Median of the outermost pixels: the paper (background) level in a character cell."""
    border = np.concatenate([gray[0, :], gray[-1, :], gray[:, 0], gray[:, -1]])
    # Sorting ~100 values is much cheaper than np.median's general machinery, called per character.
    return float(np.sort(border)[len(border) // 2])


def _dark_ink(gray: np.ndarray, background: float) -> bool:
    low, high = float(gray.min()), float(gray.max())
    if high - low < 1e-6:
        return background > 127.0
    # The background sits at one end of the range; the ink is whatever lies at the other end.
    return background > (low + high) / 2.0


def ink_is_dark(image: np.ndarray) -> bool:
    """Guess the polarity: true when the background (border pixels) is lighter than the ink."""
    gray = _as_gray_float(image)
    return _dark_ink(gray, _border_level(gray))


def to_white_on_black(image: np.ndarray) -> np.ndarray:
    """Return float32 ink intensity 0..1 (background 0) whatever the input polarity."""
    gray = _as_gray_float(image)
    background = _border_level(gray)
    if _dark_ink(gray, background):
        gray = 255.0 - gray
        background = 255.0 - background
    # Subtract the paper level so gray paper or scanner noise does not count as ink.
    ink = np.maximum(gray - background, 0.0)
    peak = float(ink.max())
    if peak <= 1e-6:
        return np.zeros_like(ink)
    return ink * (1.0 / peak)


# Pixel positions 0..n-1 for every fitted size, for the centre of mass.
_POSITIONS = [np.arange(size, dtype=np.float32) for size in range(FIT_SIZE + 1)]


def _crop_to_ink(ink: np.ndarray) -> np.ndarray | None:
    """The bounding box of the pixels brighter than INK_THRESHOLD (white on black); None if there are none.

    OpenCV's bounding box: the same box as numpy's nonzero, cheaper (with minMaxLoc in
    prepare_character, 13 % off a character's preparation; outputs identical on 6,000 test images).
    """
    left, top, width, height = cv2.boundingRect((ink > INK_THRESHOLD).view(np.uint8))
    if width == 0 or height == 0:
        return None
    return ink[top : top + height, left : left + width]


def prepare_character(image: np.ndarray) -> np.ndarray:
    """Crop to ink, fit into 20x20 keeping aspect, centre by mass in 28x28; float32 white on black 0..1."""
    crop = _crop_to_ink(to_white_on_black(image))
    if crop is None:
        return np.zeros((FRAME_SIZE, FRAME_SIZE), dtype=np.float32)
    height, width = crop.shape
    scale = FIT_SIZE / max(height, width)
    new_height = max(1, round(height * scale))
    new_width = max(1, round(width * scale))
    # INTER_AREA keeps thin strokes visible when shrinking; linear is smoother when enlarging.
    interpolation = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
    fitted = cv2.resize(crop, (new_width, new_height), interpolation=interpolation)
    np.maximum(fitted, 0.0, out=fitted)
    row_mass = fitted.sum(axis=1)
    mass = float(row_mass.sum())
    if mass <= 1e-6:
        return np.zeros((FRAME_SIZE, FRAME_SIZE), dtype=np.float32)
    # (Not cv2.moments: it takes an image two pixels wide for a list of points.)
    row_centre = float(row_mass @ _POSITIONS[new_height]) / mass
    column_centre = float(fitted.sum(axis=0) @ _POSITIONS[new_width]) / mass
    centre = (FRAME_SIZE - 1) / 2.0
    # A pure translation placing the centre of mass in the middle of the frame, as MNIST does.
    matrix = np.array([[1.0, 0.0, centre - column_centre], [0.0, 1.0, centre - row_centre]], dtype=np.float32)
    framed = cv2.warpAffine(
        fitted, matrix, (FRAME_SIZE, FRAME_SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
    )
    peak = cv2.minMaxLoc(framed)[1]
    if peak > 0:
        framed *= 1.0 / peak
    return np.clip(framed, 0.0, 1.0, out=framed)


def prepare_batch(images: Sequence[np.ndarray]) -> np.ndarray:
    """Prepare many character images into one float32 (N, 28, 28, 1) batch."""
    batch = np.zeros((len(images), FRAME_SIZE, FRAME_SIZE, 1), dtype=np.float32)
    for position, image in enumerate(images):
        batch[position, :, :, 0] = prepare_character(image)
    return batch


def augment_batch(
    batch: np.ndarray,
    generator: np.random.Generator,
    rotation_degrees: float = 12.0,
    shear: float = 0.25,
    zoom: tuple[float, float] = (0.85, 1.12),
    shift_pixels: float = 2.0,
    stroke_change_probability: float = 0.3,
    artifact_probability: float = 0.0,
    elastic_probability: float = 0.0,
    scan_probability: float = 0.0,
) -> np.ndarray:
    """Random rotation, shear, zoom, shift and stroke width on a (N, 28, 28[, 1]) float batch; never flips.

    A share elastic_probability of the images is also bent by a smooth random displacement field
    (elastic_distortion): the wobble of a hand rather than the affine changes of a page. A share
    scan_probability is written and scanned (scanned_stroke): solid ink, then the scanner's blur.
    """
    squeeze = batch.ndim == 4
    images = batch[..., 0] if squeeze else batch
    if images.ndim != 3:
        raise ValueError(f"expected (N, H, W) or (N, H, W, 1), got {batch.shape}")
    count, height, width = images.shape
    angles = np.deg2rad(generator.uniform(-rotation_degrees, rotation_degrees, count))
    shears = generator.uniform(-shear, shear, count)
    scales_x = generator.uniform(zoom[0], zoom[1], count)
    # Slightly different vertical and horizontal zoom also varies the aspect ratio, as handwriting does.
    scales_y = scales_x * generator.uniform(0.93, 1.07, count)
    shifts = generator.uniform(-shift_pixels, shift_pixels, (count, 2))
    strokes = generator.uniform(0.0, 1.0, count)
    kernel = np.ones((2, 2), dtype=np.uint8)
    centre = np.array([(width - 1) / 2.0, (height - 1) / 2.0])
    output = np.empty_like(images, dtype=np.float32)
    for index in range(count):
        cosine, sine = np.cos(angles[index]), np.sin(angles[index])
        rotation = np.array([[cosine, -sine], [sine, cosine]])
        shearing = np.array([[1.0, shears[index]], [0.0, 1.0]])
        scaling = np.diag([scales_x[index], scales_y[index]])
        linear = rotation @ shearing @ scaling
        offset = centre + shifts[index] - linear @ centre
        matrix = np.hstack([linear, offset[:, None]]).astype(np.float32)
        warped = cv2.warpAffine(
            images[index].astype(np.float32), matrix, (width, height), flags=cv2.INTER_LINEAR, borderValue=0.0
        )
        if strokes[index] < stroke_change_probability / 2:
            warped = cv2.erode(warped, kernel) if warped.max() > 0 else warped
            # Thin strokes can vanish under erosion; keep the original when too little ink survives.
            if warped.sum() < 0.35 * images[index].sum():
                warped = cv2.warpAffine(
                    images[index].astype(np.float32), matrix, (width, height), borderValue=0.0
                )
        elif strokes[index] < stroke_change_probability:
            warped = cv2.dilate(warped, kernel)
        output[index] = warped
    if elastic_probability > 0:
        for index in np.flatnonzero(generator.random(count) < elastic_probability):
            output[index] = elastic_distortion(output[index], generator)
    output = np.clip(output, 0.0, 1.0)
    if scan_probability > 0:
        for index in np.flatnonzero(generator.random(count) < scan_probability):
            output[index] = scanned_stroke(output[index], generator)
    if artifact_probability > 0:
        for index in np.flatnonzero(generator.random(count) < artifact_probability):
            output[index] = form_artifacts(output[index], generator)
    return output[..., None] if squeeze else output


def scanned_stroke(image: np.ndarray, generator: np.random.Generator) -> np.ndarray:
    """A prepared 28x28 character (0..1) as a pen and a scanner give it back to the reader.

    MNIST's strokes fade out over a pixel or two of gray; a pen's are solid to the edge (gain 1-2,
    clipped), and a scan at form resolution blurs them again (Gaussian, sigma 0.3-0.9 of a frame
    pixel: 0.3-1.1 page pixels on a character 25-45 px tall). The result is prepared again, as the
    reader prepares a crop (the blur widens the ink's box a little).
    """
    original = np.asarray(image, dtype=np.float32)
    if original.max() <= 0:
        return original
    solid = np.clip(original * generator.uniform(1.0, 2.0), 0.0, 1.0)
    blurred = cv2.GaussianBlur(solid, (0, 0), float(generator.uniform(0.3, 0.9)))
    return prepare_character(blurred)


def elastic_distortion(
    image: np.ndarray, generator: np.random.Generator, alpha: float = 34.0, sigma: float = 4.0
) -> np.ndarray:
    """Bend a 2-D float image by a random displacement field smoothed with a Gaussian (Simard et al. 2003).

    Each pixel moves by up to a few pixels, neighbours move together (sigma), so strokes wobble and
    loops open or close a little as they do between writers; alpha sets how far. The values for
    28x28 digits are the paper's.
    """
    height, width = image.shape
    shifts = generator.uniform(-1.0, 1.0, (2, height, width)).astype(np.float32)
    size = int(4 * sigma) | 1
    dx = cv2.GaussianBlur(shifts[0], (size, size), sigma) * alpha
    dy = cv2.GaussianBlur(shifts[1], (size, size), sigma) * alpha
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return cv2.remap(
        np.asarray(image, dtype=np.float32),
        grid_x + dx,
        grid_y + dy,
        interpolation=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0.0,
    )


def touching_pair(first: np.ndarray, second: np.ndarray, generator: np.random.Generator) -> np.ndarray:
    """Two prepared characters written so close that they touch, prepared again as one crop.

    What a free field's segmentation may hand the reader as one character (a "44" or "17" in an
    amount): training on these with no class to choose teaches the model not to be sure of them,
    so recognition-driven cutting can prefer the cut that gives two sure characters.
    """
    crops = []
    for image in (first, second):
        image = np.asarray(image, dtype=np.float32).reshape(FRAME_SIZE, FRAME_SIZE)
        crop = _crop_to_ink(image)
        if crop is None:
            return prepare_character(image)
        crops.append(crop)
    height = crops[0].shape[0]
    scaled = [crops[0]]
    target = max(4, round(height * generator.uniform(0.85, 1.15)))
    factor = target / crops[1].shape[0]
    scaled.append(cv2.resize(crops[1], (max(1, round(crops[1].shape[1] * factor)), target)))
    widths = [crop.shape[1] for crop in scaled]
    # From just touching to overlapping by 40 % of the narrower one, as when a 1 leans into a 7.
    overlap = int(round(generator.uniform(0.0, 0.4) * min(widths)))
    drop = int(round(generator.uniform(-0.1, 0.1) * height))
    canvas_height = max(height, target) + abs(drop) + 8
    canvas = np.zeros((canvas_height, widths[0] + widths[1] - overlap + 8), dtype=np.float32)
    first_top, second_top = 4 + max(0, -drop), 4 + max(0, drop)
    canvas[first_top : first_top + height, 4 : 4 + widths[0]] = scaled[0]
    region = canvas[
        second_top : second_top + target, 4 + widths[0] - overlap : 4 + widths[0] - overlap + widths[1]
    ]
    np.maximum(region, scaled[1], out=region)
    return prepare_character(canvas)


# A character is cut into fragments only when it is at least this wide for its height: narrower ones
# (I, J, 1) are never offered cuts by segmentation, so their parts never reach the classifier.
FRAGMENT_MIN_ASPECT = 0.6


def character_fragment(image: np.ndarray, generator: np.random.Generator) -> np.ndarray | None:
    """One side of a prepared character cut in two where the fewest strokes cross, prepared again.

    What recognition-driven cutting of a free field hands the classifier when it tries a cut through
    a wide character (the two strokes of a U, the halves of an M). Training on these with no class
    to choose teaches the model not to be sure of them. None when the character is too narrow to be
    cut (FRAGMENT_MIN_ASPECT).
    """
    crop = _crop_to_ink(np.asarray(image, dtype=np.float32).reshape(FRAME_SIZE, FRAME_SIZE))
    if crop is None:
        return None
    height, width = crop.shape
    if width < FRAGMENT_MIN_ASPECT * height or width < 6:
        return None
    low, high = int(round(0.3 * width)), int(round(0.7 * width))
    # The thinnest column of the middle band, with some randomness: where a cut would be offered.
    ink = crop[:, low : high + 1].sum(axis=0) + generator.uniform(0.0, 1.0, high + 1 - low)
    column = low + int(np.argmin(ink))
    piece = crop[:, :column] if generator.random() < 0.5 else crop[:, column:]
    return prepare_character(piece)


def cut_into_fragments(images: np.ndarray, rows: np.ndarray, generator: np.random.Generator) -> np.ndarray:
    """Replace each given row of a (N, 28, 28) batch of prepared characters, in place, by one side of
    it (character_fragment); returns the rows replaced (those wide enough to be cut)."""
    replaced = []
    for row in rows:
        fragment = character_fragment(images[row], generator)
        if fragment is not None:
            images[row] = fragment
            replaced.append(row)
    return np.array(replaced, dtype=np.int64)


def form_artifacts(image: np.ndarray, generator: np.random.Generator) -> np.ndarray:
    """What a printed box does to a character written in it, on a prepared 28x28 image (0..1).

    One of: a band of the stroke lost where it ran along the box's top or bottom rule (removed with
    the rule), a band lost along a side wall, or a short piece of the neighbouring character's
    stroke leaning in at a side. The result is prepared again (cropped, fitted, centred) as the
    reader would prepare the crop.
    """
    original = np.asarray(image, dtype=np.float32)
    image = original.copy()
    rows = np.flatnonzero(image.max(axis=1) > INK_THRESHOLD)
    columns = np.flatnonzero(image.max(axis=0) > INK_THRESHOLD)
    if len(rows) < 6 or len(columns) < 3:
        return original
    choice = generator.integers(0, 3)
    thickness = int(generator.integers(1, 3))
    if choice == 0:  # along the top or bottom rule
        edge = rows[0] if generator.random() < 0.5 else rows[-1] - thickness + 1
        start = int(np.clip(edge + generator.integers(0, 3) * (1 if edge == rows[0] else -1), 0, 27))
        image[start : start + thickness, :] = 0.0
    elif choice == 1:  # along a side wall
        edge = columns[0] if generator.random() < 0.5 else columns[-1] - thickness + 1
        image[:, max(0, edge) : edge + thickness] = 0.0
    else:  # a neighbour's stroke at a side
        left = generator.random() < 0.5
        x = (
            int(columns[0] - generator.integers(1, 3))
            if left
            else int(columns[-1] + generator.integers(1, 3))
        )
        x = int(np.clip(x, 0, 27))
        top = int(generator.integers(rows[0], max(rows[0] + 1, rows[-1] - 4)))
        length = int(generator.integers(4, 10))
        cv2.line(image, (x, top), (x + int(generator.integers(-2, 3)), min(27, top + length)), 1.0, thickness)
    if image.sum() < 0.5 * original.sum():
        return original  # too little left to be the labelled character
    return prepare_character(image)
