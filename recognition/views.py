"""Browser pages: thin views that call selectors and services and render templates."""

from __future__ import annotations

import csv
import io
import json

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.uploadedfile import UploadedFile
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from recognition import selectors
from recognition.engine.pages.templates import FIELD_KINDS
from recognition.exceptions import (
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    StaleVersion,
    domain_errors_stay_on_the_page,
    handle_domain_errors,
)
from recognition.models import FieldResult, FormTemplate, Page
from recognition.permissions import can_upload, is_admin, is_reviewer
from recognition.selectors import confidence_level
from recognition.services.accounts import api_token_get_or_create, api_token_replace
from recognition.services.documents import batch_upload
from recognition.services.images import crop_png, encode_png
from recognition.services.models import check_model_kind, model_promote, model_rollback
from recognition.services.pages import page_decode
from recognition.services.retraining import retraining_request, training_sample_set_excluded
from recognition.services.review import field_accept, field_correct
from recognition.services.samples import samples_import_zip
from recognition.services.templates import check_template_image, template_save


@login_required
def home(request: HttpRequest) -> HttpResponse:
    documents = selectors.document_list_for_user(user=request.user).filter(owner=request.user)[:10]
    return render(
        request,
        "recognition/home.html",
        {"status": selectors.system_status(), "documents": documents},
    )


def health(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers and the run script: database, broker and worker state."""
    status = selectors.system_status()
    return JsonResponse(status, status=200 if status["database"] and status["broker"] else 503)


@login_required
@require_http_methods(["GET", "POST"])
def api_token(request: HttpRequest) -> HttpResponse:
    """Your API token: shown, made on request, or replaced (the old one stops working)."""
    from rest_framework.authtoken.models import Token

    if request.method == "POST":
        if request.POST.get("action") == "replace":
            api_token_replace(user=request.user)
            messages.info(request, "Your API token was replaced; the old one no longer works.")
        else:
            api_token_get_or_create(user=request.user)
        return redirect("api-token")
    token = Token.objects.filter(user=request.user).first()
    context = {"token": token, "api_root": request.build_absolute_uri("/api/")}
    return render(request, "recognition/api_token.html", context)


# --- documents --------------------------------------------------------------------------------


@login_required
@require_GET
def document_list(request: HttpRequest) -> HttpResponse:
    documents = selectors.document_list_for_user(user=request.user)[:200]
    return render(request, "recognition/document_list.html", {"documents": documents})


@login_required
@require_http_methods(["GET", "POST"])
@handle_domain_errors
def upload(request: HttpRequest) -> HttpResponse:
    if not can_upload(request.user):
        raise Forbidden("Your account may not upload documents; ask an admin to add you to the uploaders.")
    templates = selectors.template_list()
    context = {"templates": templates, "selected": request.POST.get("template", "")}
    if request.method == "POST":
        try:
            template = selectors.template_get(template_id=_int(request.POST.get("template"), "template"))
            batch = batch_upload(owner=request.user, template=template, files=request.FILES.getlist("files"))
        except (InvalidInput, NotFound) as error:
            context["error"] = error.message
            return render(request, "recognition/upload.html", context, status=400)
        documents = list(batch.documents.order_by("pk"))
        if len(documents) == 1:
            return redirect("document-detail", document_id=documents[0].pk)
        return redirect("batch-detail", batch_id=batch.pk)
    if not context["selected"] and templates:
        check = next((template for template in templates if template.kind == FormTemplate.Kind.CHECK), None)
        context["selected"] = str((check or templates[0]).pk)
    return render(request, "recognition/upload.html", context)


@login_required
@require_GET
@handle_domain_errors
def document_detail(request: HttpRequest, document_id: int) -> HttpResponse:
    from recognition.engine.pages.align import MIN_SCORE

    document = selectors.document_get_for_user(user=request.user, document_id=document_id)
    pages = list(document.pages.order_by("number").prefetch_related("fields"))
    width, height = document.template.definition.get("size", [0, 0])
    context = {
        "document": document,
        "pages": [
            {
                "page": page,
                "fields": [_field_view(field) for field in page.fields.all()],
                "cheque": selectors.cheque_amounts(page=page),
            }
            for page in pages
        ],
        "progress": selectors.document_progress(document=document),
        "template_width": width,
        "template_height": height,
        "min_alignment_score": MIN_SCORE,
    }
    return render(request, "recognition/document_detail.html", context)


def _field_view(field: FieldResult) -> dict:
    """A field with its confidence level and each character's text, confidence, level and box."""
    chars = []
    for char in field.chars or []:
        confidence = float(char.get("confidence", 0.0))
        box = char.get("box")
        chars.append(
            {
                "text": char.get("text", ""),
                "confidence": confidence,
                "level": confidence_level(confidence),
                "box": box if isinstance(box, list | tuple) and len(box) == 4 else None,
            }
        )
    return {
        "field": field,
        "level": confidence_level(field.confidence),
        "chars": chars,
        "warnings": selectors.field_warnings(field),
    }


@login_required
@require_GET
@handle_domain_errors
def batch_detail(request: HttpRequest, batch_id: int) -> HttpResponse:
    """The documents of one upload (a document per file) with their live progress."""
    batch = selectors.batch_get_for_user(user=request.user, batch_id=batch_id)
    context = {"batch": batch, "progress": selectors.batch_progress(batch=batch)}
    return render(request, "recognition/batch_detail.html", context)


@login_required
@require_GET
@handle_domain_errors
def batch_progress(request: HttpRequest, batch_id: int) -> JsonResponse:
    batch = selectors.batch_get_for_user(user=request.user, batch_id=batch_id)
    return JsonResponse(selectors.batch_progress(batch=batch))


@login_required
@require_GET
@handle_domain_errors
def document_progress(request: HttpRequest, document_id: int) -> JsonResponse:
    document = selectors.document_get_for_user(user=request.user, document_id=document_id)
    return JsonResponse(selectors.document_progress(document=document))


@login_required
@require_GET
@handle_domain_errors
def document_export(request: HttpRequest, document_id: int, export_format: str) -> HttpResponse:
    _check_export_format(export_format)
    document = selectors.document_get_for_user(user=request.user, document_id=document_id)
    if export_format == "json":
        return _json_download(selectors.document_results(document=document), f"document-{document.pk}.json")
    if export_format == BY_DOCUMENT_CSV:
        columns, rows = selectors.export_document_table(documents=[document])
        return _csv_download(rows, f"document-{document.pk}-by-document.csv", columns=columns)
    return _csv_download(selectors.export_rows(documents=[document]), f"document-{document.pk}.csv")


@login_required
@require_GET
@handle_domain_errors
def template_results_export(request: HttpRequest, template_id: int, export_format: str) -> HttpResponse:
    """All documents of a template that the user may see, as CSV or JSON."""
    _check_export_format(export_format)
    template = selectors.template_get(template_id=template_id)
    documents = selectors.document_list_for_user(user=request.user).filter(template=template).order_by("pk")
    filename = f"{template.name}-results.{export_format}"
    if export_format == "json":
        payload = {
            "template": template.name,
            "documents": [selectors.document_results(document=document) for document in documents],
        }
        return _json_download(payload, filename)
    if export_format == BY_DOCUMENT_CSV:
        columns, rows = selectors.export_document_table(documents=documents)
        return _csv_download(rows, filename, columns=columns)
    return _csv_download(selectors.export_rows(documents=documents), filename)


# Exports: CSV with a row per field, CSV with a row per document (a column per field), or JSON.
BY_DOCUMENT_CSV = "by-document.csv"
EXPORT_FORMATS = ("csv", BY_DOCUMENT_CSV, "json")


def _check_export_format(export_format: str) -> None:
    if export_format not in EXPORT_FORMATS:
        raise NotFound("Exports are CSV (by field or by document) or JSON.")


def _json_download(payload: dict, filename: str) -> HttpResponse:
    response = HttpResponse(json.dumps(payload, indent=2), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _csv_download(rows, filename: str, *, columns: list[str] | None = None) -> HttpResponse:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns or selectors.EXPORT_COLUMNS, restval="")
    writer.writeheader()
    for row in rows:
        # A cell starting with = + - @ would run as a formula in a spreadsheet.
        writer.writerow({key: _csv_safe(value) for key, value in row.items()})
    response = HttpResponse(buffer.getvalue(), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _csv_safe(value):
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


@login_required
@require_GET
@handle_domain_errors
def page_image(request: HttpRequest, page_id: int) -> HttpResponse:
    page = Page.objects.select_related("document").filter(pk=page_id).first()
    if page is None:
        raise NotFound("No such page.")
    selectors.document_get_for_user(user=request.user, document_id=page.document_id)
    if page.image:
        return FileResponse(page.image.open("rb"), content_type="image/png")
    try:
        # One page decoded alone (within the upload's pixel cap), not the whole file.
        png = encode_png(page_decode(page))
    except ValueError as error:
        raise NotFound(f"This page cannot be shown: {error}.") from error
    response = HttpResponse(png, content_type="image/png")
    response["Cache-Control"] = "private, max-age=3600"
    return response


@login_required
@require_GET
@handle_domain_errors
def page_aligned_image(request: HttpRequest, page_id: int) -> HttpResponse:
    """The page warped into template pixels, on which the field boxes are drawn."""
    page = Page.objects.select_related("document").filter(pk=page_id).first()
    if page is None:
        raise NotFound("No such page.")
    selectors.document_get_for_user(user=request.user, document_id=page.document_id)
    if not page.aligned_image:
        raise NotFound("This page has no aligned image.")
    return FileResponse(page.aligned_image.open("rb"), content_type="image/png")


@login_required
@require_GET
@handle_domain_errors
def field_crop(request: HttpRequest, field_id: int) -> HttpResponse:
    """The field's area of the aligned page (with a little margin), as PNG."""
    field = selectors.field_get_for_user(user=request.user, field_id=field_id)
    if not field.page.aligned_image:
        raise NotFound("This page has no aligned image.")
    png = crop_png(field.page.aligned_image.path, field.box, margin=12)
    response = HttpResponse(png, content_type="image/png")
    response["Cache-Control"] = "private, max-age=3600"
    return response


# --- review -----------------------------------------------------------------------------------


@login_required
@require_GET
@handle_domain_errors
def review_queue(request: HttpRequest) -> HttpResponse:
    _require_reviewer(request.user)
    queue = selectors.review_queue(user=request.user)
    context = {
        "fields": queue[:200],
        "total": queue.count(),
        "auto": selectors.auto_accept_error_rate(user=request.user),
        "threshold": settings.REVIEW_AUTO_ACCEPT_THRESHOLD,
    }
    return render(request, "recognition/review_queue.html", context)


def _require_reviewer(user) -> None:
    # Corrections become training labels: only reviewers and admins review, never the uploader.
    if not is_reviewer(user):
        raise Forbidden("Only reviewers review and correct fields; ask an admin to add you to the reviewers.")


@login_required
@require_GET
@handle_domain_errors
def review_next(request: HttpRequest) -> HttpResponse:
    _require_reviewer(request.user)
    field = selectors.review_next(user=request.user)
    if field is None:
        messages.info(request, "Nothing left to review.")
        return redirect("review-queue")
    return redirect("review-field", field_id=field.pk)


@login_required
@require_http_methods(["GET", "POST"])
@handle_domain_errors
def review_field(request: HttpRequest, field_id: int) -> HttpResponse:
    """The keyboard-first review screen: Enter saves the typed text; accept, skip and back are buttons
    with their own keys (Ctrl+Enter, Page Down, Page Up), so Tab only moves the focus."""
    _require_reviewer(request.user)
    field = selectors.field_get_for_user(user=request.user, field_id=field_id)
    if request.method == "POST":
        # The screen always names the version it showed, so two reviewers never overwrite each other.
        version = _int(request.POST.get("version"), "version") if request.POST.get("version") else None
        try:
            if request.POST.get("action") == "accept":
                field_accept(field_id=field.pk, user=request.user, version=version)
            else:
                field_correct(
                    field_id=field.pk, user=request.user, text=request.POST.get("text", ""), version=version
                )
        except StaleVersion as error:
            # Show the field as it is now (its new version too), with what the person typed kept.
            field.refresh_from_db()
            return _render_review(
                request, field, error=error.message, status=error.http_status, typed=request.POST.get("text")
            )
        except DomainError as error:
            return _render_review(request, field, error=error.message, status=error.http_status)
        following = selectors.review_next(user=request.user, after=field)
        if following is None:
            messages.info(request, "Nothing left to review.")
            return redirect("document-detail", document_id=field.page.document_id)
        return redirect("review-field", field_id=following.pk)
    return _render_review(request, field)


def _render_review(
    request: HttpRequest, field: FieldResult, *, error: str = "", status: int = 200, typed: str | None = None
) -> HttpResponse:
    chars = []
    for char in field.chars or []:
        confidence = float(char.get("confidence", 0.0))
        level = confidence_level(confidence)
        alternatives = ", ".join(
            f"{label} {probability:.0%}" for label, probability in char.get("alternatives", [])
        )
        chars.append(
            {
                "text": char.get("text", ""),
                "confidence": confidence,
                "level": level,
                "alternatives": alternatives,
            }
        )
    following = selectors.review_next(user=request.user, after=field)
    context = {
        "field": field,
        "document": field.page.document,
        "chars": chars,
        "error": error,
        "remaining": selectors.review_queue(user=request.user).count(),
        "skip_to": following,
        "version": selectors.field_version(field),
        "text": field.text if typed is None else typed,
        "back_to": _review_trail_previous(request, field),
        "warnings": selectors.field_warnings(field),
        # A cheque's amount in figures and in words side by side, whichever of its fields is reviewed.
        "cheque": selectors.cheque_amounts(page=field.page),
    }
    return render(request, "recognition/review_field.html", context, status=status)


REVIEW_TRAIL_LENGTH = 50


def _review_trail_previous(request: HttpRequest, field: FieldResult) -> int | None:
    """Record the field in this session's review trail; the field opened before it (for Back), if any.

    Opened through Back (?back=1), the trail is cut back to the field instead, so Back again goes
    further back rather than forth.
    """
    trail = [pk for pk in request.session.get("review_trail", []) if isinstance(pk, int)]
    if request.GET.get("back") and field.pk in trail:
        trail = trail[: trail.index(field.pk) + 1]
    elif not trail or trail[-1] != field.pk:
        trail = [*trail, field.pk][-REVIEW_TRAIL_LENGTH:]
    request.session["review_trail"] = trail
    return trail[-2] if len(trail) >= 2 else None


# --- templates --------------------------------------------------------------------------------


@login_required
@require_GET
def template_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "recognition/template_list.html",
        {"templates": selectors.template_list(), "can_manage": is_admin(request.user)},
    )


@login_required
@require_http_methods(["GET", "POST"])
@handle_domain_errors
def template_create(request: HttpRequest) -> HttpResponse:
    """Upload a blank form (and optionally import a format-1 JSON), then draw its fields in the editor."""
    if not is_admin(request.user):
        raise Forbidden("Only admins manage templates.")
    if request.method == "POST":
        try:
            image: UploadedFile | None = request.FILES.get("image")
            if image is None:
                raise InvalidInput("Choose the blank form image.")
            if image.size > settings.UPLOAD_MAX_FILE_BYTES:
                raise InvalidInput("The image is too large.")
            image_data = image.read()
            imported = request.FILES.get("definition")
            if imported is not None:
                definition = imported.read(1_000_000)
            else:
                width, height = check_template_image(data=image_data)
                # A new template starts with no field: the admin draws them in the editor.
                definition = {
                    "format": "hwr-form-template/1",
                    "name": request.POST.get("name", ""),
                    "image": "blank.png",
                    "size": [width, height],
                    "fields": [],
                }
            template = template_save(
                definition=definition,
                image_data=image_data,
                kind=request.POST.get("kind", FormTemplate.Kind.FORM),
            )
        except InvalidInput as error:
            return render(request, "recognition/template_create.html", {"error": error.message}, status=400)
        return redirect("template-edit", template_id=template.pk)
    return render(request, "recognition/template_create.html", {})


@login_required
@require_http_methods(["GET", "POST"])
@handle_domain_errors
def template_edit(request: HttpRequest, template_id: int) -> HttpResponse:
    """The canvas editor; it POSTs the whole format-1 JSON back."""
    template = selectors.template_get(template_id=template_id)
    if not is_admin(request.user):
        raise Forbidden("Only admins manage templates.")
    if request.method == "POST":
        try:
            template = template_save(
                definition=request.POST.get("definition", ""), template=template, kind=template.kind
            )
        except InvalidInput as error:
            return JsonResponse({"detail": error.message}, status=400)
        return JsonResponse({"ok": True, "definition": template.definition})
    from recognition.engine.pages.templates import FIELD_KINDS as kinds

    return render(
        request, "recognition/template_edit.html", {"template": template, "field_kinds": list(kinds)}
    )


@login_required
@require_GET
@handle_domain_errors
def template_image(request: HttpRequest, template_id: int) -> HttpResponse:
    template = selectors.template_get(template_id=template_id)
    return FileResponse(template.image.open("rb"), content_type="image/png")


@login_required
@require_GET
@handle_domain_errors
def template_export(request: HttpRequest, template_id: int) -> HttpResponse:
    template = selectors.template_get(template_id=template_id)
    return _json_download(selectors.template_export(template=template), f"{template.name}.json")


def _int(value, what: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as error:
        raise InvalidInput(f"Choose a {what}.") from error


# --- learning loop: retraining queue and model versions -------------------------------------------


def _require_admin(user) -> None:
    if not is_admin(user):
        raise Forbidden("Only admins manage retraining and model versions.")


@login_required
@require_http_methods(["GET", "POST"])
@handle_domain_errors
@domain_errors_stay_on_the_page
def retraining(request: HttpRequest) -> HttpResponse:
    """The retraining queue: samples per model kind, a gallery, exclusion, and the retrain button."""
    _require_admin(request.user)
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "retrain":
            run = retraining_request(kind=request.POST.get("kind", ""), user=request.user)
            messages.info(request, f"Retraining of {run.kind} queued.")
        elif action == "import":
            return _retraining_import(request)
        elif action in ("exclude", "include"):
            training_sample_set_excluded(
                sample_id=_int(request.POST.get("sample"), "sample"), excluded=action == "exclude"
            )
        else:
            raise InvalidInput("Unknown action.")
        return redirect(f"{request.path}?kind={request.POST.get('kind', '')}")
    kind = request.GET.get("kind") or "digits"
    check_model_kind(kind=kind)
    context = {
        "summary": selectors.retraining_queue_summary(),
        "kind": kind,
        "samples": selectors.training_sample_gallery(kind=kind)[:300],
        "field_kinds": FIELD_KINDS,
        "runs": selectors.retraining_runs()[:20],
    }
    return render(request, "recognition/retraining.html", context)


def _retraining_import(request: HttpRequest) -> HttpResponse:
    """Keyed fields from a zip (labels.tsv and its images) become whole-field samples, all or none."""
    upload = request.FILES.get("file")
    if upload is None:
        raise InvalidInput("Choose a zip file holding labels.tsv and its images.")
    field_kind = request.POST.get("field_kind", "")
    samples = samples_import_zip(archive=upload, kind=field_kind, user=request.user, name=upload.name)
    messages.info(request, f"Imported {len(samples)} {field_kind} field samples for the sequence reader.")
    return redirect(f"{request.path}?kind=sequence")


@login_required
@require_GET
@handle_domain_errors
def retraining_progress(request: HttpRequest, run_id: int) -> JsonResponse:
    _require_admin(request.user)
    return JsonResponse(selectors.retraining_run_progress(run=selectors.retraining_run_get(run_id=run_id)))


@login_required
@require_GET
@handle_domain_errors
def training_sample_image(request: HttpRequest, sample_id: int) -> HttpResponse:
    _require_admin(request.user)
    sample = selectors.training_sample_get(sample_id=sample_id)
    return FileResponse(sample.image.open("rb"), content_type="image/png")


@login_required
@require_http_methods(["GET", "POST"])
@handle_domain_errors
def model_versions(request: HttpRequest) -> HttpResponse:
    """Every model version with its metrics and verdict; promote or roll back by hand, with a reason."""
    _require_admin(request.user)
    if request.method == "POST":
        reason = request.POST.get("reason", "")
        if request.POST.get("action") == "rollback":
            version = model_rollback(kind=request.POST.get("kind", ""), user=request.user, reason=reason)
        else:
            version = model_promote(
                version_id=_int(request.POST.get("version"), "version"), user=request.user, reason=reason
            )
        messages.info(request, f"{version.kind}@{version.version} is now active.")
        return redirect("model-versions")
    context = {"versions": selectors.model_version_list(), "changes": selectors.model_change_list()[:50]}
    return render(request, "recognition/model_versions.html", context)


PLOT_NAMES = ("curves", "confusion", "errors")


@login_required
@require_GET
@handle_domain_errors
def model_version_plot(request: HttpRequest, version_id: int, plot: str) -> HttpResponse:
    _require_admin(request.user)
    if plot not in PLOT_NAMES:
        raise NotFound("No such plot.")
    path = selectors.model_version_get(version_id=version_id).directory / f"{plot}.png"
    if not path.is_file():
        raise NotFound("This version has no such plot.")
    return FileResponse(path.open("rb"), content_type="image/png")
