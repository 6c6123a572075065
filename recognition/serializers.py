"""DRF serializers: translate rows to JSON and request bodies to service arguments, nothing more."""

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from recognition import selectors
from recognition.engine.pages.templates import FIELD_KINDS
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
)
from recognition.services.models import MODEL_KINDS, SERVED_KINDS


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
        fields = ["id", "name", "owner", "template", "batch", "status", "created_at", "finished_at"]
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


class DocumentProgressPageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Page.Status.choices)
    error = serializers.CharField(help_text="Why the page failed; empty otherwise.")
    source = serializers.CharField(help_text="The uploaded file the page came from.")


class DocumentProgressSerializer(serializers.Serializer):
    """The live progress of a document (GET /api/documents/{id}/progress/), for polling."""

    document = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Document.Status.choices)
    pages_total = serializers.IntegerField()
    pages_finished = serializers.IntegerField()
    counts = serializers.DictField(child=serializers.IntegerField(), help_text="Pages by status.")
    finished = serializers.BooleanField(help_text="True once every page is done or failed.")
    note = serializers.CharField(help_text="What to know beyond the status; empty when nothing.")
    pages = DocumentProgressPageSerializer(many=True)


class BatchProgressDocumentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=Document.Status.choices)
    pages_total = serializers.IntegerField()
    pages_finished = serializers.IntegerField()
    finished = serializers.BooleanField()
    note = serializers.CharField()


class BatchProgressSerializer(serializers.Serializer):
    """A batch's documents with their page counts, and its totals."""

    batch = serializers.IntegerField()
    template = serializers.CharField()
    documents_total = serializers.IntegerField()
    documents_finished = serializers.IntegerField()
    pages_total = serializers.IntegerField()
    pages_finished = serializers.IntegerField()
    finished = serializers.BooleanField(help_text="True once every document is read (done or failed).")
    note = serializers.CharField(help_text="What to know beyond the status; empty when nothing.")
    documents = BatchProgressDocumentSerializer(many=True)


class BatchSerializer(serializers.ModelSerializer):
    """Files uploaded together: a document per file, and their progress."""

    owner = serializers.CharField(source="owner.get_username", read_only=True)
    template = serializers.SlugRelatedField(slug_field="name", read_only=True)
    progress = serializers.SerializerMethodField()

    class Meta:
        model = UploadBatch
        fields = ["id", "owner", "template", "created_at", "progress"]
        read_only_fields = fields

    @extend_schema_field(BatchProgressSerializer)
    def get_progress(self, batch: UploadBatch) -> dict:
        return selectors.batch_progress(batch=batch)


class DocumentUploadSerializer(serializers.Serializer):
    template = serializers.PrimaryKeyRelatedField(queryset=FormTemplate.objects.all())
    files = serializers.ListField(child=serializers.FileField(), allow_empty=False)


class CharacterSerializer(serializers.Serializer):
    """One character of a field as read (an entry of `chars`)."""

    text = serializers.CharField()
    confidence = serializers.FloatField()
    box = serializers.ListField(
        child=serializers.FloatField(), min_length=4, max_length=4, help_text="[x, y, width, height]"
    )
    alternatives = serializers.ListField(
        child=serializers.ListField(child=serializers.JSONField()),
        required=False,
        help_text="Other readings as [text, probability] pairs, most likely first.",
    )


@extend_schema_field(serializers.ListField(child=serializers.FloatField(), min_length=4, max_length=4))
class BoxField(serializers.JSONField):
    """A box as stored, [x, y, width, height]; declared as such in the schema."""


@extend_schema_field(CharacterSerializer(many=True))
class CharactersField(serializers.JSONField):
    """The characters as the reader stored them (all their keys); the schema declares the known ones."""


class FieldSerializer(serializers.ModelSerializer):
    document = serializers.IntegerField(source="page.document_id", read_only=True)
    page = serializers.IntegerField(source="page.number", read_only=True)
    box = BoxField(read_only=True, help_text="[x, y, width, height] in template pixels.")
    chars = CharactersField(read_only=True, help_text="Per character: text, confidence, box, alternatives.")
    version = serializers.SerializerMethodField(
        help_text="Changes at every review; send it back with a correction to refuse overwriting another's."
    )

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
            "version",
        ]
        read_only_fields = fields

    def get_version(self, field: FieldResult) -> int:
        return selectors.field_version(field)


VERSION_HELP = (
    "The field's `version` as you read it: if someone changed the field since, the change is refused "
    "with 409 and the field as it is now. Leave it out to apply the change whatever happened since."
)


class FieldCorrectSerializer(serializers.Serializer):
    text = serializers.CharField(allow_blank=True, max_length=255, trim_whitespace=False)
    version = serializers.IntegerField(required=False, min_value=0, help_text=VERSION_HELP)


class FieldAcceptSerializer(serializers.Serializer):
    version = serializers.IntegerField(required=False, min_value=0, help_text=VERSION_HELP)


class StaleFieldCurrentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    text = serializers.CharField()
    review_state = serializers.ChoiceField(choices=FieldResult.ReviewState.choices)
    reviewed_by = serializers.CharField(allow_null=True)
    reviewed_at = serializers.DateTimeField(allow_null=True)
    version = serializers.IntegerField()


class StaleFieldSerializer(serializers.Serializer):
    """409: the field changed since the version the change named; `current` is the field now."""

    detail = serializers.CharField()
    code = serializers.CharField()
    current = StaleFieldCurrentSerializer()


class ModelVersionSerializer(serializers.ModelSerializer):
    parent = serializers.SlugRelatedField(slug_field="version", read_only=True, allow_null=True)

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
    previous = serializers.StringRelatedField(allow_null=True)
    user = serializers.StringRelatedField(allow_null=True, help_text="Empty when the promotion gate decided.")

    class Meta:
        model = ModelChange
        fields = ["id", "version", "previous", "action", "user", "reason", "created_at"]
        read_only_fields = fields


class RetrainingRunSerializer(serializers.ModelSerializer):
    base_version = serializers.CharField(source="base_version.name", read_only=True, allow_null=True)
    new_version = serializers.CharField(source="new_version.name", read_only=True, allow_null=True)
    requested_by = serializers.StringRelatedField(allow_null=True)

    class Meta:
        model = RetrainingRun
        fields = [
            "id", "kind", "status", "progress", "message", "requested_by", "base_version", "new_version",
            "samples_trained", "samples_held_out", "evaluation", "error",
            "created_at", "started_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = fields


class RetrainingRequestSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=MODEL_KINDS)


class TrainingSampleImportSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=FIELD_KINDS, help_text="The kind of field the crops are.")
    file = serializers.FileField(help_text="A zip holding labels.tsv (IMAGE<TAB>TEXT lines) and the images.")


class TrainingSampleImportResultSerializer(serializers.Serializer):
    imported = serializers.IntegerField()
    ids = serializers.ListField(child=serializers.IntegerField())


class TrainingSampleSerializer(serializers.ModelSerializer):
    image_url = serializers.SerializerMethodField()

    class Meta:
        model = TrainingSample
        fields = [
            "id", "kind", "field_kind", "label", "predicted_label", "source", "origin", "excluded",
            "image_url", "created_at",
        ]  # fmt: skip
        read_only_fields = [
            "id", "kind", "field_kind", "label", "predicted_label", "source", "origin", "image_url",
            "created_at",
        ]  # fmt: skip

    def get_image_url(self, sample: TrainingSample) -> str:
        return reverse("training-sample-image", args=[sample.pk])
