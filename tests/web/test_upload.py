"""Upload: files are checked by content, size, pixels and page count before anything is stored."""

import io
import struct
import zlib

import numpy as np
import pytest
from django.urls import reverse
from PIL import Image

from recognition.models import Document, Page
from tests.web.conftest import png_bytes, upload_file


def stored_files(media_root) -> list:
    return [path for path in media_root.rglob("*") if path.is_file() and "templates" not in path.parts]


def png_bomb(width: int, height: int) -> bytes:
    """A tiny PNG that claims a huge 1-bit image: its rows are zeros that compress to almost nothing."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    compressor = zlib.compressobj(9)
    row = b"\x00" * (1 + (width + 7) // 8)
    body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def pdf_bytes(pages: int) -> bytes:
    images = [Image.fromarray(np.full((300, 200), 255, dtype=np.uint8)) for _ in range(pages)]
    buffer = io.BytesIO()
    images[0].save(buffer, format="PDF", save_all=True, append_images=images[1:], resolution=72)
    return buffer.getvalue()


def post_upload(client, template, *files):
    return client.post(reverse("upload"), {"template": template.pk, "files": list(files)})


@pytest.mark.django_db
def test_one_file_is_one_document_with_every_page_of_it(
    client_for, alice, check_template, django_capture_on_commit_callbacks
):
    client = client_for(alice)
    with django_capture_on_commit_callbacks() as callbacks:
        response = post_upload(client, check_template, upload_file("two.pdf", pdf_bytes(2)))
    document = Document.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("document-detail", args=[document.pk])
    assert (document.owner, document.template, document.name) == (alice, check_template, "two.pdf")
    assert [(page.number, page.source_name) for page in document.pages.all()] == [
        (1, "two.pdf"),
        (2, "two.pdf"),
    ]
    assert all(page.status == Page.Status.QUEUED for page in document.pages.all())
    assert len(callbacks) == 1  # the pages are sent to the workers only once the rows are committed


@pytest.mark.django_db
def test_files_uploaded_together_are_a_document_each_in_one_batch_with_its_progress(
    client_for, alice, bob, check_template
):
    from recognition.models import UploadBatch

    client = client_for(alice)
    response = post_upload(
        client,
        check_template,
        upload_file("cheque-1.png", png_bytes()),
        upload_file("cheque-2.png", png_bytes()),
        upload_file("two.pdf", pdf_bytes(2)),
    )
    batch = UploadBatch.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("batch-detail", args=[batch.pk])
    documents = list(batch.documents.order_by("pk"))
    assert [(document.name, document.pages.count()) for document in documents] == [
        ("cheque-1.png", 1),
        ("cheque-2.png", 1),
        ("two.pdf", 2),
    ]
    assert all(document.owner == alice for document in documents)
    progress = client.get(reverse("batch-progress", args=[batch.pk])).json()
    assert (progress["documents_total"], progress["pages_total"], progress["finished"]) == (3, 4, False)
    assert [entry["name"] for entry in progress["documents"]] == ["cheque-1.png", "cheque-2.png", "two.pdf"]
    page = client.get(reverse("batch-detail", args=[batch.pk])).content.decode()
    assert all(reverse("document-detail", args=[document.pk]) in page for document in documents)
    detail = client.get(reverse("document-detail", args=[documents[0].pk])).content.decode()
    assert reverse("batch-detail", args=[batch.pk]) in detail
    assert client_for(bob).get(reverse("batch-detail", args=[batch.pk])).status_code == 404

    # The API: POST /api/batches/ answers the batch with its documents; POST /api/documents/ the first.
    api = client.post(
        reverse("api-batch-list"),
        {
            "template": check_template.pk,
            "files": [upload_file("a.png", png_bytes()), upload_file("b.png", png_bytes())],
        },
    )
    assert api.status_code == 201, api.content
    assert [entry["name"] for entry in api.json()["progress"]["documents"]] == ["a.png", "b.png"]
    first = client.post(
        reverse("api-document-list"),
        {
            "template": check_template.pk,
            "files": [upload_file("c.png", png_bytes()), upload_file("d.png", png_bytes())],
        },
    ).json()
    assert first["name"] == "c.png"
    together = client.get(reverse("api-batch-detail", args=[first["batch"]])).json()
    assert [entry["name"] for entry in together["progress"]["documents"]] == ["c.png", "d.png"]
    assert client_for(bob).get(reverse("api-batch-detail", args=[first["batch"]])).status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("scan.png", b"this is not an image at all", "not a PNG, JPEG, TIFF or PDF"),
        ("scan.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "corrupt"),
        ("empty.jpg", b"", "empty"),
        ("bomb.png", png_bomb(30_000, 30_000), "decompression bomb"),
        ("long.pdf", pdf_bytes(4), "more than the limit of 3"),
    ],
    ids=["type-by-content", "corrupt-png", "empty", "bomb", "pdf-page-cap"],
)
def test_bad_files_are_refused_with_a_clear_message_and_nothing_is_stored(
    client_for, alice, check_template, settings, shared_media_root, name, data, message
):
    settings.UPLOAD_MAX_PAGES = 3
    client = client_for(alice)
    before = stored_files(shared_media_root)
    response = post_upload(
        client, check_template, upload_file("good.png", png_bytes()), upload_file(name, data)
    )
    assert response.status_code == 400
    text = response.content.decode()
    assert name in text
    assert message in text
    assert Document.objects.count() == 0
    assert Page.objects.count() == 0
    assert stored_files(shared_media_root) == before


@pytest.mark.django_db
def test_a_file_over_the_size_cap_is_refused_before_it_is_read(client_for, alice, check_template, settings):
    settings.UPLOAD_MAX_FILE_BYTES = 1000
    response = post_upload(
        client_for(alice), check_template, upload_file("big.png", png_bytes(800, 800, 17) + b"x" * 2000)
    )
    assert response.status_code == 400
    assert "more than the limit of 1000 bytes" in response.content.decode()
    assert Document.objects.count() == 0


@pytest.mark.django_db
def test_api_upload_validates_the_same_way(client_for, alice, check_template):
    client = client_for(alice)
    good = client.post(
        reverse("api-document-list"),
        {"template": check_template.pk, "files": [upload_file("a.png", png_bytes())]},
    )
    assert good.status_code == 201, good.content
    assert good.json()["pages"][0]["status"] == "queued"
    bad = client.post(
        reverse("api-document-list"),
        {"template": check_template.pk, "files": [upload_file("a.png", b"GIF89a not supported")]},
    )
    assert bad.status_code == 400
    assert "not a PNG" in bad.json()["detail"]
    assert Document.objects.count() == 1


@pytest.mark.django_db
def test_a_user_without_the_uploader_role_cannot_upload(client_for, check_template):
    from django.contrib.auth.models import User

    nobody = User.objects.create_user("nobody", password="pw")
    client = client_for(nobody)
    assert post_upload(client, check_template, upload_file("a.png", png_bytes())).status_code == 403
    api = client.post(
        reverse("api-document-list"),
        {"template": check_template.pk, "files": [upload_file("a.png", png_bytes())]},
    )
    assert api.status_code == 403
    assert Document.objects.count() == 0


@pytest.mark.django_db
def test_upload_page_offers_the_bundled_check(client_for, alice, check_template):
    response = client_for(alice).get(reverse("upload"))
    assert response.status_code == 200
    assert "check (bank check)" in response.content.decode()


@pytest.mark.django_db
def test_a_page_of_an_absurd_shape_is_refused_at_upload_with_the_reason(client_for, alice, check_template):
    response = post_upload(client_for(alice), check_template, upload_file("strip.png", png_bytes(20000, 10)))
    assert response.status_code == 400
    text = response.content.decode()
    assert "strip.png: page 1 is 20000x10 pixels: too small to be a scanned page" in text
    assert Document.objects.count() == 0


@pytest.mark.django_db
def test_a_page_that_passed_the_header_checks_but_cannot_be_decoded_fails_with_the_reason(
    alice, check_template
):
    from recognition.services.documents import document_upload
    from recognition.services.pages import page_process

    whole = png_bytes(400, 300, 17)
    # The header is intact, the pixel data is cut off: only decoding finds out.
    document = document_upload(
        owner=alice, template=check_template, files=[upload_file("cut.png", whole[: len(whole) // 2])]
    )
    page = document.pages.get()
    page_process(page_id=page.pk, read_page=lambda _template, _image: pytest.fail("must not be read"))
    page.refresh_from_db()
    assert page.status == Page.Status.FAILED
    assert "corrupt or truncated PNG file" in page.error


@pytest.mark.django_db
def test_a_multi_page_tiff_is_stored_once_and_each_page_decoded_alone(alice, check_template, client_for):
    from recognition.services.documents import document_upload
    from recognition.services.pages import page_decode

    frames = [Image.fromarray(np.full((300, 400), value, dtype=np.uint8)) for value in (10, 120, 240)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="TIFF", save_all=True, append_images=frames[1:])
    document = document_upload(
        owner=alice, template=check_template, files=[upload_file("three.tif", buffer.getvalue())]
    )
    pages = list(document.pages.all())
    assert [(page.number, page.source_page) for page in pages] == [(1, 1), (2, 2), (3, 3)]
    assert len({page.source_file.name for page in pages}) == 1
    assert [int(page_decode(page)[0, 0]) for page in pages] == [10, 120, 240]
    image = client_for(alice).get(reverse("page-image", args=[pages[1].pk]))
    assert image.status_code == 200 and image["Content-Type"] == "image/png"
    with Image.open(io.BytesIO(image.content)) as shown:
        assert shown.size == (400, 300) and shown.getpixel((0, 0)) == 120
