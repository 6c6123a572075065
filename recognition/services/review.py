"""Review: a person accepts a field as read or corrects it (the correction becomes training samples)."""

from __future__ import annotations

import difflib
import uuid
from collections.abc import Sequence

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from recognition import selectors
from recognition.exceptions import Conflict, InvalidInput, StaleVersion
from recognition.models import Correction, FieldResult, Page, TrainingSample
from recognition.services.images import crop_png
from recognition.services.samples import field_sample_from_correction

# Characters a person may type into a field of each kind; amounts keep their separator, and names their
# spaces, hyphens, apostrophes and dots (JEAN-PIERRE, O'NEIL, P. KUMAR). Text fields take any text.
CORRECTION_ALPHABETS = {
    "digits": set("0123456789"),
    "date": set("0123456789"),
    "letters": set("ABCDEFGHIJKLMNOPQRSTUVWXYZ -'."),
    "alnum": set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
    "amount": set("0123456789.,"),
}
# Marks no character model reads: they never become character samples.
UNCLASSIFIED_MARKS = set(" -'.,")
# Which classifier a character of each field kind trains (as in recognition.engine.pages.templates).
SAMPLE_KINDS = {
    "digits": "digits",
    "date": "digits",
    "amount": "digits",
    "letters": "letters",
    "alnum": "alnum",
}


def check_correction_text(*, kind: str, text: str) -> str:
    """Normalize a typed correction (trimmed, upper case but in text fields) and check it fits the kind."""
    text = text.strip() if kind == "text" else text.strip().upper()
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


def check_field_version(*, field: FieldResult, version: int | None) -> None:
    """Refuse a change made on a version of the field someone has changed since; None skips the check."""
    if version is None or version == selectors.field_version(field):
        return
    reviewer = field.reviewed_by.get_username() if field.reviewed_by else "someone"
    when = timezone.localtime(field.reviewed_at).strftime("%Y-%m-%d %H:%M:%S") if field.reviewed_at else ""
    raise StaleVersion(
        f"{reviewer} changed this field at {when} while you were looking: it now reads "
        f"{field.text!r} ({field.get_review_state_display().lower()}). Check it and save again if "
        "yours is still right.",
        current={
            "id": field.pk,
            "text": field.text,
            "review_state": field.review_state,
            "reviewed_by": reviewer if field.reviewed_by else None,
            "reviewed_at": field.reviewed_at.isoformat() if field.reviewed_at else None,
            "version": selectors.field_version(field),
        },
    )


def field_correct(*, field_id: int, user, text: str, version: int | None = None) -> FieldResult:
    """Correct a field: in one transaction, the new text, a Correction and a sample per changed character.

    With `version` (what the person saw), a field changed since is refused with StaleVersion.
    """
    with transaction.atomic():
        field = FieldResult.objects.select_for_update().select_related("page").get(pk=field_id)
        check_field_version(field=field, version=version)
        new_text = check_correction_text(kind=field.kind, text=text)
        if field.page.status != Page.Status.DONE:
            raise Conflict("This page is not read yet.")
        if new_text == field.text:
            return _field_mark_reviewed(field, user, FieldResult.ReviewState.ACCEPTED)
        correction = Correction.objects.create(field=field, user=user, old_text=field.text, new_text=new_text)
        # A later correction of the same field is the truth; samples from earlier ones are set aside.
        TrainingSample.objects.filter(correction__field=field).update(excluded=True)
        # A free field becomes one whole-field sample (the sequence reader's); its characters become
        # samples too only where the page was read character by character.
        whole = field_sample_from_correction(field=field, correction=correction, text=new_text)
        chars = [] if whole is not None and "sequence@" in field.model_version else (field.chars or [])
        recognized = [str(char.get("text", "")) for char in chars]
        sample_kind = SAMPLE_KINDS.get(field.kind, field.kind)
        trainable = CORRECTION_ALPHABETS.get(sample_kind, set()) - UNCLASSIFIED_MARKS
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


def field_accept(*, field_id: int, user, version: int | None = None) -> FieldResult:
    """Accept a field as read (the reviewer checked it); `version` as in field_correct."""
    with transaction.atomic():
        field = FieldResult.objects.select_for_update().select_related("page").get(pk=field_id)
        check_field_version(field=field, version=version)
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
