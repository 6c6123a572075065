"""Whole-field training samples: stored on corrections of free fields, imported from keyed archives.

A whole-field sample is a field image and its text (kind "sequence"; `field_kind` says how it is
read): the sequence reader learns from those (recognition.engine.sequences.finetune). An import is
one file of lines `IMAGE<TAB>TEXT` (a labels.tsv beside its images, or a zip holding one), checked
whole before anything is stored: one bad line refuses the whole import, with every bad line's number.
"""

from __future__ import annotations

import io
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from django.core.files.base import ContentFile
from django.db import transaction
from PIL import Image, UnidentifiedImageError

from recognition.exceptions import InvalidInput
from recognition.models import Correction, FieldResult, TrainingSample
from recognition.services.images import encode_png

WHOLE_FIELD_KIND = "sequence"
LABELS_FILE = "labels.tsv"
# A field crop is small: these bound what one line may bring in (a huge image is a mistake or an attack).
MAX_IMAGE_BYTES = 8 * 1024 * 1024
MAX_IMAGE_PIXELS = 4_000_000
MAX_IMAGE_SIDE = 8000
MIN_IMAGE_SIDE = 4
MAX_IMPORT_LINES = 50_000
MAX_ZIP_MEMBERS = 100_000
MAX_ZIP_UNCOMPRESSED_BYTES = 1024 * 1024 * 1024
# How many bad lines an error message lists before it only counts the rest.
LISTED_ERRORS = 20


@dataclass(frozen=True)
class CheckedLine:
    """One good line of an import: where it came from, its text and its image as gray PNG bytes."""

    number: int
    image_name: str
    text: str
    png: bytes
    width: int
    height: int


def check_field_kind(*, kind: str) -> str:
    from recognition.engine.pages.templates import FIELD_KINDS

    if kind not in FIELD_KINDS:
        raise InvalidInput(f"Unknown field kind {kind!r}; choose one of {', '.join(FIELD_KINDS)}.")
    return kind


def check_field_text(*, kind: str, text: str) -> str | None:
    """Why a text cannot be a whole-field sample of `kind` (None when it can). Empty is allowed: a
    blank field is worth learning too."""
    from recognition.engine.sequences.finetune import check_sample_text

    return check_sample_text(kind, text)


def check_sample_image(data: bytes) -> tuple[bytes, int, int]:
    """A crop's bytes as gray PNG with its size; ValueError saying what is wrong with it."""
    if len(data) > MAX_IMAGE_BYTES:
        raise ValueError(f"the image file is larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MiB")
    try:
        with Image.open(io.BytesIO(data)) as image:
            # The header's size, before anything is decoded (a small file may claim a huge image).
            width, height = image.size
            if width * height > MAX_IMAGE_PIXELS or max(width, height) > MAX_IMAGE_SIDE:
                raise ValueError(f"the image is too large for a field ({width}x{height} pixels)")
            if min(width, height) < MIN_IMAGE_SIDE:
                raise ValueError(f"the image is too small for a field ({width}x{height} pixels)")
            gray = image.convert("L")
            gray.load()
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as error:
        raise ValueError(f"the image cannot be read ({type(error).__name__})") from error
    import numpy as np

    return encode_png(np.asarray(gray)), width, height


def check_import_lines(
    *, kind: str, text: str, read_image: Callable[[str], bytes], source: str
) -> list[CheckedLine]:
    """Every line of a labels file checked (kind, text, image); InvalidInput naming each bad line.

    read_image(name) returns an image's bytes or raises ValueError (missing, outside the import...).
    Empty lines are skipped; a line is `IMAGE<TAB>TEXT`.
    """
    check_field_kind(kind=kind)
    lines = text.splitlines()
    if len(lines) > MAX_IMPORT_LINES:
        raise InvalidInput(f"{source}: {len(lines)} lines; one import takes at most {MAX_IMPORT_LINES}.")
    checked, errors = [], []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        columns = line.split("\t")
        if len(columns) != 2 or not columns[0].strip():
            errors.append(f"line {number}: expected IMAGE<TAB>TEXT, got {len(columns)} column(s)")
            continue
        image_name, label = columns[0].strip(), columns[1].strip()
        problem = check_field_text(kind=kind, text=label)
        if problem:
            errors.append(f"line {number}: {image_name}: {problem}")
            continue
        try:
            png, width, height = check_sample_image(read_image(image_name))
        except ValueError as error:
            errors.append(f"line {number}: {image_name}: {error}")
            continue
        checked.append(CheckedLine(number, image_name, label, png, width, height))
    if errors:
        listed = errors[:LISTED_ERRORS]
        more = f"\n... and {len(errors) - LISTED_ERRORS} more" if len(errors) > LISTED_ERRORS else ""
        raise InvalidInput(
            f"{source}: {len(errors)} bad line(s), nothing was imported:\n" + "\n".join(listed) + more
        )
    if not checked:
        raise InvalidInput(f"{source}: no samples in the file.")
    return checked


def _store_imported(*, kind: str, user, lines: list[CheckedLine], source: str) -> list[TrainingSample]:
    """Store checked lines as whole-field samples, in one transaction; a failure leaves no files."""
    stored_names: list[str] = []
    try:
        with transaction.atomic():
            samples = []
            for line in lines:
                sample = TrainingSample(
                    kind=WHOLE_FIELD_KIND,
                    field_kind=kind,
                    label=line.text,
                    source=TrainingSample.Source.IMPORT,
                    created_by=user,
                    origin=f"{source}:{line.number} {line.image_name}"[:500],
                )
                sample.image.save(f"{kind}-{uuid.uuid4().hex}.png", ContentFile(line.png), save=False)
                stored_names.append(sample.image.name)
                sample.save()
                samples.append(sample)
        return samples
    except BaseException:
        from django.core.files.storage import default_storage

        for name in stored_names:
            default_storage.delete(name)
        raise


def samples_import_tsv(*, labels_path: Path, kind: str, user) -> list[TrainingSample]:
    """Import a labels file from disk; IMAGE is absolute or relative to the file's folder."""
    labels_path = Path(labels_path)
    try:
        text = labels_path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInput(f"{labels_path}: cannot be read as UTF-8 text ({error}).") from error
    folder = labels_path.parent

    def read_image(name: str) -> bytes:
        path = Path(name) if Path(name).is_absolute() else folder / name
        if not path.is_file():
            raise ValueError(f"no such image ({path})")
        try:
            if path.stat().st_size > MAX_IMAGE_BYTES:
                raise ValueError(f"the image file is larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MiB")
            return path.read_bytes()
        except OSError as error:
            raise ValueError(f"cannot read the file ({error.strerror or type(error).__name__})") from error

    lines = check_import_lines(kind=kind, text=text, read_image=read_image, source=labels_path.name)
    return _store_imported(kind=kind, user=user, lines=lines, source=str(labels_path))


def samples_import_zip(*, archive, kind: str, user, name: str = "upload.zip") -> list[TrainingSample]:
    """Import a zip holding labels.tsv (at its top or in one folder) and the images it names,
    relative to it. `archive` is a file object (an upload)."""
    try:
        with zipfile.ZipFile(archive) as bundle:
            members = bundle.infolist()
            if len(members) > MAX_ZIP_MEMBERS:
                raise InvalidInput(f"{name}: more than {MAX_ZIP_MEMBERS} files in the zip.")
            if sum(member.file_size for member in members) > MAX_ZIP_UNCOMPRESSED_BYTES:
                raise InvalidInput(f"{name}: the zip unpacks to more than 1 GiB.")
            by_name = {member.filename: member for member in members if not member.is_dir()}
            labels = [path for path in by_name if PurePosixPath(path).name == LABELS_FILE]
            labels.sort(key=lambda path: len(PurePosixPath(path).parts))
            if not labels or (len(labels) > 1 and len(PurePosixPath(labels[1]).parts) == 1):
                raise InvalidInput(f"{name}: the zip must hold one {LABELS_FILE}.")
            labels_member = labels[0]
            folder = PurePosixPath(labels_member).parent

            def read_member(member_name: str, limit: int) -> bytes:
                info = by_name[member_name]
                try:
                    with bundle.open(info) as stream:
                        data = stream.read(limit + 1)
                except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError) as error:
                    # A damaged member, an unsupported compression or a password.
                    raise ValueError(f"cannot be unpacked ({error})") from error
                if len(data) > limit:
                    raise ValueError(f"the file is larger than {limit // (1024 * 1024)} MiB")
                return data

            def read_image(image_name: str) -> bytes:
                relative = PurePosixPath(image_name.replace("\\", "/"))
                if relative.is_absolute() or ".." in relative.parts:
                    raise ValueError("images in a zip are named relative to labels.tsv, inside the zip")
                member_name = str(folder / relative) if str(folder) != "." else str(relative)
                if member_name not in by_name:
                    raise ValueError("no such image in the zip")
                return read_member(member_name, MAX_IMAGE_BYTES)

            try:
                text = read_member(labels_member, 64 * 1024 * 1024).decode("utf-8-sig")
            except (ValueError, UnicodeDecodeError) as error:
                message = f"{name}: {LABELS_FILE} cannot be read as UTF-8 text ({error})."
                raise InvalidInput(message) from error
            lines = check_import_lines(kind=kind, text=text, read_image=read_image, source=LABELS_FILE)
    except zipfile.BadZipFile as error:
        raise InvalidInput(f"{name}: not a zip file.") from error
    return _store_imported(kind=kind, user=user, lines=lines, source=f"{name}/{labels_member}")


# --- from corrections -------------------------------------------------------------------------------


def field_is_free(field: FieldResult) -> bool:
    """Whether a field is a free one (cells null in its template), where the person wrote freely."""
    template_fields = field.page.document.template.fields
    if field.position < len(template_fields) and template_fields[field.position].get("name") == field.name:
        return template_fields[field.position].get("cells") is None
    return any(entry.get("name") == field.name and entry.get("cells") is None for entry in template_fields)


def field_sample_from_correction(
    *, field: FieldResult, correction: Correction, text: str
) -> TrainingSample | None:
    """The whole-field sample of a corrected free field: its image as the reader cut it from the aligned
    page, its kind and the corrected text. None for a comb field, a page without its aligned image, or a
    text the sequence reader cannot learn. Call inside the correction's transaction."""
    from recognition.engine.fields.reader import FREE_FIELD_MARGIN

    if not field.page.aligned_image or not field_is_free(field):
        return None
    if check_field_text(kind=field.kind, text=text) is not None:
        return None
    from recognition.services.images import crop_png

    margin = int(round(field.box[3] * FREE_FIELD_MARGIN))
    sample = TrainingSample(
        kind=WHOLE_FIELD_KIND,
        field_kind=field.kind,
        label=text,
        predicted_label=field.text[:255],
        correction=correction,
        created_by=correction.user,
        source=TrainingSample.Source.CORRECTION,
    )
    crop = crop_png(field.page.aligned_image.path, field.box, margin=margin)
    sample.image.save(f"{field.kind}-{uuid.uuid4().hex}.png", ContentFile(crop), save=False)
    sample.save()
    return sample
