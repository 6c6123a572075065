"""Align a scanned page to its template: ORB features, RANSAC homography, a quality score, one warp."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Feature matching runs on downscaled copies: ORB is multi-scale anyway, and this keeps a page at a
# few milliseconds. The homography is then scaled back and the full page is warped once. 500 was
# tried for speed (2026-11-28): digit fields on validation pages 99.45 -> 99.16 %, and the full
# sample form no faster (17.6-18.0 pages/s; why was not looked into).
WORK_WIDTH = 600
# Pages are brought to the template's working size first, so the pyramid only needs to cover the
# remaining 0.8-1.25x of scan scale (template and page pyramids together span 1.44x either way).
# Measured on development pages (bench_forms.py, seeds 77, 11 and 4242): 3 levels instead of 4 take
# about 12 % off a page's CPU time (94-103 -> 83-88 ms), every page still aligned, digit fields equal
# or better (99.47 -> 99.47 %, 99.37 -> 99.45 %).
ORB_LEVELS = 3
TEMPLATE_FEATURES = 1200
PAGE_FEATURES = 700
GRID = (4, 6)  # columns, rows: keypoints are spread over the page so the fit does not extrapolate
RATIO_TEST = 0.8
RANSAC_THRESHOLD = 3.0  # working pixels
MIN_INLIERS = 25
GUIDED_CANDIDATES = 4
GUIDED_MAX_DISTANCE = 70  # Hamming bits of 256
GUIDED_RADIUS = 5.0  # working pixels
MIN_SCORE = 0.25


class AlignmentError(ValueError):
    """The page could not be aligned to the template reliably; it must not be read."""

    def __init__(self, message: str, score: float = 0.0):
        super().__init__(message)
        self.score = score


@dataclass
class TemplateFeatures:
    """ORB keypoints (in full template pixels) and descriptors of a blank template image."""

    size: tuple[int, int]  # width, height
    points: np.ndarray  # (N, 2) float32
    descriptors: np.ndarray
    work_scale: float
    print_mask: np.ndarray  # the template's printed pixels at working scale (uint8 0/1)
    page_features: int = 800
    fallback: TemplateFeatures | None = None  # finer, slower settings tried when the first fails


@dataclass
class Alignment:
    """A page aligned to a template: homography page -> template, the warped page and its quality."""

    homography: np.ndarray
    aligned: np.ndarray
    score: float
    inliers: int
    matches: int
    reprojection_error: float
    print_coverage: float = 0.0

    def to_dict(self) -> dict:
        return {
            "score": round(self.score, 3),
            "inliers": self.inliers,
            "matches": self.matches,
            "reprojection_error": round(self.reprojection_error, 2),
            "print_coverage": round(self.print_coverage, 3),
        }


def _orb(feature_count: int) -> cv2.ORB:
    return cv2.ORB_create(nfeatures=feature_count, scaleFactor=1.2, nlevels=ORB_LEVELS, fastThreshold=20)


def _downscale(gray: np.ndarray, width: int) -> tuple[np.ndarray, float]:
    scale = min(1.0, width / gray.shape[1])
    if scale >= 1.0:
        return gray, 1.0
    # At least one pixel each way: OpenCV asserts on an empty size (a very thin page).
    size = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA), scale


def _grid_detect(orb: cv2.ORB, image: np.ndarray, feature_count: int):
    """ORB keypoints spread over a grid (the strongest per tile), then their descriptors.

    Without the grid, keypoints crowd on the boldest print (a title) and the homography fitted to
    them extrapolates badly to the far side of the form.
    """
    keypoints = orb.detect(image, None)
    if not keypoints:
        return np.zeros((0, 2), np.float32), None
    height, width = image.shape
    columns, rows = GRID
    per_tile = max(4, feature_count // (columns * rows))
    points = np.float32([keypoint.pt for keypoint in keypoints])
    responses = np.float32([keypoint.response for keypoint in keypoints])
    tile = (
        np.minimum(points[:, 1] * rows // height, rows - 1) * columns
        + np.minimum(points[:, 0] * columns // width, columns - 1)
    ).astype(np.int64)
    # Strongest first within each tile: sort by tile, then by descending response.
    order = np.lexsort((-responses, tile))
    sorted_tiles = tile[order]
    rank = np.arange(len(order)) - np.searchsorted(sorted_tiles, sorted_tiles, side="left")
    chosen = order[rank < per_tile]
    selected = [keypoints[index] for index in chosen]
    selected, descriptors = orb.compute(image, selected)
    if descriptors is None or not selected:
        return np.zeros((0, 2), np.float32), None
    return np.float32([keypoint.pt for keypoint in selected]), descriptors


def template_features(
    template_image: np.ndarray,
    work_width: int = WORK_WIDTH,
    template_count: int = TEMPLATE_FEATURES,
    page_count: int = PAGE_FEATURES,
    with_fallback: bool = True,
) -> TemplateFeatures:
    """Describe a blank template once; reuse the result for every page of that template."""
    if template_image.ndim != 2:
        raise ValueError("template image must be 2-D grayscale")
    small, scale = _downscale(template_image, work_width)
    points, descriptors = _grid_detect(_orb(template_count * 3), small, template_count)
    if descriptors is None or len(points) < MIN_INLIERS:
        raise ValueError("the template image has too little printed structure to align pages to it")
    height, width = template_image.shape
    print_mask = (small < 128).astype(np.uint8)
    fallback = None
    if with_fallback:
        fallback = template_features(
            template_image, int(work_width * 1.5), template_count * 2, page_count * 2, with_fallback=False
        )
    return TemplateFeatures(
        (width, height), points / scale, descriptors, scale, print_mask, page_count, fallback
    )


def print_coverage(page_small: np.ndarray, homography_small: np.ndarray, features: TemplateFeatures) -> float:
    """Share of the template's printed pixels that are dark on the page once warped onto it.

    This checks the result itself, not the matches: a transform off by one comb cell or one row of
    boxes can gather many consistent matches on repeated print, but it leaves labels and lines of the
    template over blank paper.
    """
    height, width = features.print_mask.shape
    warped = cv2.warpPerspective(
        page_small, homography_small, (width, height), flags=cv2.INTER_LINEAR, borderValue=255
    )
    dark = cv2.adaptiveThreshold(warped, 1, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 31, 12)
    dark = cv2.dilate(dark, np.ones((3, 3), np.uint8))
    printed = int(features.print_mask.sum())
    return float((features.print_mask & dark).sum()) / max(printed, 1)


def _scale_matrix(scale: float) -> np.ndarray:
    return np.diag([scale, scale, 1.0])


def _plausible(homography: np.ndarray, page_shape: tuple[int, int], template_size: tuple[int, int]) -> str:
    """Why a homography page -> template is not a plausible scan of the form; '' when it is."""
    width, height = template_size
    corners = np.float32([[0, 0], [width, 0], [width, height], [0, height]]).reshape(-1, 1, 2)
    try:
        page_corners = cv2.perspectiveTransform(corners, np.linalg.inv(homography)).reshape(-1, 2)
    except np.linalg.LinAlgError:
        return "degenerate transform"
    if not cv2.isContourConvex(page_corners.astype(np.float32)):
        return "the form would be folded"
    area_ratio = cv2.contourArea(page_corners) / float(width * height)
    # The form may fill the page at any resolution: a 600 dpi scan of a form drawn at 100 dpi holds it
    # at 36 times the template's area. Larger than the whole page (with a margin of error) it cannot be.
    page_area_ratio = page_shape[0] * page_shape[1] / float(width * height)
    max_area_ratio = max(20.0, 1.5 * page_area_ratio)
    if not 0.05 < area_ratio < max_area_ratio:
        return f"implausible scale (area ratio {area_ratio:.2f}, the page allows {max_area_ratio:.1f})"
    sides = np.linalg.norm(np.roll(page_corners, -1, axis=0) - page_corners, axis=1)
    if sides[0] / max(sides[2], 1e-6) > 1.5 or sides[0] / max(sides[2], 1e-6) < 0.67:
        return "too much perspective"
    if sides[1] / max(sides[3], 1e-6) > 1.5 or sides[1] / max(sides[3], 1e-6) < 0.67:
        return "too much perspective"
    return ""


def align_page(
    page: np.ndarray,
    features: TemplateFeatures,
    min_score: float = MIN_SCORE,
) -> Alignment:
    """Find the homography page -> template and warp the page into template pixels.

    Raises AlignmentError (with .score) when the page does not match the template well enough to be
    read: too few consistent features, a transform no scanner or camera would produce, or the
    template's print not found where the transform puts it. A failed page is tried once more with
    finer settings before it is given up.
    """
    if page.ndim != 2 or page.dtype != np.uint8:
        raise ValueError("page must be a 2-D uint8 grayscale image")
    try:
        return _align_once(page, features, min_score)
    except AlignmentError as first_error:
        if features.fallback is None:
            raise
        try:
            return _align_once(page, features.fallback, min_score)
        except AlignmentError as second_error:
            raise max(first_error, second_error, key=lambda error: error.score) from None


def _align_once(page: np.ndarray, features: TemplateFeatures, min_score: float) -> Alignment:
    # Bring the page to about the template's working resolution (pages usually have a margin around
    # the form, hence a little wider).
    page_small, page_scale = _downscale(page, round(features.size[0] * features.work_scale * 1.1))
    matches = _match_features(page_small, features)
    homography_small, inliers, source, target = _guided_homography(matches)
    fit = _fit_quality(page_small, homography_small, inliers, source, target, features)
    homography = (
        np.linalg.inv(_scale_matrix(features.work_scale)) @ homography_small @ _scale_matrix(page_scale)
    )
    homography /= homography[2, 2]
    problem = _plausible(homography, page.shape, features.size)
    if problem:
        raise AlignmentError(f"page does not align with the template: {problem}", fit.score)
    if fit.inlier_count < MIN_INLIERS or fit.score < min_score:
        raise AlignmentError(
            f"page does not align with the template well enough (score {fit.score:.2f}, "
            f"{fit.inlier_count} of {fit.matched} matches agree, {100 * fit.printed:.0f} % of the print "
            f"found; need {min_score:.2f})",
            fit.score,
        )
    aligned = cv2.warpPerspective(
        page, homography, features.size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return Alignment(homography, aligned, fit.score, fit.inlier_count, fit.matched, fit.error, fit.printed)


@dataclass
class _Matches:
    """Page features with their nearest template features, and the coarse transform they agree on."""

    page_points: np.ndarray  # (N, 2) at working scale
    template_points: np.ndarray  # (M, 2) at working scale
    distances: np.ndarray  # (N, GUIDED_CANDIDATES) Hamming distances, nearest first
    nearest: np.ndarray  # (N, GUIDED_CANDIDATES) template feature indices (-1: none)
    source: np.ndarray  # the page points that passed the ratio test
    target: np.ndarray  # their nearest template points
    coarse: np.ndarray  # homography page -> template at working scale


def _match_features(page_small: np.ndarray, features: TemplateFeatures) -> _Matches:
    """Detect the page's features, match them to the template's, and fit a coarse transform."""
    page_points, page_descriptors = _grid_detect(
        _orb(features.page_features * 3), page_small, features.page_features
    )
    if page_descriptors is None or len(page_points) < MIN_INLIERS:
        raise AlignmentError("no printed structure found on the page (blank or unreadable)", 0.0)
    # The GUIDED_CANDIDATES nearest template descriptors of each page descriptor, as arrays.
    distances, nearest = cv2.batchDistance(
        page_descriptors, features.descriptors, cv2.CV_32S, normType=cv2.NORM_HAMMING, K=GUIDED_CANDIDATES
    )
    distances = distances.astype(np.float32)
    good = np.flatnonzero((nearest[:, 1] >= 0) & (distances[:, 0] < RATIO_TEST * distances[:, 1]))
    if len(good) < MIN_INLIERS:
        raise AlignmentError(f"only {len(good)} features match the template; is this the right form?", 0.0)
    template_points = features.points * features.work_scale
    source = page_points[good]
    target = template_points[nearest[good, 0]]
    coarse, _ = cv2.findHomography(
        source, target, cv2.USAC_MAGSAC, RANSAC_THRESHOLD, maxIters=5000, confidence=0.999
    )
    if coarse is None:
        raise AlignmentError("no consistent transform between page and template", 0.0)
    return _Matches(page_points, template_points, distances, nearest, source, target, coarse)


def _guided_homography(matches: _Matches) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The refined transform (working scale), its inlier mask, and the matched points it was fit on.

    Guided matching: with the coarse transform known, a page feature may match any of its best
    candidates that lands where the transform predicts. Repeated print (the boxes of a comb field)
    fails the ratio test but is matched here, which spreads and multiplies the matches. A second
    round with the refined transform and a tighter radius sharpens it further.
    """
    page_points, nearest, source, target = (
        matches.page_points,
        matches.nearest,
        matches.source,
        matches.target,
    )
    candidates = matches.template_points[np.maximum(nearest, 0)]  # (N, K, 2)
    usable = (matches.distances <= GUIDED_MAX_DISTANCE) & (nearest >= 0)
    homography_small, inlier_mask = matches.coarse, None
    for radius in (GUIDED_RADIUS, GUIDED_RADIUS * 0.6):
        predicted = cv2.perspectiveTransform(page_points.reshape(-1, 1, 2), homography_small).reshape(
            -1, 1, 2
        )
        close = (np.abs(candidates - predicted).max(axis=2) < radius) & usable
        has_match = close.any(axis=1)
        if has_match.sum() < MIN_INLIERS:
            break
        first = np.argmax(close, axis=1)
        guided_source = page_points[has_match]
        guided_target = candidates[np.flatnonzero(has_match), first[has_match]]
        refined, refined_mask = cv2.findHomography(
            guided_source,
            guided_target,
            cv2.USAC_MAGSAC,
            RANSAC_THRESHOLD * 0.7,
            maxIters=5000,
            confidence=0.999,
        )
        if refined is None:
            break
        homography_small, inlier_mask, source, target = refined, refined_mask, guided_source, guided_target
    if inlier_mask is None:
        homography_small, inlier_mask = cv2.findHomography(
            source, target, cv2.USAC_MAGSAC, RANSAC_THRESHOLD * 0.7, maxIters=5000, confidence=0.999
        )
    if homography_small is None:
        raise AlignmentError("no consistent transform between page and template", 0.0)
    return homography_small, inlier_mask, source, target


@dataclass
class _Fit:
    """How well a transform fits: its score and what the score is made of."""

    score: float
    inlier_count: int
    matched: int
    error: float  # root mean square reprojection error of the inliers (working pixels)
    printed: float  # share of the template's print found on the page


def _fit_quality(
    page_small: np.ndarray,
    homography_small: np.ndarray,
    inlier_mask: np.ndarray,
    source: np.ndarray,
    target: np.ndarray,
    features: TemplateFeatures,
) -> _Fit:
    """Score a transform: how many matches agree, how many there are at all, how tightly they agree,
    and how much of the form they cover (a fit on one corner of the form says little about the
    opposite one)."""
    matched = len(source)
    inliers = inlier_mask.ravel().astype(bool)
    inlier_count = int(inliers.sum())
    projected = cv2.perspectiveTransform(source[inliers].reshape(-1, 1, 2), homography_small).reshape(-1, 2)
    error = (
        float(np.sqrt(np.mean(np.sum((projected - target[inliers]) ** 2, axis=1)))) if inlier_count else 99.0
    )
    ratio = inlier_count / matched
    hull_area = (
        cv2.contourArea(cv2.convexHull(target[inliers].astype(np.float32))) if inlier_count > 2 else 0.0
    )
    work_area = features.size[0] * features.size[1] * features.work_scale**2
    coverage = min(1.0, hull_area / (0.4 * work_area))
    printed = print_coverage(page_small, homography_small, features)
    # Below 60 % of the print found, the page is not this form or not where we think it is.
    print_factor = min(1.0, max(0.0, (printed - 0.6) / 0.25))
    score = (
        ratio
        * min(1.0, inlier_count / 60.0)
        * coverage
        * print_factor
        * float(np.exp(-max(error - 1.0, 0.0) / 2.0))
    )
    return _Fit(score, inlier_count, matched, error, printed)
