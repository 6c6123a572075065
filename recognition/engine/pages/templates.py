"""Load and validate form templates (format hwr-form-template/1) and their blank reference images."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from recognition.engine.sequences.charset import CHARSET

TEMPLATE_FORMAT = "hwr-form-template/1"
FIELD_KINDS = ("digits", "letters", "alnum", "date", "amount", "text")
# Printed (not handwritten) fields a template may also hold: a cheque's E-13B MICR line, read by
# matching the font's glyphs, never by a trained model, and never corrected into training data.
PRINTED_KINDS = ("micr",)
TEMPLATE_KINDS = FIELD_KINDS + PRINTED_KINDS
ALIGNMENTS = ("features", "layout")
# Vocabularies a free text field may be read in (its reading is then made of these words only).
VOCABULARIES = ("number_words",)
# The MICR line's characters: digits and the four E-13B symbols (transit, amount, on-us, dash).
MICR_SYMBOLS = "\u2446\u2447\u2448\u2449"
# The characters each field kind may hold (the amount's separators come from segmentation or the
# sequence reader, not a character model). Free letter fields also hold a space between words, a
# hyphen, an apostrophe and a dot (JEAN-PIERRE, O'NEIL, P. KUMAR); text is free mixed-case writing.
KIND_ALPHABETS = {
    "digits": "0123456789",
    "letters": "ABCDEFGHIJKLMNOPQRSTUVWXYZ -'.",
    "alnum": "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ ",
    "date": "0123456789",
    "amount": "0123456789",
    "text": CHARSET,
    "micr": "0123456789 " + MICR_SYMBOLS,
}
# Which classifier reads each field kind.
KIND_MODELS = {
    "digits": "digits",
    "letters": "letters",
    "alnum": "alnum",
    "date": "digits",
    "amount": "digits",
    # Only the sequence reader reads text: it has no character model.
    "text": "sequence",
    "micr": "micr",
}


@dataclass(frozen=True)
class FieldSpec:
    """One zone of a template where people write."""

    name: str
    kind: str
    box: tuple[int, int, int, int]  # x, y, width, height in template pixels
    cells: int | None  # comb field with N boxes, or None for free writing
    # A free field written on several printed lines (a cheque's amount in words): each line's box,
    # read one by one and joined with a space. None: the field is one line, its box.
    lines: tuple[tuple[int, int, int, int], ...] | None = None
    vocabulary: str | None = None  # one of VOCABULARIES: the words a text field is read in
    located: bool = False  # its box was found on the page (layout alignment), not only mapped there

    @property
    def model_kind(self) -> str:
        return KIND_MODELS[self.kind]


@dataclass
class FormTemplate:
    """A validated template: its fields and the blank image pages are aligned to."""

    name: str
    image_path: Path | None
    size: tuple[int, int]  # width, height
    fields: list[FieldSpec]
    source: dict = field(default_factory=dict, repr=False)
    alignment: str = "features"  # how pages are aligned: by printed features, or by the layout
    _image: np.ndarray | None = field(default=None, repr=False)

    def load_image(self) -> np.ndarray:
        """The blank reference image, grayscale uint8, loaded once and checked against `size`."""
        if self._image is None:
            from recognition.engine.pages.load import load_page

            if self.image_path is None:
                raise ValueError(f"template {self.name!r} has no image path to load")
            image = load_page(self.image_path)
            height, width = image.shape
            if (width, height) != tuple(self.size):
                raise ValueError(
                    f"template {self.name!r}: image {self.image_path.name} is {width}x{height} "
                    f"but the template says size {self.size[0]}x{self.size[1]}"
                )
            self._image = image
        return self._image

    def set_image(self, image: np.ndarray) -> None:
        """Use an image already in memory as the reference (tests, generated templates)."""
        height, width = image.shape[:2]
        if (width, height) != tuple(self.size):
            raise ValueError(f"image is {width}x{height}, template size is {self.size[0]}x{self.size[1]}")
        self._image = image


def _positive_int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        raise ValueError(f"{what} must be an integer, not {value!r}")
    return int(value)


def parse_field(data: object, index: int, size: tuple[int, int]) -> FieldSpec:
    """Validate one entry of a template's `fields` list."""
    where = f"fields[{index}]"
    if not isinstance(data, dict):
        raise ValueError(f"{where} must be an object")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{where}: 'name' must be a non-empty string")
    where = f"field {name!r}"
    kind = data.get("kind")
    if kind not in TEMPLATE_KINDS:
        raise ValueError(f"{where}: 'kind' must be one of {', '.join(TEMPLATE_KINDS)}, not {kind!r}")
    box = data.get("box")
    if not isinstance(box, list | tuple) or len(box) != 4:
        raise ValueError(f"{where}: 'box' must be [x, y, width, height]")
    x, y, width, height = (_positive_int(value, f"{where}: box value") for value in box)
    if width <= 0 or height <= 0:
        raise ValueError(f"{where}: box width and height must be positive")
    if x < 0 or y < 0 or x + width > size[0] or y + height > size[1]:
        raise ValueError(f"{where}: box {list(box)} lies outside the {size[0]}x{size[1]} image")
    cells = data.get("cells")
    if cells is not None:
        cells = _positive_int(cells, f"{where}: 'cells'")
        if cells < 1:
            raise ValueError(f"{where}: 'cells' must be at least 1 or null")
        if width / cells < 4:
            raise ValueError(f"{where}: {cells} cells in a box {width} pixels wide are too narrow")
    if kind == "text" and cells is not None:
        raise ValueError(f"{where}: a text field is free writing ('cells': null), not a comb of {cells}")
    if kind == "date" and cells not in (None, 8):
        raise ValueError(f"{where}: a date comb field has 8 cells (DDMMYYYY), not {cells}")
    lines = _parse_lines(data.get("lines"), where, cells, (x, y, width, height))
    vocabulary = data.get("vocabulary")
    if vocabulary is not None and (kind != "text" or vocabulary not in VOCABULARIES):
        raise ValueError(f"{where}: 'vocabulary' is for text fields, one of {', '.join(VOCABULARIES)}")
    return FieldSpec(
        name=name, kind=kind, box=(x, y, width, height), cells=cells, lines=lines, vocabulary=vocabulary
    )


def _parse_lines(lines: object, where: str, cells, box) -> tuple | None:
    """A field's optional `lines`: boxes inside its box, one per written line, top to bottom."""
    if lines is None:
        return None
    if cells is not None:
        raise ValueError(f"{where}: 'lines' is for free fields, not combs")
    if not isinstance(lines, list) or not lines:
        raise ValueError(f"{where}: 'lines' must be a non-empty list of [x, y, width, height]")
    parsed = []
    x, y, width, height = box
    for line in lines:
        if not isinstance(line, list | tuple) or len(line) != 4:
            raise ValueError(f"{where}: each of 'lines' must be [x, y, width, height]")
        lx, ly, lw, lh = (_positive_int(value, f"{where}: line box value") for value in line)
        if lw <= 0 or lh <= 0 or lx < x or ly < y or lx + lw > x + width or ly + lh > y + height:
            raise ValueError(f"{where}: line {list(line)} must lie inside the field's box {list(box)}")
        parsed.append((lx, ly, lw, lh))
    return tuple(parsed)


def parse_template(
    data: object, base_dir: str | Path | None = None, *, allow_no_fields: bool = False
) -> FormTemplate:
    """Validate a template document (already parsed from JSON); `image` resolves against base_dir.

    `allow_no_fields` accepts a template still being drawn (no field yet); nothing can be read with it.
    """
    if not isinstance(data, dict):
        raise ValueError("a template must be a JSON object")
    if data.get("format") != TEMPLATE_FORMAT:
        raise ValueError(f"template 'format' must be {TEMPLATE_FORMAT!r}, not {data.get('format')!r}")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValueError("template 'name' must be a non-empty string")
    size = data.get("size")
    if not isinstance(size, list | tuple) or len(size) != 2:
        raise ValueError("template 'size' must be [width, height]")
    width, height = (_positive_int(value, "template size") for value in size)
    if width <= 0 or height <= 0:
        raise ValueError("template 'size' must be positive")
    image = data.get("image")
    image_path = None
    if image is not None:
        if not isinstance(image, str) or not image:
            raise ValueError("template 'image' must be a file path string")
        image_path = Path(image)
        if not image_path.is_absolute() and base_dir is not None:
            image_path = Path(base_dir) / image_path
    fields = data.get("fields")
    if not isinstance(fields, list) or not (fields or allow_no_fields):
        raise ValueError("template 'fields' must be a non-empty list")
    specs = [parse_field(entry, index, (width, height)) for index, entry in enumerate(fields)]
    names = [spec.name for spec in specs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"template field names must be unique; repeated: {', '.join(duplicates)}")
    alignment = data.get("alignment", "features")
    if alignment not in ALIGNMENTS:
        raise ValueError(f"template 'alignment' must be one of {', '.join(ALIGNMENTS)}, not {alignment!r}")
    template = FormTemplate(
        name=name, image_path=image_path, size=(width, height), fields=specs, source=data, alignment=alignment
    )
    if alignment == "layout":
        from recognition.engine.pages.layout import template_structures

        template_structures(template)  # raises ValueError for a layout that cannot be aligned by
    return template


def load_template(path: str | Path) -> FormTemplate:
    """Read a template JSON file; its image path is resolved relative to the file and must exist."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no such template file: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"template {path} is not valid JSON: {error}") from error
    template = parse_template(data, base_dir=path.parent)
    if template.image_path is None:
        raise ValueError(f"template {path} has no 'image' (the blank form pages are aligned to)")
    if not template.image_path.is_file():
        raise ValueError(f"template {path}: image {template.image_path} does not exist")
    return template


# The templates that ship with the product, one folder each: forms_data/<name>/<name>.json.
BUNDLED_TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "forms_data"


def bundled_template_names(directory: Path = BUNDLED_TEMPLATES_DIR) -> list[str]:
    return sorted(path.parent.name for path in directory.glob("*/*.json") if path.stem == path.parent.name)


def resolve_template(name_or_path: str | Path, directory: Path = BUNDLED_TEMPLATES_DIR) -> FormTemplate:
    """A template by its JSON file's path, or by the name of a bundled one (`check`, `cheque-cts2010`)."""
    path = Path(name_or_path)
    if path.is_file() or path.suffix == ".json" or len(path.parts) > 1:
        return load_template(path)
    bundled = directory / str(name_or_path) / f"{name_or_path}.json"
    if bundled.is_file():
        return load_template(bundled)
    names = ", ".join(bundled_template_names(directory))
    raise ValueError(
        f"no template file {name_or_path!r} and no bundled template of that name (bundled: {names})"
    )
