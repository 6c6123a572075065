"""Django admin for every model of the recognition app."""

from django.contrib import admin, messages
from django.http import HttpRequest

from recognition.exceptions import DomainError
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
from recognition.services.models import model_promote
from recognition.services.retraining import retraining_request


@admin.register(FormTemplate)
class FormTemplateAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "bundled", "updated_at"]
    list_filter = ["kind", "bundled"]
    search_fields = ["name"]


class PageInline(admin.TabularInline):
    model = Page
    extra = 0
    fields = ["number", "source_name", "status", "alignment_score", "attempts", "error"]
    readonly_fields = fields
    show_change_link = True


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "owner", "template", "status", "created_at"]
    list_filter = ["status", "template"]
    search_fields = ["name", "owner__username"]
    inlines = [PageInline]


@admin.register(Page)
class PageAdmin(admin.ModelAdmin):
    list_display = ["id", "document", "number", "status", "alignment_score", "attempts"]
    list_filter = ["status"]


@admin.register(FieldResult)
class FieldResultAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "text", "recognized_text", "confidence", "review_state", "model_version"]
    list_filter = ["review_state", "kind"]
    search_fields = ["name", "text"]


@admin.register(Correction)
class CorrectionAdmin(admin.ModelAdmin):
    list_display = ["id", "field", "user", "old_text", "new_text", "created_at"]


@admin.register(TrainingSample)
class TrainingSampleAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "label", "predicted_label", "excluded", "created_at"]
    list_filter = ["kind", "excluded"]
    list_editable = ["excluded"]


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["kind", "version", "status", "parent", "created_at"]
    list_filter = ["kind", "status"]
    # Which version is active changes only through the services, so every
    # change is logged with who and why: use the actions, not the form.
    readonly_fields = [
        "kind",
        "version",
        "path",
        "status",
        "parent",
        "decision_reason",
        "metrics",
        "created_at",
    ]
    actions = ["promote_selected", "retrain_from_corrections"]

    @admin.action(description="Make the selected version active (logged)")
    def promote_selected(self, request: HttpRequest, queryset) -> None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to promote.", messages.ERROR)
            return
        try:
            version = model_promote(
                version_id=queryset.get().pk,
                user=request.user,
                reason="Promoted by hand in the Django admin.",
            )
        except DomainError as error:
            self.message_user(request, error.message, messages.ERROR)
            return
        self.message_user(request, f"{version.name} is now active.")

    @admin.action(description="Retrain the selected versions' kinds from the corrections")
    def retrain_from_corrections(self, request: HttpRequest, queryset) -> None:
        for kind in sorted(set(queryset.values_list("kind", flat=True))):
            try:
                run = retraining_request(kind=kind, user=request.user)
            except DomainError as error:
                self.message_user(request, f"{kind}: {error.message}", messages.ERROR)
                continue
            self.message_user(request, f"Retraining of {kind} queued (run {run.pk}).")


@admin.register(RetrainingRun)
class RetrainingRunAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "status", "progress", "base_version", "new_version", "created_at"]
    list_filter = ["kind", "status"]
    readonly_fields = [field.name for field in RetrainingRun._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(ModelChange)
class ModelChangeAdmin(admin.ModelAdmin):
    list_display = ["created_at", "version", "action", "previous", "user", "reason"]
    list_filter = ["action"]
    readonly_fields = [field.name for field in ModelChange._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(WorkerProbe)
class WorkerProbeAdmin(admin.ModelAdmin):
    list_display = ["id", "created_at", "answered_at", "worker_hostname"]
