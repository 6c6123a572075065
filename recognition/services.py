"""Business rules that change data: one function per action, one transaction each.

check_* functions validate and raise domain errors; the others change rows.
Nothing here imports TensorFlow: recognition itself is passed in by the
worker task as a `read_page` callable.
"""

from __future__ import annotations

import difflib
import io
import json
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify
from PIL import Image

from recognition import selectors
from recognition.exceptions import Conflict, InvalidInput
from recognition.models import (
    Correction,
    Document,
    FieldResult,
    FormTemplate,
    ModelChange,
    ModelVersion,
    Page,
    RetrainingRun,
    TrainingSample,
    WorkerProbe,
)

logger = logging.getLogger(__name__)

# A page whose processing was started this many times without finishing keeps
# killing its worker (out of memory, a native crash): fail it instead of looping.
MAX_PAGE_ATTEMPTS = 4
# Characters a person may type into a field of each kind; amounts keep their separator.
CORRECTION_ALPHABETS = {
    "digits": set("0123456789"),
    "date": set("0123456789"),
    "letters": set("ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
    "alnum": set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
    "amount": set("0123456789.,"),
}
# Which classifier a character of each field kind trains (as in recognition.engine.pages.templates).
SAMPLE_KINDS = {
    "digits": "digits",
    "date": "digits",
    "amount": "digits",
    "letters": "letters",
    "alnum": "alnum",
}
BUNDLED_TEMPLATES_DIR = Path(__file__).resolve().parent / "forms_data"


class UploadedFileLike(Protocol):
    name: str
    size: int

    def read(self, size: int = -1) -> bytes: ...


class PageReadingLike(Protocol):
    result: dict
    aligned: np.ndarray


# --- health probe -----------------------------------------------------------------------------


def worker_probe_create() -> WorkerProbe:
    """Create a probe and send it to a worker once the row is committed."""
    from workers.tasks import answer_worker_probe

    with transaction.atomic():
        probe = WorkerProbe.objects.create()
        transaction.on_commit(lambda: answer_worker_probe.delay(probe.pk))
    return probe


def worker_probe_answer(*, probe_id: int, worker_hostname: str) -> WorkerProbe:
    """Stamp a probe as answered; answering twice keeps the first answer."""
    with transaction.atomic():
        probe = WorkerProbe.objects.select_for_update().get(pk=probe_id)
        if probe.answered_at is None:
            probe.answered_at = timezone.now()
            probe.worker_hostname = worker_hostname[:255]
            probe.save(update_fields=["answered_at", "worker_hostname"])
    return probe


# --- upload -----------------------------------------------------------------------------------


@dataclass
class CheckedFile:
    """An uploaded file that passed every check, decoded into its pages."""

    name: str
    pages: list[np.ndarray]


def check_upload_files(*, files: Sequence[UploadedFileLike]) -> list[CheckedFile]:
    """Validate uploaded files by content, size, page count and pixels; return their decoded pages.

    Nothing is stored here, so a refused file leaves nothing behind.
    """
    from recognition.engine.pages.load import load_pages

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
            pages = load_pages(
                data, max_pages=settings.UPLOAD_MAX_PAGES, max_pixels=settings.UPLOAD_MAX_PIXELS
            )
        except ValueError as error:
            raise InvalidInput(f"{name}: {error}.") from error
        total_pages += len(pages)
        if total_pages > settings.UPLOAD_MAX_PAGES * settings.UPLOAD_MAX_FILES:
            raise InvalidInput("This upload has too many pages in all; split it into several uploads.")
        checked.append(CheckedFile(name=name, pages=pages))
    return checked


def encode_png(image: np.ndarray) -> bytes:
    """A grayscale array as PNG bytes (fast compression: pages are large and read once)."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8)).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def document_upload(*, owner, template: FormTemplate, files: Sequence[UploadedFileLike]) -> Document:
    """Check the files, then store a document with one page per image page and queue each page."""
    checked = check_upload_files(files=files)
    name = checked[0].name if len(checked) == 1 else f"{checked[0].name} and {len(checked) - 1} more"
    with transaction.atomic():
        document = Document.objects.create(owner=owner, template=template, name=name)
        number = 0
        for checked_file in checked:
            for image in checked_file.pages:
                number += 1
                page = Page(document=document, number=number, source_name=checked_file.name)
                page.image.save(f"{uuid.uuid4().hex}.png", ContentFile(encode_png(image)), save=False)
                page.save()
        page_ids = list(document.pages.values_list("pk", flat=True))
        transaction.on_commit(lambda: pages_enqueue(page_ids=page_ids))
    return document


def pages_enqueue(*, page_ids: Sequence[int]) -> None:
    """Send one recognition task per page (routed to the `pages` queue by its name)."""
    from workers.tasks import process_page

    for page_id in page_ids:
        process_page.delay(page_id)


# --- page processing (called by the worker task) ----------------------------------------------


def template_for_engine(template: FormTemplate) -> dict:
    """The template document with its image resolved to the stored blank image's absolute path."""
    definition = dict(template.definition)
    definition["image"] = str(Path(template.image.path))
    return definition


def _claim_for_work(
    queryset, pk: int, *, running_status: str, max_attempts: int, finish_failed, **reset_fields
):
    """Take one row of a status machine (a page, a retraining run) for work, under its row lock.

    None when the row is already finished (a duplicate delivery) or has been
    started `max_attempts` times without finishing (it keeps killing its
    worker: it is failed instead of looping). A row already running was
    taken by a worker that died; it is taken again.
    """
    with transaction.atomic():
        # of=("self",): lock only this row, also when a nullable relation is joined in.
        row = queryset.select_for_update(of=("self",)).get(pk=pk)
        if row.status in row.FINISHED:
            return None
        if row.attempts >= max_attempts:
            finish_failed(row, f"Gave up after {row.attempts} attempts that did not finish.")
            return None
        row.status = running_status
        row.attempts += 1
        row.started_at = timezone.now()
        for name, value in reset_fields.items():
            setattr(row, name, value)
        row.save(update_fields=["status", "attempts", "started_at", *reset_fields])
    return row


def page_claim(*, page_id: int) -> Page | None:
    """Move a page to processing; None when it is already finished (a duplicate delivery)."""
    return _claim_for_work(
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


def _fail_unless_finished(model, pk: int, reason: str, finish_failed):
    """Fail a row of a status machine (a page, a retraining run) with a reason; a finished row is left."""
    with transaction.atomic():
        row = model.objects.select_for_update().get(pk=pk)
        if row.status not in row.FINISHED:
            finish_failed(row, reason)
    return row


def page_fail(*, page_id: int, reason: str) -> Page:
    """Mark a page failed with a reason a person can act on; a finished page is left as it is."""
    return _fail_unless_finished(Page, page_id, reason, _page_finish_failed)


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


# --- review -----------------------------------------------------------------------------------


def check_correction_text(*, kind: str, text: str) -> str:
    """Normalize a typed correction (trimmed, upper case) and check it fits the field's kind."""
    text = text.strip().upper()
    alphabet = CORRECTION_ALPHABETS.get(kind)
    if alphabet is not None:
        wrong = sorted({character for character in text if character not in alphabet})
        if wrong:
            raise InvalidInput(f"A {kind} field cannot hold {''.join(wrong)!r}.")
    if len(text) > 255:
        raise InvalidInput("The text is too long.")
    return text


def corrected_characters(recognized: Sequence[str], corrected: str) -> list[tuple[int, str]]:
    """Pairs (index into the recognized characters, true label) for each character the person changed.

    Only substitutions that line up one to one are kept: an inserted or
    deleted character has no crop that certainly belongs to it. When the
    lengths agree (always so in a comb field, one character a cell), the
    characters pair by position: a diff would line up equal characters
    across cells and drop real substitutions.
    """
    if len(recognized) == len(corrected):
        return [
            (index, truth)
            for index, (read, truth) in enumerate(zip(recognized, corrected, strict=True))
            if read != truth
        ]
    matcher = difflib.SequenceMatcher(a=list(recognized), b=list(corrected), autojunk=False)
    pairs = []
    for operation, a_start, a_end, b_start, b_end in matcher.get_opcodes():
        if operation == "replace" and a_end - a_start == b_end - b_start:
            pairs.extend((a_start + offset, corrected[b_start + offset]) for offset in range(a_end - a_start))
    return pairs


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


def field_correct(*, field_id: int, user, text: str) -> FieldResult:
    """Correct a field: in one transaction, the new text, a Correction and a sample per changed character."""
    with transaction.atomic():
        field = FieldResult.objects.select_for_update().select_related("page").get(pk=field_id)
        new_text = check_correction_text(kind=field.kind, text=text)
        if field.page.status != Page.Status.DONE:
            raise Conflict("This page is not read yet.")
        if new_text == field.text:
            return _field_mark_reviewed(field, user, FieldResult.ReviewState.ACCEPTED)
        correction = Correction.objects.create(field=field, user=user, old_text=field.text, new_text=new_text)
        # A later correction of the same field is the truth; samples from earlier ones are set aside.
        TrainingSample.objects.filter(correction__field=field).update(excluded=True)
        chars = field.chars or []
        recognized = [str(char.get("text", "")) for char in chars]
        sample_kind = SAMPLE_KINDS.get(field.kind, field.kind)
        trainable = CORRECTION_ALPHABETS.get(sample_kind, set())
        for index, label in corrected_characters(recognized, new_text):
            if label not in trainable or not field.page.aligned_image or "box" not in chars[index]:
                continue
            sample = TrainingSample(
                kind=sample_kind, label=label, correction=correction, predicted_label=recognized[index][:4]
            )
            crop = crop_png(field.page.aligned_image.path, chars[index]["box"])
            sample.image.save(f"{sample_kind}-{uuid.uuid4().hex}.png", ContentFile(crop), save=False)
            sample.save()
        field.text = new_text
        return _field_mark_reviewed(field, user, FieldResult.ReviewState.CORRECTED)


def field_accept(*, field_id: int, user) -> FieldResult:
    """Accept a field as read (the reviewer checked it)."""
    with transaction.atomic():
        field = FieldResult.objects.select_for_update().select_related("page").get(pk=field_id)
        if field.page.status != Page.Status.DONE:
            raise Conflict("This page is not read yet.")
        if field.review_state == FieldResult.ReviewState.CORRECTED:
            return field
        return _field_mark_reviewed(field, user, FieldResult.ReviewState.ACCEPTED)


def _field_mark_reviewed(field: FieldResult, user, state: str) -> FieldResult:
    field.review_state = state
    field.reviewed_by = user if getattr(user, "is_authenticated", False) else None
    field.reviewed_at = timezone.now()
    field.save(update_fields=["text", "review_state", "reviewed_by", "reviewed_at"])
    return field


# --- templates --------------------------------------------------------------------------------


def check_template_definition(*, definition: Any, image_size: tuple[int, int] | None = None) -> dict:
    """Validate a format-1 template document; with an image, its size must match the template's."""
    from recognition.engine.pages.templates import parse_template

    if isinstance(definition, str | bytes):
        try:
            definition = json.loads(definition)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise InvalidInput(f"The template is not valid JSON: {error}.") from error
    try:
        parsed = parse_template(definition)
    except ValueError as error:
        raise InvalidInput(f"Invalid template: {error}.") from error
    if image_size is not None and tuple(parsed.size) != tuple(image_size):
        raise InvalidInput(
            f"The blank image is {image_size[0]}x{image_size[1]} pixels but the template says "
            f"{parsed.size[0]}x{parsed.size[1]}."
        )
    return definition


def check_template_image(*, data: bytes) -> tuple[int, int]:
    """Check a blank form image by content and size; return its (width, height)."""
    from recognition.engine.pages.load import load_pages, sniff_format

    try:
        if sniff_format(data) == "pdf":
            raise ValueError("the blank form must be an image (PNG, JPEG or TIFF), not a PDF")
        page = load_pages(data, max_pages=1, max_pixels=settings.UPLOAD_MAX_PIXELS)[0]
    except ValueError as error:
        raise InvalidInput(f"Blank form image: {error}.") from error
    height, width = page.shape
    return width, height


def template_save(
    *,
    definition: Any,
    image_data: bytes | None = None,
    kind: str = FormTemplate.Kind.FORM,
    bundled: bool = False,
    template: FormTemplate | None = None,
) -> FormTemplate:
    """Create a template, or update `template` (or the one of the same name); the image is stored as PNG."""
    if image_data is not None:
        image_size = check_template_image(data=image_data)
    elif template is not None:
        image_size = (template.image.width, template.image.height)
    else:
        image_size = None
    definition = check_template_definition(definition=definition, image_size=image_size)
    name = slugify(definition["name"])[:100] or "template"
    with transaction.atomic():
        if template is None:
            template = FormTemplate.objects.select_for_update().filter(name=name).first()
            if template is None and image_data is None:
                raise InvalidInput("A new template needs its blank form image.")
            if template is not None and image_data is None:
                definition = check_template_definition(
                    definition=definition, image_size=(template.image.width, template.image.height)
                )
        template = template or FormTemplate(name=name)
        if FormTemplate.objects.filter(name=name).exclude(pk=template.pk).exists():
            raise InvalidInput(f"Another template is already named {name!r}.")
        template.name = name
        template.kind = kind
        template.bundled = bundled
        if image_data is not None:
            from recognition.engine.pages.load import load_page

            png = encode_png(load_page(image_data, max_pixels=settings.UPLOAD_MAX_PIXELS))
            template.image.save(f"{name}.png", ContentFile(png), save=False)
        template.definition = {**definition, "name": name, "image": Path(template.image.name).name}
        template.save()
    return template


def templates_seed_bundled(*, directory: Path = BUNDLED_TEMPLATES_DIR) -> list[FormTemplate]:
    """Load every bundled template (<dir>/<name>/*.json with its image) into the database; idempotent."""
    saved = []
    for json_path in sorted(directory.glob("*/*.json")):
        try:
            definition = json.loads(json_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            logger.warning("Skipping %s: not JSON", json_path)
            continue
        if not isinstance(definition, dict) or definition.get("format") != "hwr-form-template/1":
            continue
        image_path = json_path.parent / str(definition.get("image", ""))
        if not image_path.is_file():
            logger.warning("Skipping %s: its image %s is missing", json_path, image_path)
            continue
        kind = FormTemplate.Kind.CHECK if "check" in json_path.parent.name else FormTemplate.Kind.FORM
        existing = FormTemplate.objects.filter(name=slugify(definition.get("name", ""))).first()
        unchanged = (
            existing is not None
            and existing.bundled
            and {**existing.definition, "image": ""} == {**definition, "name": existing.name, "image": ""}
        )
        if unchanged:
            saved.append(existing)
            continue
        saved.append(
            template_save(
                definition=definition,
                image_data=image_path.read_bytes(),
                kind=kind,
                bundled=True,
                template=existing,
            )
        )
    return saved


# --- model versions ---------------------------------------------------------------------------


def model_versions_sync(*, model_dir: Path | None = None) -> list[ModelVersion]:
    """Register every model folder (<kind>/<version>/model.keras) found on disk; the ACTIVE one is active."""
    model_dir = Path(model_dir or settings.MODEL_DIR)
    found = []
    if not model_dir.is_dir():
        return found
    with transaction.atomic():
        for kind_dir in sorted(path for path in model_dir.iterdir() if path.is_dir()):
            version_dirs = [path for path in kind_dir.iterdir() if (path / "model.keras").is_file()]
            if not version_dirs:
                continue
            active_file = kind_dir / "ACTIVE"
            if active_file.is_file():
                active = active_file.read_text().strip()
            else:
                numeric = [path.name for path in version_dirs if path.name.isdigit()]
                active = max(numeric, key=int) if numeric else sorted(path.name for path in version_dirs)[-1]
            for version_dir in version_dirs:
                metrics: dict = {}
                card = version_dir / "card.json"
                if card.is_file():
                    try:
                        metrics = json.loads(card.read_text()).get("metrics", {}) or {}
                    except (json.JSONDecodeError, AttributeError):
                        metrics = {}
                row, _ = ModelVersion.objects.update_or_create(
                    kind=kind_dir.name,
                    version=version_dir.name,
                    defaults={"path": str(version_dir), "metrics": metrics},
                )
                status = ModelVersion.Status.ACTIVE if version_dir.name == active else None
                if status is None and row.status == ModelVersion.Status.ACTIVE:
                    status = ModelVersion.Status.CANDIDATE
                if status is not None and row.status != status:
                    row.status = status
                    row.save(update_fields=["status"])
                found.append(row)
    return found


# --- learning loop: retraining and promotion -----------------------------------------------------

MODEL_KINDS = ("digits", "letters", "alnum")
# Kinds whose active version can be changed by hand: the retrainable ones and the touching-pair reader
# of free digit fields (recognition.engine.characters.pairs.PAIR_KIND, spelled out here so the web
# process does not import the engine), which is served but not retrained from corrections.
SERVED_KINDS = (*MODEL_KINDS, "digit-pairs")
# A retraining that was started this many times without finishing keeps killing its worker.
MAX_RETRAINING_ATTEMPTS = 3


def check_model_kind(*, kind: str, kinds: Sequence[str] = MODEL_KINDS) -> str:
    if kind not in kinds:
        raise InvalidInput(f"Unknown model kind {kind!r}; choose one of {', '.join(kinds)}.")
    return kind


def training_sample_set_excluded(*, sample_id: int, excluded: bool) -> TrainingSample:
    """Leave a sample out of (or take it back into) retraining, e.g. when its label is wrong."""
    with transaction.atomic():
        sample = selectors.get_or_not_found(
            TrainingSample.objects.select_for_update(), sample_id, "No such training sample."
        )
        if sample.excluded != excluded:
            sample.excluded = excluded
            sample.save(update_fields=["excluded"])
    return sample


def check_retraining_possible(*, kind: str) -> ModelVersion:
    """The active version to fine-tune; refuses a second run of a kind or too few corrections."""

    check_model_kind(kind=kind)
    champion = selectors.model_version_active(kind=kind)
    if champion is None:
        raise Conflict(f"There is no active {kind} model to start from.")
    if RetrainingRun.objects.filter(kind=kind).exclude(status__in=RetrainingRun.FINISHED).exists():
        raise Conflict(f"A {kind} retraining is already queued or running.")
    count = selectors.training_samples_for_model(kind=kind).count()
    if count < settings.RETRAIN_MIN_SAMPLES:
        raise Conflict(
            f"Only {count} {kind} training samples; retraining needs at least {settings.RETRAIN_MIN_SAMPLES}."
        )
    return champion


def retraining_request(*, kind: str, user) -> RetrainingRun:
    """Queue a retraining of `kind` from the active version; the task is sent once the row is committed."""
    from workers.tasks import retrain_model

    with transaction.atomic():
        # Two admins pressing the button at once: the second waits on the
        # active version's row lock, then finds the first run and is refused.
        list(ModelVersion.objects.select_for_update().filter(kind=kind, status=ModelVersion.Status.ACTIVE))
        champion = check_retraining_possible(kind=kind)
        run = RetrainingRun.objects.create(
            kind=kind,
            requested_by=user if getattr(user, "is_authenticated", False) else None,
            base_version=champion,
            message="waiting for a training worker",
        )
        transaction.on_commit(lambda: retrain_model.delay(run.pk))
    return run


def retraining_claim(*, run_id: int) -> RetrainingRun | None:
    """Move a run to running; None when it is already finished (a duplicate delivery)."""
    return _claim_for_work(
        RetrainingRun.objects.select_related("base_version"),
        run_id,
        running_status=RetrainingRun.Status.RUNNING,
        max_attempts=MAX_RETRAINING_ATTEMPTS,
        finish_failed=_retraining_finish_failed,
        progress=0.0,
        message="loading data",
    )


def retraining_report_progress(*, run_id: int, fraction: float, message: str) -> None:
    """Store live progress; a plain UPDATE, so polling readers never wait on the training transaction."""
    RetrainingRun.objects.filter(pk=run_id, status=RetrainingRun.Status.RUNNING).update(
        progress=max(0.0, min(1.0, fraction)), message=message[:255]
    )


def retraining_fail(*, run_id: int, reason: str) -> RetrainingRun:
    return _fail_unless_finished(RetrainingRun, run_id, reason, _retraining_finish_failed)


def _retraining_finish_failed(run: RetrainingRun, reason: str) -> None:
    run.status = RetrainingRun.Status.FAILED
    run.error = reason[:2000]
    run.message = "failed"
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "error", "message", "finished_at"])


def _load_sample_image(sample: TrainingSample) -> np.ndarray:
    with Image.open(sample.image.path) as image:
        return np.asarray(image.convert("L"))


def retraining_base_data(*, kind: str):
    """The base data a retraining replays and validates on: MNIST train (digits) and femnist-dev.

    The split is the training command's (fixed seeds), so the base
    validation set is the same for the champion and the challenger.
    """
    from recognition.engine.learning import train

    mnist_dir = Path(settings.DATA_DIR) / "mnist"
    has_mnist = kind != "letters" and any(
        (mnist_dir / name).exists() for name in ("train-labels-idx1-ubyte", "train-labels-idx1-ubyte.gz")
    )
    femnist_dir = Path(settings.FEMNIST_DIR)
    if not has_mnist and not femnist_dir.is_dir():
        raise ValueError(
            f"No base data for {kind}: run `python manage.py fetch_data mnist` or set FEMNIST_DIR."
        )
    return train.assemble_data(
        kind,
        mnist_dir if has_mnist else None,
        femnist_dir if femnist_dir.is_dir() else None,
        limit=settings.RETRAIN_BASE_LIMIT,
    )


def retraining_execute(*, run_id: int) -> RetrainingRun | None:
    """Run one retraining (called by the training task): fine-tune, judge, store, promote if better.

    The heavy work happens outside any transaction; only the outcome is
    written in one. A failure leaves the run failed with its reason and no
    half-registered version.
    """
    import shutil

    from recognition.engine.learning import finetune, retrain, versions

    run = retraining_claim(run_id=run_id)
    if run is None:
        return None
    champion = run.base_version or selectors.model_version_active(kind=run.kind)
    if champion is None:
        return retraining_fail(run_id=run_id, reason=f"There is no active {run.kind} model to start from.")
    samples = list(selectors.training_samples_for_model(kind=run.kind))
    kind_dir = Path(settings.MODEL_DIR) / run.kind
    new_version_dir = kind_dir / versions.next_version(kind_dir)
    try:
        base = retraining_base_data(kind=run.kind)
        outcome = retrain.retrain(
            kind=run.kind,
            champion_dir=Path(champion.path),
            new_version_dir=new_version_dir,
            samples=retrain.CorrectionSamples(
                ids=[sample.pk for sample in samples],
                images=[_load_sample_image(sample) for sample in samples],
                labels=[sample.label for sample in samples],
            ),
            base=base,
            options=finetune.FineTuneOptions(steps=settings.RETRAIN_STEPS),
            on_progress=lambda fraction, message: retraining_report_progress(
                run_id=run_id, fraction=fraction, message=message
            ),
        )
    except (ValueError, OSError) as error:
        shutil.rmtree(new_version_dir, ignore_errors=True)
        return retraining_fail(run_id=run_id, reason=str(error) or type(error).__name__)

    with transaction.atomic():
        run = RetrainingRun.objects.select_for_update().get(pk=run_id)
        version = ModelVersion.objects.create(
            kind=run.kind,
            version=new_version_dir.name,
            path=str(new_version_dir),
            metrics=outcome.card.get("metrics", {}),
            parent=champion,
            decision_reason=outcome.decision.reason,
            status=ModelVersion.Status.CANDIDATE,
        )
        if outcome.decision.promote:
            _model_activate(
                version,
                user=None,
                action=ModelChange.Action.PROMOTED,
                reason=f"Promotion gate: {outcome.decision.reason}",
            )
            run.status = RetrainingRun.Status.PROMOTED
        else:
            version.status = ModelVersion.Status.REJECTED
            version.save(update_fields=["status"])
            ModelChange.objects.create(
                version=version,
                previous=champion,
                action=ModelChange.Action.REJECTED,
                reason=f"Promotion gate: {outcome.decision.reason}",
            )
            run.status = RetrainingRun.Status.REJECTED
        run.new_version = version
        run.samples_trained = outcome.train_count
        run.samples_held_out = outcome.holdout_count
        run.evaluation = {"champion": outcome.champion, "challenger": outcome.challenger}
        run.progress = 1.0
        run.message = outcome.decision.reason[:255]
        run.finished_at = timezone.now()
        run.save()
    return run


def _write_active_file(kind: str, version: str) -> None:
    """Point models/<kind>/ACTIVE at a version (atomically), for the command-line tools."""
    kind_dir = Path(settings.MODEL_DIR) / kind
    temporary = kind_dir / f".ACTIVE.{uuid.uuid4().hex}"
    temporary.write_text(version + "\n")
    temporary.replace(kind_dir / "ACTIVE")


def _model_activate(version: ModelVersion, *, user, action: str, reason: str) -> ModelVersion:
    """Make `version` the active one of its kind and log the change; call inside a transaction."""
    versions = ModelVersion.objects.select_for_update().filter(kind=version.kind)
    previous = versions.filter(status=ModelVersion.Status.ACTIVE).exclude(pk=version.pk).first()
    if previous is not None:
        previous.status = ModelVersion.Status.CANDIDATE
        previous.save(update_fields=["status"])
    version.status = ModelVersion.Status.ACTIVE
    version.save(update_fields=["status"])
    ModelChange.objects.create(
        version=version,
        previous=previous,
        action=action,
        user=user if getattr(user, "is_authenticated", False) else None,
        reason=reason,
    )
    # The database is what workers read at each task; the file follows it
    # once committed, for recognize_form and the other commands.
    transaction.on_commit(lambda: _write_active_file(version.kind, version.version))
    return version


def model_promote(*, version_id: int, user, reason: str) -> ModelVersion:
    """Make any version active by hand (an admin's decision, with its reason)."""
    reason = reason.strip()
    if not reason:
        raise InvalidInput("Say why this version should become active.")
    with transaction.atomic():
        version = selectors.get_or_not_found(
            ModelVersion.objects.select_for_update(), version_id, "No such model version."
        )
        if version.status == ModelVersion.Status.ACTIVE:
            raise Conflict(f"{version.kind}@{version.version} is already active.")
        if not (Path(version.path) / "model.keras").is_file():
            raise Conflict(f"The model file of {version.kind}@{version.version} is missing.")
        return _model_activate(version, user=user, action=ModelChange.Action.PROMOTED, reason=reason)


def model_rollback(*, kind: str, user, reason: str) -> ModelVersion:
    """Make the version that was active before the current one active again."""
    check_model_kind(kind=kind, kinds=SERVED_KINDS)
    reason = reason.strip()
    if not reason:
        raise InvalidInput("Say why the model is rolled back.")
    with transaction.atomic():
        current = (
            ModelVersion.objects.select_for_update()
            .filter(kind=kind, status=ModelVersion.Status.ACTIVE)
            .first()
        )
        last_change = (
            ModelChange.objects.filter(
                version=current, action__in=[ModelChange.Action.PROMOTED, ModelChange.Action.ROLLED_BACK]
            )
            .select_related("previous")
            .first()
            if current
            else None
        )
        if last_change is None or last_change.previous is None:
            raise Conflict(f"There is no earlier active {kind} model to roll back to.")
        return _model_activate(
            last_change.previous, user=user, action=ModelChange.Action.ROLLED_BACK, reason=reason
        )
