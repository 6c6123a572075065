"""Form templates: check a template document and its blank image, save it, seed the bundled ones."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils.text import slugify

from recognition.engine.pages.templates import BUNDLED_TEMPLATES_DIR
from recognition.exceptions import InvalidInput
from recognition.models import FormTemplate
from recognition.services.images import encode_png

logger = logging.getLogger(__name__)


def check_template_definition(*, definition: Any, image_size: tuple[int, int] | None = None) -> dict:
    """Validate a format-1 template document; with an image, its size must match the template's."""
    from recognition.engine.pages.templates import parse_template

    if isinstance(definition, str | bytes):
        try:
            definition = json.loads(definition)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise InvalidInput(f"The template is not valid JSON: {error}.") from error
    try:
        # A template may be saved before its fields are drawn; an upload refuses it until then.
        parsed = parse_template(definition, allow_no_fields=True)
    except ValueError as error:
        raise InvalidInput(f"Invalid template: {error}.") from error
    if image_size is not None and tuple(parsed.size) != tuple(image_size):
        raise InvalidInput(
            f"The blank image is {image_size[0]}x{image_size[1]} pixels but the template says "
            f"{parsed.size[0]}x{parsed.size[1]}."
        )
    return definition


def check_template_image(*, data: bytes) -> tuple[int, int]:
    """Check a blank form image by content and size; return its (width, height)."""
    from recognition.engine.pages.load import load_pages, sniff_format

    try:
        if sniff_format(data) == "pdf":
            raise ValueError("the blank form must be an image (PNG, JPEG or TIFF), not a PDF")
        page = load_pages(data, max_pages=1, max_pixels=settings.UPLOAD_MAX_PIXELS)[0]
    except ValueError as error:
        raise InvalidInput(f"Blank form image: {error}.") from error
    height, width = page.shape
    return width, height


def template_save(
    *,
    definition: Any,
    image_data: bytes | None = None,
    kind: str = FormTemplate.Kind.FORM,
    bundled: bool = False,
    template: FormTemplate | None = None,
) -> FormTemplate:
    """Create a template, or update `template` (or the one of the same name); the image is stored as PNG."""
    if image_data is not None:
        image_size = check_template_image(data=image_data)
    elif template is not None:
        image_size = (template.image.width, template.image.height)
    else:
        image_size = None
    definition = check_template_definition(definition=definition, image_size=image_size)
    name = slugify(definition["name"])[:100] or "template"
    with transaction.atomic():
        if template is None:
            template = FormTemplate.objects.select_for_update().filter(name=name).first()
            if template is None and image_data is None:
                raise InvalidInput("A new template needs its blank form image.")
            if template is not None and image_data is None:
                definition = check_template_definition(
                    definition=definition, image_size=(template.image.width, template.image.height)
                )
        template = template or FormTemplate(name=name)
        if FormTemplate.objects.filter(name=name).exclude(pk=template.pk).exists():
            raise InvalidInput(f"Another template is already named {name!r}.")
        template.name = name
        template.kind = kind
        template.bundled = bundled
        if image_data is not None:
            from recognition.engine.pages.load import load_page

            png = encode_png(load_page(image_data, max_pixels=settings.UPLOAD_MAX_PIXELS))
            template.image.save(f"{name}.png", ContentFile(png), save=False)
        template.definition = {**definition, "name": name, "image": Path(template.image.name).name}
        template.save()
    return template


def templates_seed_bundled(*, directory: Path = BUNDLED_TEMPLATES_DIR) -> list[FormTemplate]:
    """Load every bundled template (<dir>/<name>/*.json with its image) into the database; idempotent."""
    saved = []
    for json_path in sorted(directory.glob("*/*.json")):
        try:
            definition = json.loads(json_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            logger.warning("Skipping %s: not JSON", json_path)
            continue
        if not isinstance(definition, dict) or definition.get("format") != "hwr-form-template/1":
            continue
        image_path = json_path.parent / str(definition.get("image", ""))
        if not image_path.is_file():
            logger.warning("Skipping %s: its image %s is missing", json_path, image_path)
            continue
        is_cheque = "check" in json_path.parent.name or "cheque" in definition
        kind = FormTemplate.Kind.CHECK if is_cheque else FormTemplate.Kind.FORM
        existing = FormTemplate.objects.filter(name=slugify(definition.get("name", ""))).first()
        unchanged = (
            existing is not None
            and existing.bundled
            and {**existing.definition, "image": ""} == {**definition, "name": existing.name, "image": ""}
        )
        if unchanged:
            saved.append(existing)
            continue
        saved.append(
            template_save(
                definition=definition,
                image_data=image_path.read_bytes(),
                kind=kind,
                bundled=True,
                template=existing,
            )
        )
    return saved
