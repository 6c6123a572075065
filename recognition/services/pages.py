"""Pages of a document: queue them, claim one for work, read it, store what was read or fail it."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from recognition.models import Document, FieldResult, FormTemplate, Page
from recognition.services.enqueue import PROCESS_PAGE, task_enqueue
from recognition.services.images import encode_png
from recognition.services.status_machine import claim_for_work, fail_unless_finished

# A page whose processing was started this many times without finishing keeps
# killing its worker (out of memory, a native crash): fail it instead of looping.
MAX_PAGE_ATTEMPTS = 4


class PageReadingLike(Protocol):
    result: dict
    aligned: np.ndarray


def pages_enqueue(*, page_ids: Sequence[int]) -> None:
    """Send one recognition task per page (routed to the `pages` queue by its name)."""
    for page_id in page_ids:
        task_enqueue(name=PROCESS_PAGE, args=[page_id])


def template_for_engine(template: FormTemplate) -> dict:
    """The template document with its image resolved to the stored blank image's absolute path."""
    definition = dict(template.definition)
    definition["image"] = str(Path(template.image.path))
    return definition


def page_claim(*, page_id: int) -> Page | None:
    """Move a page to processing; None when it is already finished (a duplicate delivery)."""
    return claim_for_work(
        Page.objects.select_related("document__template"),
        page_id,
        running_status=Page.Status.PROCESSING,
        max_attempts=MAX_PAGE_ATTEMPTS,
        finish_failed=_page_finish_failed,
    )


def page_process(*, page_id: int, read_page: Callable[[dict, np.ndarray], PageReadingLike]) -> Page | None:
    """Read one page against its document's template and store the fields; idempotent.

    A page that cannot be read (it does not align to the template, it is
    unreadable) is marked failed with the reason; it is never misread.
    """
    page = page_claim(page_id=page_id)
    if page is None:
        return None
    from recognition.engine.pages.load import load_page

    image = load_page(page.image.path, max_pixels=max(settings.UPLOAD_MAX_PIXELS, 1))
    try:
        reading = read_page(template_for_engine(page.document.template), image)
    except ValueError as error:
        return page_fail(page_id=page_id, reason=_reason_for(error))
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
                box=spec.get("box", field.get("box", [0, 0, 0, 0])),
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
