"""Pages of a document: queue them, claim one for work, read it, store what was read or fail it."""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Protocol

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import connection, transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from recognition.models import Document, FieldResult, FormTemplate, Page
from recognition.services.enqueue import BROKER_ERRORS, PROCESS_PAGE, broker_queue_length, task_enqueue
from recognition.services.images import encode_png
from recognition.services.status_machine import claim_for_work, fail_unless_finished

# A page whose processing was started this many times without finishing keeps
# killing its worker (out of memory, a native crash): fail it instead of looping.
MAX_PAGE_ATTEMPTS = 4
PAGES_QUEUE = "pages"

logger = logging.getLogger(__name__)


class PageReadingLike(Protocol):
    result: dict
    aligned: np.ndarray


def pages_enqueue(*, page_ids: Sequence[int]) -> list[int]:
    """Send one recognition task per page (routed to the `pages` queue by its name); never raises.

    Returns the pages sent. When the broker cannot be reached the rest stay
    unpublished (published_at empty): they are stored and queued, and
    pages_sweep sends them once the broker is back.
    """
    published = []
    for page_id in page_ids:
        try:
            task_enqueue(name=PROCESS_PAGE, args=[page_id])
        except BROKER_ERRORS as error:
            # One refusal says the broker is down; trying each remaining page would only wait longer.
            logger.warning("Broker unreachable, %d page(s) left for the sweep: %s", len(page_ids), error)
            break
        published.append(page_id)
    if published:
        Page.objects.filter(pk__in=published).update(published_at=timezone.now())
    return published


def pages_sweep(
    *, queued_after: timedelta | None = None, stale_after: timedelta | None = None
) -> dict[str, list[int]]:
    """Publish again the pages no worker will otherwise take; safe to run at any time, from anywhere.

    - queued pages whose task never reached the broker (it was down at upload),
      once they have waited `queued_after`;
    - queued pages published more than `queued_after` ago whose message is gone
      (a broker restarted without its data): when the `pages` queue holds fewer
      messages than such pages wait, the oldest are published again;
    - pages in processing whose worker stopped beating for `stale_after`
      (killed, out of memory, a hard time limit): the next worker takes them up
      (page_claim counts the attempt), and the page stores its fields once.

    A page published twice is read once: its status machine refuses a finished page.
    """
    now = timezone.now()
    if queued_after is None:
        queued_after = timedelta(seconds=settings.PAGE_REQUEUE_AFTER_SECONDS)
    if stale_after is None:
        stale_after = timedelta(seconds=settings.PAGE_STALE_AFTER_SECONDS)
    queued = Page.objects.filter(status=Page.Status.QUEUED, document__created_at__lte=now - queued_after)
    unpublished = list(queued.filter(published_at__isnull=True).order_by("pk").values_list("pk", flat=True))
    lost: list[int] = []
    waiting = queued.filter(published_at__lte=now - queued_after).order_by("published_at", "pk")
    waiting_count = waiting.count()
    if waiting_count:
        in_broker = broker_queue_length(PAGES_QUEUE)
        if in_broker is not None and in_broker < waiting_count:
            lost = list(waiting.values_list("pk", flat=True)[: waiting_count - in_broker])
    stale = list(
        Page.objects.annotate(last_sign=Coalesce("heartbeat_at", "started_at"))
        .filter(status=Page.Status.PROCESSING, last_sign__lte=now - stale_after)
        # Published again already and still waiting for a worker: not again each sweep.
        .filter(Q(published_at__isnull=True) | Q(published_at__lte=now - stale_after))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    to_publish = [*unpublished, *lost, *stale]
    published = set(pages_enqueue(page_ids=to_publish)) if to_publish else set()
    return {
        "unpublished": [pk for pk in unpublished if pk in published],
        "lost": [pk for pk in lost if pk in published],
        "stale": [pk for pk in stale if pk in published],
        "left": [pk for pk in to_publish if pk not in published],
    }


@contextlib.contextmanager
def page_heartbeat(*, page_id: int, every: float | None = None) -> Iterator[None]:
    """Stamp the page's heartbeat every `every` seconds from a thread while the block runs.

    The thread dies with the worker process, so a page whose heartbeat stops
    has lost its worker (pages_sweep publishes it again). It writes only while
    the page is still in processing, over its own database connection.
    """
    every = settings.PAGE_HEARTBEAT_SECONDS if every is None else every
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(every):
                try:
                    Page.objects.filter(pk=page_id, status=Page.Status.PROCESSING).update(
                        heartbeat_at=timezone.now()
                    )
                except Exception as error:  # a missed beat is retried at the next one
                    logger.warning("Page %s: heartbeat not written: %s", page_id, error)
        finally:
            connection.close()

    thread = threading.Thread(target=beat, name=f"page-{page_id}-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=max(every, 1.0))


def template_for_engine(template: FormTemplate) -> dict:
    """The template document with its image resolved to the stored blank image's absolute path."""
    definition = dict(template.definition)
    definition["image"] = str(Path(template.image.path))
    return definition


def page_claim(*, page_id: int, retry: bool = False) -> Page | None:
    """Move a page to processing; None when it is finished or a live worker is reading it.

    A page in processing whose heartbeat is older than PAGE_STALE_AFTER_SECONDS
    lost its worker and is taken again; one with a fresh heartbeat is being
    read now, so this delivery is a duplicate (unless it is the same task's
    `retry` after a transient error).
    """
    alive_since = timezone.now() - timedelta(seconds=settings.PAGE_STALE_AFTER_SECONDS)

    def worker_alive(page: Page) -> bool:
        last_sign = page.heartbeat_at or page.started_at
        return last_sign is not None and last_sign > alive_since

    return claim_for_work(
        Page.objects.select_related("document__template"),
        page_id,
        running_status=Page.Status.PROCESSING,
        max_attempts=MAX_PAGE_ATTEMPTS,
        finish_failed=_page_finish_failed,
        is_alive=None if retry else worker_alive,
        heartbeat_at=timezone.now(),
    )


def page_process(
    *, page_id: int, read_page: Callable[[dict, np.ndarray], PageReadingLike], retry: bool = False
) -> Page | None:
    """Read one page against its document's template and store the fields; idempotent.

    A page that cannot be read (it does not align to the template, it is
    unreadable) is marked failed with the reason; it is never misread. While
    it is read, a heartbeat tells pages_sweep that its worker is alive.
    """
    page = page_claim(page_id=page_id, retry=retry)
    if page is None:
        return None
    with page_heartbeat(page_id=page_id):
        return _page_read(page, read_page)


def page_decode(page: Page) -> np.ndarray:
    """This page decoded alone out of its source file (grayscale uint8); ValueError when unreadable."""
    from recognition.engine.pages.load import load_page, load_page_at

    max_pixels = max(settings.UPLOAD_MAX_PIXELS, 1)
    if page.source_file:
        return load_page_at(page.source_file.path, page.source_page - 1, max_pixels=max_pixels)
    return load_page(page.image.path, max_pixels=max_pixels)


def _page_read(page: Page, read_page: Callable[[dict, np.ndarray], PageReadingLike]) -> Page:
    """Decode the claimed page, read it and store the reading, or fail the page with the reason."""
    import cv2

    page_id = page.pk
    try:
        image = page_decode(page)
        reading = read_page(template_for_engine(page.document.template), image)
    except ValueError as error:
        return page_fail(page_id=page_id, reason=_reason_for(error))
    except cv2.error as error:
        # OpenCV refuses some images outright (an assertion deep in a transform); say so plainly.
        logger.warning("Page %s: OpenCV refused the page: %s", page_id, error)
        return page_fail(
            page_id=page_id,
            reason="The page could not be aligned to the template: the image is unusable for the "
            "aligner (too small, too thin or empty after cleaning). Scan it again at full size.",
        )
    return page_store_reading(page_id=page_id, result=reading.result, aligned=reading.aligned)


def _reason_for(error: ValueError) -> str:
    score = getattr(error, "score", None)
    reason = str(error) or type(error).__name__
    if score is not None and "score" not in reason:
        reason = f"{reason} (alignment score {score:.3f})"
    return reason


def page_store_reading(*, page_id: int, result: dict, aligned: np.ndarray) -> Page:
    """Store what was read on a page: its fields, auto-accepted when sure enough; the page is done."""
    aligned_png = encode_png(aligned)
    threshold = settings.REVIEW_AUTO_ACCEPT_THRESHOLD
    with transaction.atomic():
        page = Page.objects.select_for_update().select_related("document__template").get(pk=page_id)
        if page.status in Page.FINISHED:
            return page
        template_fields = {
            field["name"]: (index, field) for index, field in enumerate(page.document.template.fields)
        }
        page.fields.all().delete()
        for index, field in enumerate(result.get("fields", [])):
            position, spec = template_fields.get(field["name"], (index, {}))
            confidence = float(field.get("confidence", 0.0))
            FieldResult.objects.create(
                page=page,
                position=position,
                name=field["name"],
                kind=spec.get("kind", field.get("kind", "")),
                # A field a layout template located on this page says where it is; others sit where
                # the template has them.
                box=field.get("box") or spec.get("box") or [0, 0, 0, 0],
                recognized_text=field.get("text", ""),
                text=field.get("text", ""),
                confidence=confidence,
                chars=field.get("chars", []),
                model_version=str(field.get("model") or result.get("model") or ""),
                review_state=(
                    FieldResult.ReviewState.AUTO_ACCEPTED
                    if confidence >= threshold
                    else FieldResult.ReviewState.PENDING
                ),
                auto_accepted=confidence >= threshold,
            )
        page.aligned_image.save(f"{uuid.uuid4().hex}.png", ContentFile(aligned_png), save=False)
        alignment = result.get("alignment") or {}
        page.alignment_score = alignment.get("score")
        page.result = result
        page.status = Page.Status.DONE
        page.error = ""
        page.finished_at = timezone.now()
        page.save()
        _document_refresh_status(page.document_id)
    return page


def page_fail(*, page_id: int, reason: str) -> Page:
    """Mark a page failed with a reason a person can act on; a finished page is left as it is."""
    return fail_unless_finished(Page, page_id, reason, _page_finish_failed)


def _page_finish_failed(page: Page, reason: str) -> None:
    page.status = Page.Status.FAILED
    page.error = reason[:2000]
    page.finished_at = timezone.now()
    page.save(update_fields=["status", "error", "finished_at"])
    _document_refresh_status(page.document_id)


def _document_refresh_status(document_id: int) -> None:
    """Derive a document's status from its pages; called inside the page's transaction."""
    document = Document.objects.select_for_update().get(pk=document_id)
    statuses = list(document.pages.values_list("status", flat=True))
    if any(status not in Page.FINISHED for status in statuses):
        new_status = Document.Status.PROCESSING
    elif all(status == Page.Status.DONE for status in statuses):
        new_status = Document.Status.DONE
    elif all(status == Page.Status.FAILED for status in statuses):
        new_status = Document.Status.FAILED
    else:
        new_status = Document.Status.PARTIAL
    if new_status != document.status:
        document.status = new_status
        document.finished_at = None if new_status == Document.Status.PROCESSING else timezone.now()
        document.save(update_fields=["status", "finished_at"])
