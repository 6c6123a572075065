"""Page loading: formats by magic bytes, multi-page TIFF, PDF, EXIF orientation, clear errors."""

import io

import numpy as np
import pytest
from PIL import Image

from recognition.engine.pages.load import load_page, load_pages, sniff_format


def _encoded(image: Image.Image, file_format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=file_format, **options)
    return buffer.getvalue()


def _test_image(width=60, height=40) -> Image.Image:
    array = np.full((height, width), 255, np.uint8)
    array[5:15, 5:25] = 0  # a dark block in the top left corner
    return Image.fromarray(array)


@pytest.mark.parametrize(
    ("file_format", "expected"), [("PNG", "png"), ("JPEG", "jpeg"), ("TIFF", "tiff"), ("PDF", "pdf")]
)
def test_sniff_format_reads_magic_bytes(file_format, expected):
    assert sniff_format(_encoded(_test_image(), file_format)) == expected


def test_png_and_jpeg_load_as_gray_uint8():
    for file_format in ("PNG", "JPEG"):
        page = load_page(_encoded(_test_image().convert("RGB"), file_format))
        assert page.dtype == np.uint8 and page.shape == (40, 60)
        assert page[10, 10] < 60 and page[30, 50] > 200


def test_empty_file_gives_clear_error(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        load_pages(path)


def test_unknown_format_gives_clear_error():
    with pytest.raises(ValueError, match="unsupported file format"):
        load_pages(b"GIF89a not really")


def test_corrupt_png_gives_clear_error():
    data = _encoded(_test_image(), "PNG")
    with pytest.raises(ValueError, match="corrupt"):
        load_pages(data[:40])


def test_corrupt_pdf_gives_clear_error():
    with pytest.raises(ValueError, match="PDF"):
        load_pages(b"%PDF-1.4\n garbage that is not a PDF body")


def test_multi_page_tiff_gives_every_page():
    first, second = _test_image(), Image.fromarray(np.zeros((40, 60), np.uint8))
    buffer = io.BytesIO()
    first.save(buffer, format="TIFF", save_all=True, append_images=[second])
    pages = load_pages(buffer.getvalue())
    assert len(pages) == 2
    assert pages[0][30, 50] > 200 and pages[1].max() == 0


def test_max_pages_is_enforced():
    buffer = io.BytesIO()
    _test_image().save(buffer, format="TIFF", save_all=True, append_images=[_test_image(), _test_image()])
    with pytest.raises(ValueError, match="more than 2 pages"):
        load_pages(buffer.getvalue(), max_pages=2)


def test_pdf_pages_render_at_200_dpi():
    buffer = io.BytesIO()
    # 144 x 72 pixels saved at 72 dpi: 2 x 1 inch, so 400 x 200 pixels at 200 dpi.
    images = [_test_image(144, 72), _test_image(144, 72)]
    images[0].save(buffer, format="PDF", resolution=72.0, save_all=True, append_images=images[1:])
    pages = load_pages(buffer.getvalue())
    assert len(pages) == 2
    assert pages[0].shape == (200, 400) and pages[0].dtype == np.uint8
    assert pages[0][20, 30] < 80 and pages[0][150, 350] > 200


def test_decompression_bomb_is_refused():
    with pytest.raises(ValueError, match="decompression bomb"):
        load_pages(_encoded(_test_image(400, 300), "PNG"), max_pixels=100_000)


def test_exif_orientation_is_honoured():
    image = _test_image(60, 40).convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display"
    page = load_page(_encoded(image, "JPEG", exif=exif.tobytes()))
    assert page.shape == (60, 40)
    # The dark block of the top left corner ends up in the top right corner after the rotation.
    assert page[10, 30] < 80 and page[10, 5] > 180
