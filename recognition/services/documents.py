"""Uploads: check the files by content, size and pages, then store a document per file, in one batch."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction

from recognition.exceptions import InvalidInput
from recognition.models import Document, FormTemplate, Page, UploadBatch
from recognition.services.pages import pages_enqueue


class UploadedFileLike(Protocol):
    name: str
    size: int

    def read(self, size: int = -1) -> bytes: ...


@dataclass
class CheckedFile:
    """An uploaded file that passed every check: its bytes, format and page sizes (nothing decoded)."""

    name: str
    data: bytes
    file_format: str
    page_sizes: list[tuple[int, int]]


def check_upload_files(*, files: Sequence[UploadedFileLike]) -> list[CheckedFile]:
    """Validate uploaded files by content, size, page count and pixels, from their headers alone.

    Nothing is stored, and no page is decoded here: a file of many huge frames
    costs the web process its bytes only (each page is decoded by the worker
    that reads it). A refused file leaves nothing behind.
    """
    from recognition.engine.pages.load import inspect_pages

    if not files:
        raise InvalidInput("Choose at least one file to upload.")
    if len(files) > settings.UPLOAD_MAX_FILES:
        raise InvalidInput(f"At most {settings.UPLOAD_MAX_FILES} files per upload; you sent {len(files)}.")
    checked = []
    total_pages = 0
    for uploaded in files:
        name = Path(uploaded.name or "upload").name[:200]
        # The size is checked before the bytes are read into memory.
        if uploaded.size is not None and uploaded.size > settings.UPLOAD_MAX_FILE_BYTES:
            raise InvalidInput(
                f"{name}: the file is {uploaded.size} bytes, more than the limit of "
                f"{settings.UPLOAD_MAX_FILE_BYTES} bytes."
            )
        data = uploaded.read(settings.UPLOAD_MAX_FILE_BYTES + 1)
        if len(data) > settings.UPLOAD_MAX_FILE_BYTES:
            raise InvalidInput(
                f"{name}: the file is larger than the limit of {settings.UPLOAD_MAX_FILE_BYTES} bytes."
            )
        try:
            file_format, page_sizes = inspect_pages(
                data, max_pages=settings.UPLOAD_MAX_PAGES, max_pixels=settings.UPLOAD_MAX_PIXELS
            )
        except ValueError as error:
            raise InvalidInput(f"{name}: {error}.") from error
        total_pages += len(page_sizes)
        if total_pages > settings.UPLOAD_MAX_PAGES * settings.UPLOAD_MAX_FILES:
            raise InvalidInput("This upload has too many pages in all; split it into several uploads.")
        checked.append(CheckedFile(name=name, data=data, file_format=file_format, page_sizes=page_sizes))
    return checked


SOURCE_EXTENSIONS = {"png": "png", "jpeg": "jpg", "tiff": "tif", "pdf": "pdf"}


def batch_upload(*, owner, template: FormTemplate, files: Sequence[UploadedFileLike]) -> UploadBatch:
    """Check the files, then store one document per file in one batch and queue every page.

    A file of several pages (PDF, TIFF) stays one document with a page each. Each file is stored
    once, as uploaded; its pages point into it and are decoded one at a time by the workers.
    """
    if not template.fields:
        raise InvalidInput(f"The template {template.name} has no fields yet: draw them in its editor first.")
    checked = check_upload_files(files=files)
    with transaction.atomic():
        batch = UploadBatch.objects.create(owner=owner, template=template)
        page_ids = []
        for checked_file in checked:
            document = Document.objects.create(
                owner=owner, template=template, batch=batch, name=checked_file.name
            )
            page_ids.extend(_pages_store(document=document, checked_file=checked_file))
        transaction.on_commit(lambda: pages_enqueue(page_ids=page_ids))
    return batch


def document_upload(*, owner, template: FormTemplate, files: Sequence[UploadedFileLike]) -> Document:
    """batch_upload, answering the batch's first document (all there is when one file was sent)."""
    return batch_upload(owner=owner, template=template, files=files).documents.order_by("pk").first()


def _pages_store(*, document: Document, checked_file: CheckedFile) -> list[int]:
    """One page row per page of the file, all pointing into the file stored once; their ids."""
    extension = SOURCE_EXTENSIONS[checked_file.file_format]
    stored_name = None
    page_ids = []
    for index in range(len(checked_file.page_sizes)):
        page = Page(document=document, number=index + 1, source_name=checked_file.name, source_page=index + 1)
        if stored_name is None:
            page.source_file.save(
                f"{uuid.uuid4().hex}.{extension}", ContentFile(checked_file.data), save=False
            )
            stored_name = page.source_file.name
        else:
            page.source_file.name = stored_name
        page.save()
        page_ids.append(page.pk)
    return page_ids
