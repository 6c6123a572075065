"""Django admin for every model of the recognition app."""

from django.contrib import admin

from recognition.models import (
    Correction,
    Document,
    FieldResult,
    FormTemplate,
    ModelVersion,
    Page,
    TrainingSample,
    WorkerProbe,
)


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
    list_display = ["kind", "version", "status", "created_at"]
    list_filter = ["kind", "status"]


@admin.register(WorkerProbe)
class WorkerProbeAdmin(admin.ModelAdmin):
    list_display = ["id", "created_at", "answered_at", "worker_hostname"]
