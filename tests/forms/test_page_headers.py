"""Checking a file from its headers (frames, sizes, shape) and decoding one page at a time."""

import io

import numpy as np
import pytest
from PIL import Image

from recognition.engine.pages.align import align_page, template_features
from recognition.engine.pages.load import inspect_pages, load_page_at, load_pages


def tiff_of(frames: list[Image.Image], **options) -> bytes:
    buffer = io.BytesIO()
    frames[0].save(buffer, format="TIFF", save_all=True, append_images=frames[1:], **options)
    return buffer.getvalue()


def png_of(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((height, width), 255, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_frames_and_sizes_come_from_the_headers_and_one_page_decodes_alone():
    frames = [Image.fromarray(np.full((50, 70 + index), index * 20, np.uint8)) for index in range(5)]
    data = tiff_of(frames)
    assert inspect_pages(data) == ("tiff", [(70 + index, 50) for index in range(5)])
    page = load_page_at(data, 3)
    assert page.shape == (50, 73) and int(page[0, 0]) == 60
    assert [int(page[0, 0]) for page in load_pages(data)] == [0, 20, 40, 60, 80]
    with pytest.raises(ValueError, match="has 5 pages, not 6"):
        load_page_at(data, 5)


def test_a_file_of_many_huge_frames_is_counted_without_decoding_and_refused_by_the_caps():
    # 20 white 6000x6000 frames: about 720 megapixels decoded, a few hundred kilobytes on disk.
    frame = Image.new("L", (6000, 6000), 255)
    data = tiff_of([frame] * 20, compression="tiff_deflate")
    assert len(data) < 2_000_000
    file_format, sizes = inspect_pages(data, max_pages=20, max_pixels=40_000_000)
    assert file_format == "tiff" and sizes == [(6000, 6000)] * 20
    with pytest.raises(ValueError, match="has 20 pages, more than the limit of 19"):
        inspect_pages(data, max_pages=19)
    with pytest.raises(ValueError, match="page 1 is 6000x6000 = 36000000 pixels, more than the limit"):
        inspect_pages(data, max_pixels=30_000_000)


def test_pdf_page_sizes_come_from_the_page_boxes():
    buffer = io.BytesIO()
    images = [Image.new("L", (144, 72), 255), Image.new("L", (72, 144), 255)]
    images[0].save(buffer, format="PDF", resolution=72.0, save_all=True, append_images=images[1:])
    assert inspect_pages(buffer.getvalue()) == ("pdf", [(400, 200), (200, 400)])
    assert load_page_at(buffer.getvalue(), 1).shape == (400, 200)


@pytest.mark.parametrize(
    ("width", "height", "message"),
    [
        (20000, 10, "too small to be a scanned page"),
        (20000, 1000, "20 times longer than it is wide"),
        (40, 2000, "50 times longer than it is wide"),
    ],
)
def test_absurd_shapes_are_refused_with_a_reason(width, height, message):
    with pytest.raises(ValueError, match=message):
        inspect_pages(png_of(width, height))


def test_the_loaders_still_read_a_thin_field_crop():
    # A name line cut out of a form: 25 pixels tall, 15 times as wide. Only uploads must look like pages.
    assert load_pages(png_of(375, 25))[0].shape == (25, 375)


def test_the_aligner_refuses_odd_pages_with_a_reason_never_an_opencv_assertion():
    import cv2

    template = cv2.imread("recognition/forms_data/check/check.png", cv2.IMREAD_GRAYSCALE)
    features = template_features(template)
    for height, width in [(10, 20000), (32, 384), (384, 32), (3, 3), (1000, 12000)]:
        page = np.full((height, width), 255, np.uint8)
        page[::7, ::5] = 0
        with pytest.raises(ValueError):
            align_page(page, features)
