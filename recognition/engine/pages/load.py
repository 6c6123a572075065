"""Load scanned pages (PNG, JPEG, TIFF, PDF) from bytes or a path as grayscale uint8 arrays.

inspect_pages reads only the file's headers (frame count and sizes, PDF page
boxes), so an upload is checked against the caps without decoding a pixel;
load_page_at then decodes one page at a time where the page is read.
"""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

PDF_DPI = 200
DEFAULT_MAX_PAGES = 50
# 60 megapixels is an A3 page at 600 dpi; anything larger is a mistake or a decompression bomb.
DEFAULT_MAX_PIXELS = 60_000_000
# A scanned page, a check or a form strip is never thinner than this, nor this many times longer than
# wide: such an upload is a mistake (check_page_shape).
MIN_PAGE_SIDE = 32
MAX_ASPECT_RATIO = 12.0

# Magic numbers: the first bytes of each format we read, so the file name never decides.
MAGIC_NUMBERS = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "tiff"),  # BigTIFF
    (b"MM\x00+", "tiff"),
    (b"%PDF-", "pdf"),
)


def sniff_format(data: bytes) -> str:
    """Name the format of an image or PDF file by its magic bytes: 'png', 'jpeg', 'tiff' or 'pdf'."""
    if not data:
        raise ValueError("the file is empty")
    # A PDF may start with a little junk (some scanners add a byte order mark or whitespace).
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n")
    for magic, name in MAGIC_NUMBERS:
        if head.startswith(magic):
            return name
    raise ValueError("unsupported file format: not a PNG, JPEG, TIFF or PDF file")


def read_source(source: bytes | bytearray | str | Path) -> bytes:
    """Return the bytes of a page source given as bytes or as a file path."""
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source)
    path = Path(source)
    if not path.is_file():
        raise ValueError(f"no such file: {path}")
    return path.read_bytes()


def load_pages(
    source: bytes | bytearray | str | Path,
    max_pages: int = DEFAULT_MAX_PAGES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    pdf_dpi: int = PDF_DPI,
) -> list[np.ndarray]:
    """Load every page of an image or PDF file as a 2-D grayscale uint8 array, EXIF orientation applied."""
    data = read_source(source)
    file_format = sniff_format(data)
    if file_format == "pdf":
        return _load_pdf(data, max_pages, max_pixels, pdf_dpi)
    return _load_raster(data, file_format, max_pages, max_pixels)


def load_page(source: bytes | bytearray | str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Load the first page of a file (see load_pages)."""
    return load_pages(source, max_pages=1, max_pixels=max_pixels)[0]


def _check_pixels(width: int, height: int, max_pixels: int, page_number: int) -> None:
    if width <= 0 or height <= 0:
        raise ValueError(f"page {page_number} has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise ValueError(
            f"page {page_number} is {width}x{height} = {width * height} pixels, more than the limit of "
            f"{max_pixels} (refused as a possible decompression bomb)"
        )


def check_page_shape(width: int, height: int, page_number: int) -> None:
    """Refuse what cannot be a scanned page: a side under MIN_PAGE_SIDE, or one much longer than the other.

    Uploads check it (inspect_pages); the loaders do not, since field crops are thin on purpose.
    """
    if min(width, height) < MIN_PAGE_SIDE:
        raise ValueError(
            f"page {page_number} is {width}x{height} pixels: too small to be a scanned page "
            f"(each side needs at least {MIN_PAGE_SIDE} pixels)"
        )
    ratio = max(width, height) / min(width, height)
    if ratio > MAX_ASPECT_RATIO:
        raise ValueError(
            f"page {page_number} is {width}x{height} pixels, {ratio:.0f} times longer than it is wide: "
            f"not a scanned page (at most {MAX_ASPECT_RATIO:.0f} times)"
        )


def inspect_pages(
    source: bytes | bytearray | str | Path,
    max_pages: int = DEFAULT_MAX_PAGES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    pdf_dpi: int = PDF_DPI,
) -> tuple[str, list[tuple[int, int]]]:
    """The format and the (width, height) in pixels of every page, read from the headers alone.

    Nothing is decoded, so a file of many huge frames costs no memory here; the
    same caps as load_pages apply (page count, pixels), with the same messages,
    and each page must have the shape of a scanned page (check_page_shape).
    """
    data = read_source(source)
    file_format = sniff_format(data)
    if file_format == "pdf":
        return file_format, _inspect_pdf(data, max_pages, max_pixels, pdf_dpi)
    return file_format, _inspect_raster(data, file_format, max_pages, max_pixels)


def _open_raster(data: bytes, file_format: str) -> Image.Image:
    Image.MAX_IMAGE_PIXELS = None  # we check the size ourselves, with a clearer message
    try:
        return Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise ValueError(f"corrupt or unreadable {file_format.upper()} file: {error}") from error


def _inspect_raster(data: bytes, file_format: str, max_pages: int, max_pixels: int) -> list[tuple[int, int]]:
    with _open_raster(data, file_format) as image:
        try:
            # Only TIFF pages are pages; an animated PNG is read as its first frame.
            frame_count = getattr(image, "n_frames", 1) if file_format == "tiff" else 1
            if frame_count > max_pages:
                raise ValueError(f"the file has {frame_count} pages, more than the limit of {max_pages}")
            sizes = []
            for index in range(frame_count):
                image.seek(index)  # parses the frame's header (a TIFF IFD), decodes nothing
                _check_pixels(image.width, image.height, max_pixels, index + 1)
                check_page_shape(image.width, image.height, index + 1)
                sizes.append((image.width, image.height))
        except (OSError, SyntaxError, EOFError) as error:
            raise ValueError(f"corrupt or truncated {file_format.upper()} file: {error}") from error
    return sizes


def _inspect_pdf(data: bytes, max_pages: int, max_pixels: int, dpi: int) -> list[tuple[int, int]]:
    import pypdfium2 as pdfium

    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as error:
        raise ValueError(f"corrupt or unreadable PDF file: {error}") from error
    try:
        page_count = len(document)
        if page_count == 0:
            raise ValueError("the PDF file holds no page")
        if page_count > max_pages:
            raise ValueError(f"the PDF has {page_count} pages, more than the limit of {max_pages}")
        scale = dpi / 72.0
        sizes = []
        for index in range(page_count):
            width_points, height_points = document[index].get_size()
            width, height = round(width_points * scale), round(height_points * scale)
            _check_pixels(width, height, max_pixels, index + 1)
            check_page_shape(width, height, index + 1)
            sizes.append((width, height))
        return sizes
    finally:
        document.close()


def load_page_at(
    source: bytes | bytearray | str | Path,
    index: int,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    pdf_dpi: int = PDF_DPI,
) -> np.ndarray:
    """Decode only page `index` (0-based) of a file, as load_pages would: one page in memory, not all."""
    data = read_source(source)
    file_format = sniff_format(data)
    if file_format == "pdf":
        return _load_pdf(data, index + 1, max_pixels, pdf_dpi, only=index)[0]
    if file_format != "tiff":
        if index != 0:
            raise ValueError(f"a {file_format.upper()} file has one page, not {index + 1}")
        return _load_raster(data, file_format, 1, max_pixels)[0]
    with _open_raster(data, file_format) as image:
        try:
            frame_count = getattr(image, "n_frames", 1)
            if index >= frame_count:
                raise ValueError(f"the file has {frame_count} pages, not {index + 1}")
            image.seek(index)
            _check_pixels(image.width, image.height, max_pixels, index + 1)
            image.load()
            return _to_gray(ImageOps.exif_transpose(image))
        except ValueError:
            raise
        except (OSError, SyntaxError, EOFError, Image.DecompressionBombError) as error:
            raise ValueError(f"corrupt or truncated {file_format.upper()} file: {error}") from error


def _to_gray(image: Image.Image) -> np.ndarray:
    """Convert any Pillow mode to 8-bit gray; transparent areas become white paper."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image)
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float64)
        peak = array.max() if array.size else 1.0
        return np.clip(array * (255.0 / max(peak, 1.0)), 0, 255).astype(np.uint8)
    if image.mode != "L":
        image = image.convert("L")
    return np.asarray(image, dtype=np.uint8).copy()


def _fast_decode(data: bytes, file_format: str) -> np.ndarray | None:
    """Decode a plain PNG or JPEG with OpenCV, which is faster than Pillow; None when Pillow must do it."""
    # EXIF orientation needs Pillow; a JPEG with an APP1 Exif block goes the slow, correct way.
    if file_format == "jpeg" and b"Exif\x00\x00" in data[:65536]:
        return None
    # PNG colour types 4 and 6 carry alpha, which OpenCV's gray decode would turn black, and palette
    # images (3) may carry transparency; Pillow composites them on white paper.
    if file_format == "png" and (len(data) < 26 or data[25] in (3, 4, 6)):
        return None
    buffer = np.frombuffer(data, dtype=np.uint8)
    flags = cv2.IMREAD_GRAYSCALE | cv2.IMREAD_IGNORE_ORIENTATION
    image = cv2.imdecode(buffer, flags)
    return image


def _load_raster(data: bytes, file_format: str, max_pages: int, max_pixels: int) -> list[np.ndarray]:
    image = _open_raster(data, file_format)
    pages = []
    try:
        for page_number, frame in enumerate(ImageSequence.Iterator(image), start=1):
            if page_number > max_pages:
                raise ValueError(f"the file has more than {max_pages} pages (the limit)")
            _check_pixels(frame.width, frame.height, max_pixels, page_number)
            fast = None
            if file_format in ("png", "jpeg") and page_number == 1:
                fast = _fast_decode(data, file_format)
            if fast is not None:
                pages.append(fast)
            else:
                frame.load()
                pages.append(_to_gray(ImageOps.exif_transpose(frame)))
            if file_format != "tiff":
                break
    except ValueError:
        raise
    except (OSError, SyntaxError, EOFError, Image.DecompressionBombError) as error:
        raise ValueError(f"corrupt or truncated {file_format.upper()} file: {error}") from error
    if not pages:
        raise ValueError(f"the {file_format.upper()} file holds no page")
    return pages


def _load_pdf(
    data: bytes, max_pages: int, max_pixels: int, dpi: int, only: int | None = None
) -> list[np.ndarray]:
    import pypdfium2 as pdfium  # imported here: only PDF uploads pay for it

    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as error:
        raise ValueError(f"corrupt or unreadable PDF file: {error}") from error
    try:
        page_count = len(document)
        if page_count == 0:
            raise ValueError("the PDF file holds no page")
        if only is None and page_count > max_pages:
            raise ValueError(f"the PDF has {page_count} pages, more than the limit of {max_pages}")
        if only is not None and only >= page_count:
            raise ValueError(f"the PDF has {page_count} pages, not {only + 1}")
        scale = dpi / 72.0
        pages = []
        for index in range(page_count) if only is None else [only]:
            page = document[index]
            width_points, height_points = page.get_size()
            _check_pixels(round(width_points * scale), round(height_points * scale), max_pixels, index + 1)
            bitmap = page.render(scale=scale, grayscale=True)
            array = bitmap.to_numpy()
            if array.ndim == 3:
                array = cv2.cvtColor(array[:, :, :3], cv2.COLOR_BGR2GRAY)
            pages.append(np.ascontiguousarray(array, dtype=np.uint8))
        return pages
    finally:
        document.close()
