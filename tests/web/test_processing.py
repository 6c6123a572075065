"""The page status machine: reading stores fields once, bad pages fail with a reason, documents follow."""

import io
from datetime import timedelta

import pytest
from django.utils import timezone
from PIL import Image

from recognition.models import Document, FieldResult, Page
from recognition.services.documents import document_upload
from recognition.services.pages import MAX_PAGE_ATTEMPTS, page_claim, page_process
from tests.web.conftest import FakeReading, aligned_page, fake_result, png_bytes, upload_file


class NotAligned(ValueError):
    """Like recognition.engine.pages.align.AlignmentError: a ValueError with the score reached."""

    def __init__(self, score: float):
        super().__init__("the page does not match the template")
        self.score = score


def upload(owner, template, pages: int = 1):
    """A document of one file with `pages` pages (a TIFF when there are several)."""
    if pages == 1:
        return document_upload(owner=owner, template=template, files=[upload_file("p0.png", png_bytes())])
    frames = [Image.open(io.BytesIO(png_bytes())) for _ in range(pages)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="TIFF", save_all=True, append_images=frames[1:])
    return document_upload(
        owner=owner, template=template, files=[upload_file("pages.tif", buffer.getvalue())]
    )


@pytest.mark.django_db
def test_reading_a_page_stores_its_fields_and_auto_accepts_the_sure_ones(alice, check_template, settings):
    settings.REVIEW_AUTO_ACCEPT_THRESHOLD = 0.95
    document = upload(alice, check_template)
    page = document.pages.get()
    result = fake_result(
        check_template, {"payee": "ANNA", "date": "01022026", "amount": "125"}, {"date": 0.99}
    )
    page_process(page_id=page.pk, read_page=lambda _t, _i: FakeReading(result, aligned_page(check_template)))

    page.refresh_from_db()
    document.refresh_from_db()
    assert page.status == Page.Status.DONE
    assert page.alignment_score == pytest.approx(0.93)
    assert page.aligned_image
    assert document.status == Document.Status.DONE
    states = {field.name: field.review_state for field in page.fields.all()}
    assert states == {"payee": "pending", "date": "auto_accepted", "amount": "pending"}
    assert [field.name for field in page.fields.all()] == ["payee", "date", "amount"]


@pytest.mark.django_db
def test_a_finished_page_is_not_read_again(alice, check_template):
    document = upload(alice, check_template)
    page = document.pages.get()
    calls = []

    def read(template, image):
        calls.append(template["name"])
        return FakeReading(fake_result(check_template, {"payee": "AB"}, {}), aligned_page(check_template))

    page_process(page_id=page.pk, read_page=read)
    assert page_process(page_id=page.pk, read_page=read) is None
    assert calls == ["check"]
    assert FieldResult.objects.filter(page=page).count() == 3


@pytest.mark.django_db
def test_a_page_taken_by_a_worker_that_died_is_read_again_until_the_attempt_cap(alice, check_template):
    document = upload(alice, check_template)
    page = document.pages.get()
    # Workers that died mid-page leave it in processing with a silent heartbeat; the redelivered
    # task takes it again.
    long_ago = timezone.now() - timedelta(hours=1)
    for _ in range(MAX_PAGE_ATTEMPTS):
        assert page_claim(page_id=page.pk) is not None
        Page.objects.filter(pk=page.pk).update(heartbeat_at=long_ago, started_at=long_ago)
    assert page_claim(page_id=page.pk) is None
    page.refresh_from_db()
    assert page.status == Page.Status.FAILED
    assert "attempts" in page.error


@pytest.mark.django_db
def test_a_page_that_does_not_align_fails_with_the_reason_and_is_never_misread(alice, check_template):
    document = upload(alice, check_template, pages=2)
    first, second = document.pages.all()

    def refuse(template, image):
        raise NotAligned(0.12)

    page_process(page_id=first.pk, read_page=refuse)
    first.refresh_from_db()
    document.refresh_from_db()
    assert first.status == Page.Status.FAILED
    assert "does not match the template" in first.error
    assert "0.120" in first.error
    assert first.fields.count() == 0
    assert document.status == Document.Status.PROCESSING

    result = fake_result(check_template, {"payee": "AB"}, {})
    page_process(
        page_id=second.pk, read_page=lambda _t, _i: FakeReading(result, aligned_page(check_template))
    )
    document.refresh_from_db()
    assert document.status == Document.Status.PARTIAL


@pytest.mark.django_db
def test_the_engine_gets_the_template_with_its_stored_image(alice, check_template):
    document = upload(alice, check_template)
    seen = {}

    def read(template, image):
        seen["template"] = template
        seen["shape"] = image.shape
        raise ValueError("stop here")

    page_process(page_id=document.pages.get().pk, read_page=read)
    from pathlib import Path

    assert Path(seen["template"]["image"]).is_file()
    assert seen["template"]["fields"] == check_template.fields
    assert seen["shape"] == (200, 400)


def test_the_page_task_survives_a_killed_worker_and_goes_to_the_pages_queue():
    from hwr_site.celery import app
    from workers.tasks import process_page

    # acks_late + reject_on_worker_lost: the broker keeps the message until the page is finished, so a
    # worker killed mid-page has it delivered again; page_claim then takes the page up again.
    assert process_page.acks_late is True
    assert process_page.reject_on_worker_lost is True
    assert process_page.max_retries >= 1
    assert app.amqp.router.route({}, process_page.name)["queue"].name == "pages"
