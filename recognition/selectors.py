"""Read-only queries used by views, the API and services."""

import logging
from collections.abc import Iterable, Iterator
from datetime import timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from recognition.engine.cheques.words import cross_check, format_indian, parse_amount_words
from recognition.exceptions import NotFound
from recognition.models import (
    Document,
    FieldResult,
    FormTemplate,
    ModelChange,
    ModelVersion,
    Page,
    RetrainingRun,
    TrainingSample,
    UploadBatch,
    WorkerProbe,
)
from recognition.permissions import can_see_all_documents

logger = logging.getLogger(__name__)


def worker_probe_latest_answered(*, within: timedelta = timedelta(minutes=5)) -> WorkerProbe | None:
    """The newest probe a worker answered within the given time, if any."""
    since = timezone.now() - within
    return WorkerProbe.objects.filter(answered_at__gte=since).order_by("-answered_at").first()


def system_status(*, worker_timeout: float = 1.0) -> dict:
    """Database, broker and worker reachability, for the health page and the home page."""
    from django.db import connection

    from hwr_site.celery import app

    status: dict = {"database": False, "broker": False, "workers": []}
    try:
        connection.ensure_connection()
        status["database"] = True
    except Exception as error:  # any failure means "not reachable" on a health page
        logger.warning("Health check: database unreachable: %s", error)
    try:
        with app.connection_for_write() as broker_connection:
            broker_connection.ensure_connection(max_retries=1, timeout=worker_timeout)
        status["broker"] = True
        replies = app.control.ping(timeout=worker_timeout) or []
        status["workers"] = sorted(name for reply in replies for name in reply)
    except Exception as error:
        logger.warning("Health check: broker unreachable: %s", error)
    return status


# --- documents, pages and fields, as a given user may see them ------------------------------


def document_list_for_user(*, user) -> QuerySet[Document]:
    """Documents the user may see: their own; reviewers and admins see all."""
    documents = Document.objects.select_related("template", "owner")
    if can_see_all_documents(user):
        return documents
    return documents.filter(owner=user)


def document_get_for_user(*, user, document_id: int) -> Document:
    """One document, or NotFound when it does not exist or the user may not see it (no id leaks)."""
    document = document_list_for_user(user=user).filter(pk=document_id).first()
    if document is None:
        raise NotFound("No such document.")
    return document


def batch_list_for_user(*, user) -> QuerySet[UploadBatch]:
    """Upload batches the user may see: their own; reviewers and admins see all."""
    batches = UploadBatch.objects.select_related("template", "owner")
    if can_see_all_documents(user):
        return batches
    return batches.filter(owner=user)


def batch_get_for_user(*, user, batch_id: int) -> UploadBatch:
    batch = batch_list_for_user(user=user).filter(pk=batch_id).first()
    if batch is None:
        raise NotFound("No such batch.")
    return batch


def batch_progress(*, batch: UploadBatch) -> dict:
    """Each document of a batch with its page counts, and the batch's totals, for the live progress poll."""
    documents = []
    for document in batch.documents.order_by("pk"):
        progress = document_progress(document=document)
        documents.append(
            {
                "id": document.pk,
                "name": document.name,
                "status": document.status,
                "pages_total": progress["pages_total"],
                "pages_finished": progress["pages_finished"],
                "finished": progress["finished"],
                "note": progress["note"],
            }
        )
    finished = sum(1 for document in documents if document["finished"])
    return {
        "batch": batch.pk,
        "template": batch.template.name,
        "documents_total": len(documents),
        "documents_finished": finished,
        "pages_total": sum(document["pages_total"] for document in documents),
        "pages_finished": sum(document["pages_finished"] for document in documents),
        "finished": finished == len(documents),
        "note": next((document["note"] for document in documents if document["note"]), ""),
        "documents": documents,
    }


def field_list_for_user(*, user) -> QuerySet[FieldResult]:
    fields = FieldResult.objects.select_related("page__document__template")
    if can_see_all_documents(user):
        return fields
    return fields.filter(page__document__owner=user)


def field_get_for_user(*, user, field_id: int) -> FieldResult:
    field = field_list_for_user(user=user).filter(pk=field_id).first()
    if field is None:
        raise NotFound("No such field.")
    return field


def field_version(field: FieldResult) -> int:
    """The field's version: it changes at every review (each stamps reviewed_at), 0 before the first.

    Clients send back the version they read; a change made on an older one is refused
    (recognition.services.review.check_field_version).
    """
    if field.reviewed_at is None:
        return 0
    return int(field.reviewed_at.timestamp() * 1_000_000)


def review_queue(*, user) -> QuerySet[FieldResult]:
    """Fields that need a person, least confident first, across the documents the user may see."""
    return (
        field_list_for_user(user=user)
        .filter(review_state=FieldResult.ReviewState.PENDING, page__status=Page.Status.DONE)
        .order_by("confidence", "pk")
    )


def review_next(*, user, after: FieldResult | None = None) -> FieldResult | None:
    """The next field to review: the first of the queue, or the one after `after` in the queue's order.

    With `after`, fields before it (skipped ones) come round again only once the end is reached, and
    `after` itself never comes next, even while it is still pending.
    """
    queue = review_queue(user=user)
    if after is None:
        return queue.first()
    later = queue.filter(Q(confidence__gt=after.confidence) | Q(confidence=after.confidence, pk__gt=after.pk))
    return later.first() or queue.exclude(pk=after.pk).first()


def auto_accept_error_rate(*, user) -> dict:
    """How many auto-accepted fields a person later corrected: the measured cost of the threshold."""
    auto_accepted = field_list_for_user(user=user).filter(auto_accepted=True)
    total = auto_accepted.count()
    corrected = auto_accepted.filter(review_state=FieldResult.ReviewState.CORRECTED).count()
    return {
        "auto_accepted": total,
        "corrected": corrected,
        "error_rate": corrected / total if total else None,
    }


def document_progress(*, document: Document) -> dict:
    """Page counts by status and per-page state, for the live progress poll."""
    pages = list(
        document.pages.order_by("number").values(
            "pk", "number", "status", "error", "source_name", "published_at"
        )
    )
    counts = {status: 0 for status in Page.Status.values}
    for page in pages:
        counts[page["status"]] += 1
    finished = counts[Page.Status.DONE] + counts[Page.Status.FAILED]
    unpublished = sum(
        1 for page in pages if page["status"] == Page.Status.QUEUED and page["published_at"] is None
    )
    return {
        "document": document.pk,
        "status": document.status,
        "pages_total": len(pages),
        "pages_finished": finished,
        "counts": counts,
        "finished": document.status != Document.Status.PROCESSING,
        "note": document_note(unpublished=unpublished),
        "pages": [
            {
                "id": page["pk"],
                "number": page["number"],
                "status": page["status"],
                "error": page["error"],
                "source": page["source_name"],
            }
            for page in pages
        ],
    }


def document_note(*, unpublished: int) -> str:
    """What a person should know about a document's pages beyond their status ("" when nothing)."""
    if not unpublished:
        return ""
    return (
        f"{unpublished} page(s) are stored and queued, but the task queue could not be reached: "
        "they are sent to a worker automatically as soon as it is back (checked every minute). "
        "Nothing needs to be uploaded again."
    )


def document_unpublished_pages(*, document: Document) -> int:
    return document.pages.filter(status=Page.Status.QUEUED, published_at__isnull=True).count()


# The engine's optional per-field keys of hwr-form-result/1 that results pass on as read.
ENGINE_FIELD_KEYS = ("warnings", "cross_check", "value")


def field_as_result(field: FieldResult, engine_entry: dict | None = None) -> dict:
    """A field as an entry of hwr-form-result/1, with the review state and current text; the
    engine's optional keys (warnings, an amount's cross_check, the words' value) from its entry."""
    entry = {
        "name": field.name,
        "kind": field.kind,
        "text": field.text,
        "recognized_text": field.recognized_text,
        "confidence": field.confidence,
        "review_state": field.review_state,
        "model": field.model_version,
        "chars": field.chars,
    }
    for key in ENGINE_FIELD_KEYS:
        if engine_entry and key in engine_entry:
            entry[key] = engine_entry[key]
    return entry


def document_results(*, document: Document) -> dict:
    """A document's results: per page, a hwr-form-result/1 document with corrections applied."""
    pages = []
    for page in document.pages.order_by("number").prefetch_related("fields"):
        entry: dict = {"number": page.number, "source": page.source_name, "status": page.status}
        if page.status == Page.Status.FAILED:
            entry["error"] = page.error
        if page.status == Page.Status.DONE:
            engine_fields = page_result_fields(page)
            result = {
                "format": "hwr-form-result/1",
                "template": document.template.name,
                "model": (page.result or {}).get("model", ""),
                "fields": [
                    field_as_result(field, engine_fields.get(field.name)) for field in page.fields.all()
                ],
            }
            if page.alignment_score is not None:
                result["alignment"] = {"score": page.alignment_score}
            entry["result"] = result
        pages.append(entry)
    return {
        "document": document.pk,
        "name": document.name,
        "template": document.template.name,
        "status": document.status,
        "created": document.created_at.isoformat(),
        "pages": pages,
    }


EXPORT_COLUMNS = [
    "document_id",
    "document",
    "page",
    "source",
    "field",
    "kind",
    "text",
    "recognized_text",
    "confidence",
    "review_state",
    "model",
]


def export_rows(*, documents: Iterable[Document]) -> Iterator[dict]:
    """One row per field of every read page of the given documents, in order."""
    fields = (
        FieldResult.objects.filter(page__document__in=documents)
        .select_related("page__document")
        .order_by("page__document_id", "page__number", "position")
    )
    for field in fields:
        yield {
            "document_id": field.page.document_id,
            "document": field.page.document.name,
            "page": field.page.number,
            "source": field.page.source_name,
            "field": field.name,
            "kind": field.kind,
            "text": field.text,
            "recognized_text": field.recognized_text,
            "confidence": round(field.confidence, 4),
            "review_state": field.review_state,
            "model": field.model_version,
        }


DOCUMENT_EXPORT_COLUMNS = [
    "document_id",
    "document",
    "template",
    "status",
    "pages",
    "uploaded_by",
    "uploaded_at",
]
REVIEW_EXPORT_COLUMNS = ["reviewed_by", "reviewed_at"]


def export_document_table(*, documents: Iterable[Document]) -> tuple[list[str], list[dict]]:
    """One row per document, a column per field (its current text), and who reviewed it and when.

    The field columns follow the templates' order; a field of a second or later page of a document
    gets its own column, "name (page N)". `reviewed_by` lists everyone who accepted or corrected a
    field of the document; `reviewed_at` is the last time one did.
    """
    documents = list(documents)
    fields = (
        FieldResult.objects.filter(page__document__in=documents)
        .select_related("page", "reviewed_by")
        .order_by("page__document_id", "page__number", "position")
    )
    by_document: dict[int, list[FieldResult]] = {}
    for field in fields:
        by_document.setdefault(field.page.document_id, []).append(field)
    field_columns: list[str] = []
    rows = []
    for document in documents:
        row = {
            "document_id": document.pk,
            "document": document.name,
            "template": document.template.name,
            "status": document.status,
            "pages": document.pages.count(),
            "uploaded_by": document.owner.get_username(),
            "uploaded_at": document.created_at.isoformat(),
        }
        reviewers: list[str] = []
        last_review = None
        for field in by_document.get(document.pk, []):
            column = field.name if field.page.number == 1 else f"{field.name} (page {field.page.number})"
            if column not in field_columns:
                field_columns.append(column)
            row[column] = field.text
            if field.reviewed_by is not None and field.reviewed_by.get_username() not in reviewers:
                reviewers.append(field.reviewed_by.get_username())
            if field.reviewed_at is not None and (last_review is None or field.reviewed_at > last_review):
                last_review = field.reviewed_at
        row["reviewed_by"] = ", ".join(reviewers)
        row["reviewed_at"] = last_review.isoformat() if last_review else ""
        rows.append(row)
    return [*DOCUMENT_EXPORT_COLUMNS, *field_columns, *REVIEW_EXPORT_COLUMNS], rows


def template_list() -> QuerySet[FormTemplate]:
    return FormTemplate.objects.all()


def template_get(*, template_id: int) -> FormTemplate:
    template = FormTemplate.objects.filter(pk=template_id).first()
    if template is None:
        raise NotFound("No such template.")
    return template


def template_export(*, template: FormTemplate) -> dict:
    """The format-1 JSON of a template, naming its image file as exported beside it."""
    return {**template.definition, "image": f"{template.name}.png"}


# --- cheques: what the engine checked across fields, as the review screens show it -------------

# A cross-check's verdict coloured as confidence is (confidence_level): agreeing readings are sure,
# an unreadable check says nothing either way, a disagreement needs a person.
VERDICT_LEVELS = {"agree": "high", "unreadable": "medium", "disagree": "low"}


def confidence_level(confidence: float) -> str:
    """How sure a reading is, as the pages colour it: high, medium or low."""
    return "high" if confidence >= 0.9 else "medium" if confidence >= 0.6 else "low"


def page_result_fields(page: Page) -> dict[str, dict]:
    """The engine's entries of a page's fields by name, as stored whole in page.result.

    The FieldResult rows keep only what review needs; the engine's extra keys (warnings, an amount's
    cross_check, the words' value) are read from here instead of copied into columns.
    """
    entries = (page.result or {}).get("fields") or []
    return {entry["name"]: entry for entry in entries if isinstance(entry, dict) and "name" in entry}


def field_warnings(field: FieldResult) -> list[str]:
    """What the engine warned about a field as it read it (a date post-dated or stale, no MICR line)."""
    warnings = page_result_fields(field.page).get(field.name, {}).get("warnings") or []
    return [str(warning) for warning in warnings]


def cheque_field_names(template: FormTemplate) -> dict[str, str]:
    """Where a cheque's amount, amount in words and MICR line are: the template's `cheque` options."""
    options = template.definition.get("cheque") or {}
    return {role: str(options.get(role, role)) for role in ("amount", "amount_words", "micr")}


def cheque_amounts(*, page: Page) -> dict | None:
    """The amount in figures beside the amount in words and their cross-check, for a page of a template
    with both fields; None for any other page (or one not read yet).

    The verdict is the engine's while both fields stand as read; once a reviewer corrected either, it
    is checked again on the current texts, so the panel never vouches for text nobody read.
    """
    names = cheque_field_names(page.document.template)
    template_fields = {field.get("name") for field in page.document.template.fields}
    if not {names["amount"], names["amount_words"]} <= template_fields or page.status != Page.Status.DONE:
        return None
    rows = {field.name: field for field in page.fields.all()}
    amount, words = rows.get(names["amount"]), rows.get(names["amount_words"])
    if amount is None or words is None:
        return None
    entries = page_result_fields(page)
    check = _amounts_check(amount, words, entries)
    return {
        "amount": amount,
        "words": words,
        "words_value": _indian_or_empty(check["words_value"]),
        "verdict": check["verdict"],
        "reason": check["reason"],
        "level": VERDICT_LEVELS.get(check["verdict"], "medium"),
        "rechecked": check["rechecked"],
        "micr": _micr_as_read(rows.get(names["micr"])),
    }


def _amounts_check(amount: FieldResult, words: FieldResult, entries: dict[str, dict]) -> dict:
    """The stored cross-check of the fields as read, or one made now on their current texts."""
    stored = entries.get(amount.name, {}).get("cross_check")
    as_read = amount.text == amount.recognized_text and words.text == words.recognized_text
    if as_read and isinstance(stored, dict) and stored.get("verdict") in VERDICT_LEVELS:
        words_value = stored.get("words_value", entries.get(words.name, {}).get("value"))
        return {
            "verdict": stored["verdict"],
            "reason": str(stored.get("reason", "")),
            "words_value": words_value,
            "rechecked": False,
        }
    check = cross_check(amount.text, parse_amount_words(words.text))
    return {
        "verdict": check.verdict,
        "reason": check.reason,
        "words_value": check.words_value,
        "rechecked": not as_read,
    }


def _indian_or_empty(rupees) -> str:
    """Rupees grouped the Indian way (88,00,000), or "" when the words gave no amount."""
    try:
        return format_indian(int(rupees)) if rupees is not None else ""
    except (TypeError, ValueError):
        return ""


def _micr_as_read(field: FieldResult | None) -> dict | None:
    """The printed MICR line as read, with how sure the font match was; None when the page has none."""
    if field is None:
        return None
    return {"field": field, "level": confidence_level(field.confidence)}


# --- learning loop -----------------------------------------------------------------------------

# Which samples' kinds a model of each kind learns from: alnum reads digits and capitals too.
TRAINING_SAMPLE_SOURCES = {
    "digits": ("digits",),
    "letters": ("letters",),
    "alnum": ("alnum", "digits", "letters"),
    # Whole free fields and their texts, of every field kind (recognition.services.samples).
    "sequence": ("sequence",),
}


def model_version_active(*, kind: str) -> ModelVersion | None:
    return ModelVersion.objects.filter(kind=kind, status=ModelVersion.Status.ACTIVE).first()


def active_model_versions() -> dict[str, str]:
    """{kind: version} of the active models, as the page task reads them at each start."""
    return dict(ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).values_list("kind", "version"))


def training_samples_for_model(*, kind: str) -> QuerySet[TrainingSample]:
    """The samples a retraining of `kind` learns from (excluded ones left out), oldest first."""
    return TrainingSample.objects.filter(
        kind__in=TRAINING_SAMPLE_SOURCES.get(kind, (kind,)), excluded=False
    ).order_by("id")


def retraining_queue_summary() -> list[dict]:
    """Per model kind: usable and excluded sample counts against the minimum a retraining needs, the
    active version and the latest run."""
    from django.conf import settings

    from recognition.engine.learning.finetune import is_held_out

    summary = []
    for kind, sources in TRAINING_SAMPLE_SOURCES.items():
        usable_ids = list(training_samples_for_model(kind=kind).values_list("id", flat=True))
        held_out = sum(1 for sample_id in usable_ids if is_held_out(sample_id))
        summary.append(
            {
                "kind": kind,
                "usable": len(usable_ids),
                "held_out": held_out,
                "trainable": len(usable_ids) - held_out,
                "excluded": TrainingSample.objects.filter(kind__in=sources, excluded=True).count(),
                "minimum": settings.RETRAIN_MIN_SAMPLES,
                "missing": max(0, settings.RETRAIN_MIN_SAMPLES - len(usable_ids)),
                "active": model_version_active(kind=kind),
                "latest_run": RetrainingRun.objects.filter(kind=kind).first(),
            }
        )
    return summary


def retraining_run_progress(*, run: RetrainingRun) -> dict:
    return {
        "id": run.pk,
        "kind": run.kind,
        "status": run.status,
        "status_display": run.get_status_display(),
        "finished": run.status in RetrainingRun.FINISHED,
        "progress": round(run.progress, 3),
        "message": run.message,
        "error": run.error,
        "new_version": run.new_version.name if run.new_version else None,
        "evaluation": run.evaluation,
    }


def training_sample_gallery(*, kind: str) -> QuerySet[TrainingSample]:
    """Samples a `kind` retraining could use, excluded ones too (so they can be taken back), newest first."""
    return (
        TrainingSample.objects.filter(kind__in=TRAINING_SAMPLE_SOURCES.get(kind, (kind,)))
        .select_related("correction__user")
        .order_by("-id")
    )


def get_or_not_found(queryset: QuerySet, pk: int, message: str):
    """The row with this id, or NotFound (a 404 with `message`) when there is none."""
    try:
        return queryset.get(pk=pk)
    except queryset.model.DoesNotExist as error:
        raise NotFound(message) from error


def training_sample_get(*, sample_id: int) -> TrainingSample:
    return get_or_not_found(TrainingSample.objects.all(), sample_id, "No such training sample.")


def retraining_runs() -> QuerySet[RetrainingRun]:
    return RetrainingRun.objects.select_related("requested_by", "base_version", "new_version")


def retraining_run_get(*, run_id: int) -> RetrainingRun:
    return get_or_not_found(retraining_runs(), run_id, "No such retraining run.")


def model_version_list() -> QuerySet[ModelVersion]:
    return ModelVersion.objects.select_related("parent").order_by("kind", "-created_at", "-id")


def model_version_get(*, version_id: int) -> ModelVersion:
    return get_or_not_found(ModelVersion.objects.all(), version_id, "No such model version.")


def model_change_list() -> QuerySet[ModelChange]:
    return ModelChange.objects.select_related("version", "previous", "user")
