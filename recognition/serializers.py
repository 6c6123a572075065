"""DRF serializers: translate rows to JSON and request bodies to service arguments, nothing more."""

from django.urls import reverse
from rest_framework import serializers

from recognition import selectors
from recognition.models import (
    Document,
    FieldResult,
    FormTemplate,
    ModelChange,
    ModelVersion,
    Page,
    RetrainingRun,
    TrainingSample,
)
from recognition.services.models import SERVED_KINDS


class TemplateSerializer(serializers.ModelSerializer):
    class Meta:
        model = FormTemplate
        fields = ["id", "name", "kind", "bundled", "definition", "created_at", "updated_at"]
        read_only_fields = fields


class TemplateCreateSerializer(serializers.Serializer):
    definition = serializers.JSONField(help_text="A hwr-form-template/1 document.")
    image = serializers.FileField(help_text="The blank form image (PNG, JPEG or TIFF).")
    kind = serializers.ChoiceField(choices=FormTemplate.Kind.choices, default=FormTemplate.Kind.FORM)


class PageSerializer(serializers.ModelSerializer):
    class Meta:
        model = Page
        fields = [
            "id",
            "number",
            "source_name",
            "status",
            "alignment_score",
            "error",
            "attempts",
            "finished_at",
        ]
        read_only_fields = fields


class DocumentSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.get_username", read_only=True)
    template = serializers.SlugRelatedField(slug_field="name", read_only=True)

    class Meta:
        model = Document
        fields = ["id", "name", "owner", "template", "status", "created_at", "finished_at"]
        read_only_fields = fields


class DocumentDetailSerializer(DocumentSerializer):
    pages = PageSerializer(many=True, read_only=True)
    note = serializers.SerializerMethodField(
        help_text="What to know beyond the status, e.g. pages waiting for the task queue; empty when nothing."
    )

    class Meta(DocumentSerializer.Meta):
        fields = [*DocumentSerializer.Meta.fields, "pages", "note"]
        read_only_fields = fields

    def get_note(self, document: Document) -> str:
        return selectors.document_note(unpublished=selectors.document_unpublished_pages(document=document))


class DocumentUploadSerializer(serializers.Serializer):
    template = serializers.PrimaryKeyRelatedField(queryset=FormTemplate.objects.all())
    files = serializers.ListField(child=serializers.FileField(), allow_empty=False)


class FieldSerializer(serializers.ModelSerializer):
    document = serializers.IntegerField(source="page.document_id", read_only=True)
    page = serializers.IntegerField(source="page.number", read_only=True)

    class Meta:
        model = FieldResult
        fields = [
            "id",
            "document",
            "page",
            "name",
            "kind",
            "box",
            "text",
            "recognized_text",
            "confidence",
            "chars",
            "model_version",
            "review_state",
            "auto_accepted",
            "reviewed_at",
        ]
        read_only_fields = fields


class FieldCorrectSerializer(serializers.Serializer):
    text = serializers.CharField(allow_blank=True, max_length=255, trim_whitespace=False)


class ModelVersionSerializer(serializers.ModelSerializer):
    parent = serializers.SlugRelatedField(slug_field="version", read_only=True)

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "kind",
            "version",
            "metrics",
            "status",
            "parent",
            "decision_reason",
            "created_at",
        ]
        read_only_fields = fields


class ModelPromoteSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class ModelRollbackSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=SERVED_KINDS)
    reason = serializers.CharField(max_length=2000)


class ModelChangeSerializer(serializers.ModelSerializer):
    version = serializers.StringRelatedField()
    previous = serializers.StringRelatedField()
    user = serializers.StringRelatedField()

    class Meta:
        model = ModelChange
        fields = ["id", "version", "previous", "action", "user", "reason", "created_at"]
        read_only_fields = fields


class RetrainingRunSerializer(serializers.ModelSerializer):
    base_version = serializers.CharField(source="base_version.name", read_only=True, allow_null=True)
    new_version = serializers.CharField(source="new_version.name", read_only=True, allow_null=True)
    requested_by = serializers.StringRelatedField()

    class Meta:
        model = RetrainingRun
        fields = [
            "id", "kind", "status", "progress", "message", "requested_by", "base_version", "new_version",
            "samples_trained", "samples_held_out", "evaluation", "error",
            "created_at", "started_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = fields


class RetrainingRequestSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["digits", "letters", "alnum"])


class TrainingSampleSerializer(serializers.ModelSerializer):
    image_url = serializers.SerializerMethodField()

    class Meta:
        model = TrainingSample
        fields = ["id", "kind", "label", "predicted_label", "excluded", "image_url", "created_at"]
        read_only_fields = ["id", "kind", "label", "predicted_label", "image_url", "created_at"]

    def get_image_url(self, sample: TrainingSample) -> str:
        return reverse("training-sample-image", args=[sample.pk])
