"""Database models of the recognition app: templates, documents, pages, field results, corrections."""

from pathlib import Path

from django.conf import settings
from django.db import models


class WorkerProbe(models.Model):
    """A round trip through the broker to a worker, for the health page.

    The web process creates the row and enqueues a task; a worker stamps it.
    A probe that stays unanswered says no worker is consuming the queue.
    """

    created_at = models.DateTimeField(auto_now_add=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    worker_hostname = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        state = f"answered by {self.worker_hostname}" if self.answered_at else "waiting"
        return f"Worker probe {self.pk} ({state})"


class FormTemplate(models.Model):
    """A printed form (or the bank check): its format-1 JSON and the blank reference image."""

    class Kind(models.TextChoices):
        FORM = "form", "Form"
        CHECK = "check", "Bank check"

    name = models.SlugField(max_length=100, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.FORM)
    # The template document of format hwr-form-template/1; its "image" key is
    # rewritten to the stored blank image's name.
    definition = models.JSONField()
    image = models.ImageField(upload_to="templates/")
    bundled = models.BooleanField(
        default=False, help_text="Loaded from recognition/forms_data by seed_templates."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def fields(self) -> list[dict]:
        return list(self.definition.get("fields", []))


class UploadBatch(models.Model):
    """Files uploaded together: one document per file (a cheque each), followed as one batch."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="batches")
    template = models.ForeignKey(FormTemplate, on_delete=models.PROTECT, related_name="batches")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Batch {self.pk} of {self.owner}"


class Document(models.Model):
    """One uploaded file (every page of it), read against one template; files sent together share a batch."""

    class Status(models.TextChoices):
        PROCESSING = "processing", "Processing"
        DONE = "done", "Done"
        PARTIAL = "partial", "Done, some pages failed"
        FAILED = "failed", "Failed"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="documents")
    template = models.ForeignKey(FormTemplate, on_delete=models.PROTECT, related_name="documents")
    batch = models.ForeignKey(
        UploadBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="documents"
    )
    name = models.CharField(max_length=255)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PROCESSING)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_status_display()})"


class Page(models.Model):
    """One page image of a document and the state of its recognition.

    The status machine is queued -> processing -> done | failed; a page in
    processing may be taken again (its worker died), a finished page never.
    Pages are published to the broker after the upload commits; the sweep
    publishes again those the broker never got or a dead worker left.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        PROCESSING = "processing", "Processing"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    FINISHED = (Status.DONE, Status.FAILED)

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="pages")
    number = models.PositiveIntegerField(help_text="1-based position in the document.")
    source_name = models.CharField(max_length=255, help_text="The uploaded file this page came from.")
    # The uploaded file, stored once as it came, and which of its pages this is: the worker decodes
    # only this page. (Pages stored by older versions have a decoded `image` instead.)
    source_file = models.FileField(upload_to="sources/", blank=True)
    source_page = models.PositiveIntegerField(default=1, help_text="1-based page of the source file.")
    image = models.ImageField(upload_to="pages/", blank=True)
    # The page warped into template coordinates: field and character crops come from it.
    aligned_image = models.ImageField(upload_to="aligned/", blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    alignment_score = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    result = models.JSONField(null=True, blank=True, help_text="The hwr-form-result/1 document as read.")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # When its task last reached the broker: empty while the broker was down, so the sweep
    # (recognition.services.pages.pages_sweep) knows which queued pages no worker will ever hear of.
    published_at = models.DateTimeField(null=True, blank=True)
    # Stamped every few seconds by the worker reading the page: a page in processing whose
    # heartbeat stopped lost its worker and is published again.
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["document_id", "number"]
        constraints = [models.UniqueConstraint(fields=["document", "number"], name="unique_page_number")]

    def __str__(self) -> str:
        return f"{self.document.name} page {self.number}"


class FieldResult(models.Model):
    """What was read in one field of one page, and where its review stands."""

    class ReviewState(models.TextChoices):
        PENDING = "pending", "Needs review"
        AUTO_ACCEPTED = "auto_accepted", "Auto-accepted"
        ACCEPTED = "accepted", "Accepted as read"
        CORRECTED = "corrected", "Corrected"

    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="fields")
    position = models.PositiveIntegerField(help_text="Order of the field in its template.")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20)
    box = models.JSONField(help_text="[x, y, width, height] in template coordinates.")
    recognized_text = models.CharField(max_length=255, blank=True)
    text = models.CharField(max_length=255, blank=True, help_text="The current text: as read, or corrected.")
    confidence = models.FloatField()
    chars = models.JSONField(default=list, help_text="Per character: text, confidence, box, alternatives.")
    model_version = models.CharField(max_length=100, blank=True)
    review_state = models.CharField(max_length=16, choices=ReviewState.choices, default=ReviewState.PENDING)
    # Kept when a person later corrects the field, so the auto-accepted fields' error rate can be measured.
    auto_accepted = models.BooleanField(default=False)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["page_id", "position"]
        indexes = [models.Index(fields=["review_state", "confidence"], name="review_queue_index")]

    def __str__(self) -> str:
        return f"{self.name} = {self.text!r} ({self.confidence:.2f})"


class Correction(models.Model):
    """A person's correction of one field: who, when, what it said before and after."""

    field = models.ForeignKey(FieldResult, on_delete=models.CASCADE, related_name="corrections")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    old_text = models.CharField(max_length=255, blank=True)
    new_text = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.old_text!r} -> {self.new_text!r}"


class TrainingSample(models.Model):
    """A labelled crop for retraining: one character (kind digits, letters or alnum), or a whole free
    field and its text (kind sequence: the sequence reader learns from those), from a correction or an
    import of keyed fields."""

    class Source(models.TextChoices):
        CORRECTION = "correction", "Correction"
        IMPORT = "import", "Import"

    kind = models.CharField(max_length=20, help_text="Model kind: digits, letters, alnum or sequence.")
    label = models.CharField(max_length=255, help_text="The character, or a whole field's text.")
    image = models.ImageField(upload_to="samples/")
    correction = models.ForeignKey(
        Correction, null=True, blank=True, on_delete=models.SET_NULL, related_name="training_samples"
    )
    predicted_label = models.CharField(max_length=255, blank=True)
    excluded = models.BooleanField(default=False, help_text="Left out of training (e.g. a wrong label).")
    created_at = models.DateTimeField(auto_now_add=True)
    # A whole-field sample's field kind (letters, amount, text...): what it is read and judged as.
    field_kind = models.CharField(max_length=20, blank=True)
    source = models.CharField(max_length=12, choices=Source.choices, default=Source.CORRECTION)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="Who corrected the field, or whom an import is attributed to.",
    )  # fmt: skip
    origin = models.CharField(max_length=500, blank=True, help_text="An imported sample's file and line.")

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} sample {self.label!r}"


class ModelVersion(models.Model):
    """A trained character classifier on disk (MODEL_DIR/<kind>/<version>/) and its standing."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        CANDIDATE = "candidate", "Candidate"
        REJECTED = "rejected", "Rejected"

    kind = models.CharField(max_length=20)
    version = models.CharField(max_length=40)
    path = models.CharField(max_length=500)
    metrics = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.CANDIDATE)
    created_at = models.DateTimeField(auto_now_add=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children",
        help_text="The version this one was fine-tuned from.",
    )  # fmt: skip
    # The promotion gate's verdict for a retrained version (why it was or was not made active).
    decision_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["kind", "-created_at"]
        constraints = [models.UniqueConstraint(fields=["kind", "version"], name="unique_model_version")]

    def __str__(self) -> str:
        return f"{self.kind}@{self.version} ({self.status})"

    @property
    def name(self) -> str:
        return f"{self.kind}@{self.version}"

    @property
    def directory(self) -> Path:
        return Path(self.path)

    @property
    def base_accuracy(self) -> float | None:
        """Validation accuracy on the base data, from the card's metrics."""
        validation = (self.metrics or {}).get("validation") or {}
        return validation.get("accuracy")


class RetrainingRun(models.Model):
    """One retraining of a model kind from the corrections, with its live progress and outcome.

    queued -> running -> promoted | rejected | failed. A running run may be
    taken again (its worker died); a finished one never.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        PROMOTED = "promoted", "Promoted"
        REJECTED = "rejected", "Kept, not promoted"
        FAILED = "failed", "Failed"

    FINISHED = (Status.PROMOTED, Status.REJECTED, Status.FAILED)

    kind = models.CharField(max_length=20)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    base_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="retrainings_from"
    )
    new_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="retrainings_to"
    )
    progress = models.FloatField(default=0.0, help_text="0 to 1.")
    message = models.CharField(max_length=255, blank=True)
    samples_trained = models.PositiveIntegerField(default=0)
    samples_held_out = models.PositiveIntegerField(default=0)
    evaluation = models.JSONField(default=dict, blank=True, help_text="Champion and challenger metrics.")
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Retraining {self.kind} #{self.pk} ({self.get_status_display()})"


class ModelChange(models.Model):
    """The audit log of which model version is active: who changed it, when and why."""

    class Action(models.TextChoices):
        PROMOTED = "promoted", "Promoted"
        ROLLED_BACK = "rolled_back", "Rolled back"
        REJECTED = "rejected", "Rejected by the gate"

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="changes")
    previous = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The version that was active before.",
    )  # fmt: skip
    action = models.CharField(max_length=12, choices=Action.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="Empty when the promotion gate decided.",
    )  # fmt: skip
    reason = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.version} {self.get_action_display().lower()}"
