"""PNG bytes of images: pages encoded for storage, fields cropped out of stored pages."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from PIL import Image


def encode_png(image: np.ndarray) -> bytes:
    """A grayscale array as PNG bytes (fast compression: pages are large and read once)."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8)).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def crop_png(image_path: str, box: Sequence[float], *, margin: int = 0) -> bytes:
    """Crop [x, y, width, height] (plus a margin) out of an image file, as PNG bytes."""
    with Image.open(image_path) as image:
        x, y, width, height = (int(round(value)) for value in box)
        area = (
            max(0, x - margin),
            max(0, y - margin),
            min(image.width, x + width + margin),
            min(image.height, y + height + margin),
        )
        buffer = io.BytesIO()
        image.crop(area).save(buffer, format="PNG")
    return buffer.getvalue()
