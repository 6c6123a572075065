"""DRF serializers: translate rows to JSON and request bodies to service arguments, nothing more."""

from rest_framework import serializers

from recognition.models import Document, FieldResult, FormTemplate, ModelVersion, Page


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

    class Meta(DocumentSerializer.Meta):
        fields = [*DocumentSerializer.Meta.fields, "pages"]
        read_only_fields = fields


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
    class Meta:
        model = ModelVersion
        fields = ["id", "kind", "version", "path", "metrics", "status", "created_at"]
        read_only_fields = fields
