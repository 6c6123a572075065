"""Read a filled form page: align it to its template, segment every field, classify, apply field rules."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from recognition.engine.characters.pairs import (
    MIN_PAIR_ASPECT,
    PAIR_CLASSES,
    PAIR_KIND,
    SINGLE_COUNT,
    is_pair,
    read_pair,
)
from recognition.engine.fields.comb import segment_comb
from recognition.engine.fields.free import segment_free
from recognition.engine.fields.rules import field_result
from recognition.engine.fields.segment import (
    Segment,
    best_cut_path,
    resolve_group,
    split_in_two,
)
from recognition.engine.pages.align import (
    MIN_SCORE,
    Alignment,
    TemplateFeatures,
    align_page,
    template_features,
)
from recognition.engine.pages.layout import align_layout, locate_fields, template_structures
from recognition.engine.pages.prepare import clear_background, ink_contrast, ink_mask
from recognition.engine.pages.templates import KIND_MODELS, PRINTED_KINDS, FieldSpec, FormTemplate
from recognition.engine.sequences.reader import SUPPORT_KEY, FieldReading

RESULT_FORMAT = "hwr-form-result/1"
MODEL_ORDER = ("digits", "letters", "alnum")
SEQUENCE_KIND = "sequence"
# A free field is read a little beyond its box: handwriting leaves the zone it was given.
FREE_FIELD_MARGIN = 0.12


class CombinedClassifier:
    """Reads alnum characters with several single-kind classifiers: each image goes to all of them
    and the most confident answer wins (alternatives from all, best first)."""

    kind = "alnum"

    def __init__(self, parts: list):
        self.parts = parts
        self.name = "+".join(part.name for part in parts)
        self.classes = [name for part in parts for name in part.classes]

    def classify(self, images) -> list:
        from recognition.engine.characters.classify import CharPrediction

        answers = [part.classify(images) for part in self.parts]
        combined = []
        for predictions in zip(*answers, strict=True):
            ranked = sorted(
                (
                    pair
                    for prediction in predictions
                    for pair in [(prediction.label, prediction.confidence), *prediction.alternatives]
                ),
                key=lambda pair: -pair[1],
            )
            combined.append(CharPrediction(ranked[0][0], ranked[0][1], ranked[1:4]))
        return combined


# A digit fills the line's height; a piece of a touching group shorter than this share of the
# group's height is a stroke cut off a wider digit (the tail of a 2 read as "1"), not a digit.
DIGIT_PIECE_MIN_HEIGHT = 0.6


def piece_plausibility(segment: Segment, key: tuple[int, int], kind: str) -> float:
    """How plausible a candidate piece of a touching group is as one character, by its shape (0..1).

    It scales the classifier's confidence when the cut path is chosen, which alone trusts a model
    that is sure of almost anything, a stub of a stroke included.
    """
    if KIND_MODELS[kind] != "digits":
        return 1.0
    piece_height = segment.choices.pieces[key][1][3]
    group_height = max(segment.box[3], 1)
    return min(1.0, piece_height / (DIGIT_PIECE_MIN_HEIGHT * group_height))


def segment_field(
    page: np.ndarray,
    box: tuple[int, int, int, int],
    cells: int | None,
    kind: str,
    keep_groups: bool = False,
    located: bool = False,
) -> list[Segment]:
    """Segments of one field of an aligned page (or of a field image with box = the whole image).

    Groups of possibly touching characters are cut geometrically unless keep_groups is true (the
    reader keeps them, to let recognition choose the cuts).
    """
    if cells:
        return segment_comb(page, box, cells, keep_groups=keep_groups, kind=kind, located=located)
    segments = segment_free(page, box, kind)
    if keep_groups:
        return segments
    flat = []
    for segment in segments:
        flat.extend(resolve_group(segment, segment.choices.default) if segment.kind == "group" else [segment])
    return flat


# Layout templates' comb fields are read with marks under this share of the page's strong ink cleared.
COMB_BACKGROUND_SHARE = 0.15
WRITING_BAND_SHARE = 0.04
WRITING_BAND_MARGIN = 0.25


def writing_band(crop: np.ndarray) -> tuple[int, int]:
    """Rows (top, bottom) of the line of writing in a loose crop of a printed document's field.

    The band is the run of rows around the inkiest one whose ink stays above a small share of its
    peak, widened by a quarter of its height for ascenders and descenders; what lies apart from it
    (the tops of the next line's letters, a printed label's underline) is cut off.
    """
    mask, _ = ink_mask(crop)
    profile = cv2.blur(mask.sum(axis=1).astype(np.float32)[:, None], (1, 5)).ravel()
    if profile.max() <= 0:
        return 0, crop.shape[0]
    peak = int(np.argmax(profile))
    low = profile < WRITING_BAND_SHARE * profile[peak]
    above = np.flatnonzero(low[:peak])
    below = np.flatnonzero(low[peak:])
    top = int(above[-1]) + 1 if above.size else 0
    bottom = peak + int(below[0]) if below.size else crop.shape[0]
    margin = int(round((bottom - top) * WRITING_BAND_MARGIN))
    return max(0, top - margin), min(crop.shape[0], bottom + margin)


def free_field_crops(
    image: np.ndarray, spec: FieldSpec, bands: bool = False
) -> list[tuple[np.ndarray, tuple]]:
    """The crops a free field is read from, one per line, with each crop's (x, y) on the image: the
    box with a margin, narrowed to its line of writing when bands is true (see writing_band)."""
    crops = []
    for x, y, width, height in spec.lines or (spec.box,):
        margin = int(round(height * FREE_FIELD_MARGIN))
        left, top = max(0, x - margin), max(0, y - margin)
        right, bottom = min(image.shape[1], x + width + margin), min(image.shape[0], y + height + margin)
        if bands:
            band_top, band_bottom = writing_band(image[top:bottom, left:right])
            top, bottom = top + band_top, top + band_bottom
        crops.append((image[top:bottom, left:right], (left, top)))
    return crops


def vocabulary_words(name: str) -> tuple[str, ...]:
    """The words (capitals) of a template vocabulary."""
    if name == "number_words":
        from recognition.engine.cheques.words import SPELLINGS

        # The parser also knows "Rs" and "Re"; as free-standing words they would let any two strokes
        # of ink read as a word, so the reader does not offer them.
        return tuple(sorted(word.upper() for word in SPELLINGS if len(word) > 2))
    raise ValueError(f"unknown vocabulary {name!r}")


def join_lines(readings: list):
    """One field's reading from the readings of its lines, top to bottom: the lines' texts joined by a
    space, as sure as its least sure written line (a blank line neither adds nor doubts anything)."""
    if len(readings) == 1:
        return readings[0]
    written = [reading for reading in readings if reading.text] or readings[:1]
    text = " ".join(reading.text for reading in written)
    confidence = min(reading.confidence for reading in written)
    probability = float(np.prod([reading.readings[0][1] if reading.readings else 0.0 for reading in written]))
    return FieldReading(
        text=text,
        confidence=confidence,
        chars=[char for reading in written for char in reading.chars],
        readings=[(text, probability)],
        warnings=[warning for reading in readings for warning in reading.warnings],
        raw_confidence=min(reading.raw_confidence for reading in written),
        support=[support for reading in readings for support in reading.support],
    )


def read_printed_field(image: np.ndarray, spec: FieldSpec) -> dict:
    """A printed field (a cheque's MICR line) read by matching its font, in the result's format."""
    from recognition.engine.cheques.micr import read_micr

    x, y, width, height = spec.box
    reading = read_micr(image[y : y + height, x : x + width])
    chars = [
        {
            "text": char.text,
            "confidence": round(float(char.confidence), 4),
            "box": [int(char.box[0]) + x, int(char.box[1]) + y, int(char.box[2]), int(char.box[3])],
            "alternatives": [[text, round(float(score), 4)] for text, score in char.alternatives],
        }
        for char in reading.chars
    ]
    return {
        "name": spec.name,
        "kind": spec.kind,
        "text": reading.text,
        "confidence": round(float(reading.confidence), 4),
        "chars": chars,
        "warnings": [] if reading.text else ["no MICR line found in its band"],
    }


@dataclass
class AlignedPage:
    """A page aligned to a template: the alignment, the template's fields with their boxes where the
    page has them, and (layout templates) the page without background the free fields are read from."""

    alignment: Alignment
    specs: list[FieldSpec]
    free_image: np.ndarray | None
    # What the comb and character fields are read from (None: the aligned page as it is).
    field_image: np.ndarray | None = None


@dataclass
class PageReading:
    """What reading one page gives: the result document and the page warped into template pixels."""

    result: dict
    aligned: np.ndarray
    alignment: Alignment | None = None


class FormReader:
    """Reads pages against templates; loads each classifier once, when first needed."""

    def __init__(
        self,
        model_dir: str | Path,
        versions: dict[str, str] | None = None,
        min_score: float = MIN_SCORE,
        opencv_threads: int | None = 1,
        use_sequences: bool = True,
        today=None,
    ):
        # Reading a page is hundreds of small OpenCV calls; a thread pool costs more than it gains on
        # them (3x slower on a busy 2-core machine), and throughput comes from one process per core.
        # None leaves OpenCV's setting alone. (cv2.setNumThreads is process-wide.)
        if opencv_threads is not None:
            cv2.setNumThreads(opencv_threads)
        self.model_dir = Path(model_dir)
        self.versions = dict(versions or {})
        self.min_score = min_score
        self._classifiers: dict[str, object] = {}
        self._pair_reader: object | None | bool = False  # False: not looked for yet; None: there is none
        self._sequence_reader: object | None | bool = False
        self.use_sequences = use_sequences
        # The day cheques are presented on, for their validity window (None: the day they are read).
        self.today = today
        self._features: dict[int, tuple[FormTemplate, TemplateFeatures]] = {}

    def classifier(self, model_kind: str):
        """The classifier for 'digits', 'letters' or 'alnum', loaded on first use."""
        if model_kind not in self._classifiers:
            # Keras is imported only when reading.
            from recognition.engine.characters.classify import load_classifier

            try:
                self._classifiers[model_kind] = load_classifier(
                    model_kind, self.model_dir, self.versions.get(model_kind)
                )
            except FileNotFoundError as error:
                if model_kind != "alnum":
                    raise ValueError(f"no {model_kind} model to read these fields with: {error}") from error
                # Without an alnum model, the digits and letters models together read alnum fields.
                try:
                    parts = [self.classifier("digits"), self.classifier("letters")]
                except ValueError:
                    raise ValueError(
                        f"no alnum model (nor digits and letters) to read these fields: {error}"
                    ) from error
                self._classifiers[model_kind] = CombinedClassifier(parts)
        return self._classifiers[model_kind]

    def pair_reader(self):
        """The touching-pair reader of free digit fields (engine.characters.pairs), or None without one.

        It is optional: a model folder without models/digit-pairs reads every character as one. A
        folder that is there but broken (no model file, no card) is an error, not a silent fallback.
        """
        if self._pair_reader is False:
            from recognition.engine.characters.classify import load_classifier

            if (self.model_dir / PAIR_KIND).is_dir():
                self._pair_reader = load_classifier(PAIR_KIND, self.model_dir, self.versions.get(PAIR_KIND))
            else:
                self._pair_reader = None
        return self._pair_reader

    def sequence_reader(self):
        """The whole-field reader of free fields (engine.sequences), or None without models/sequence."""
        if self._sequence_reader is False:
            from recognition.engine.sequences.reader import load_sequence_reader

            if (self.model_dir / SEQUENCE_KIND).is_dir():
                self._sequence_reader = load_sequence_reader(self.model_dir, self.versions.get(SEQUENCE_KIND))
            else:
                self._sequence_reader = None
        return self._sequence_reader

    def _read_free_fields(
        self, image: np.ndarray, specs: list[FieldSpec], bands: bool = False
    ) -> tuple[list[dict], str]:
        """Free fields read whole by the sequence reader: (results in the order of specs, its name).

        bands: each crop is narrowed to its line of writing (loose boxes of printed documents whose
        layout varies, such as cheques of different banks).
        """
        reader = self.sequence_reader()
        crops, offsets, kinds, owners, vocabularies = [], [], [], [], []
        for index, spec in enumerate(specs):
            for crop, offset in free_field_crops(image, spec, bands):
                crops.append(crop)
                offsets.append(offset)
                kinds.append(spec.kind)
                owners.append(index)
                vocabularies.append(vocabulary_words(spec.vocabulary) if spec.vocabulary else None)
        line_readings = reader.read(crops, kinds, offsets, vocabularies)
        readings = [
            join_lines(
                [reading for owner, reading in zip(owners, line_readings, strict=True) if owner == index]
            )
            for index in range(len(specs))
        ]
        results = [
            {
                "name": spec.name,
                "kind": spec.kind,
                "text": reading.text,
                "confidence": reading.confidence,
                "chars": reading.chars,
                "warnings": reading.warnings,
                "readings": [[text, probability] for text, probability in reading.readings],
                SUPPORT_KEY: reading.support,
            }
            for spec, reading in zip(specs, readings, strict=True)
        ]
        return results, f"{SEQUENCE_KIND}@{reader.version}"

    def _read_touching_pairs(
        self, specs: list[FieldSpec], segments_per_field: list, predictions_per_field: list
    ):
        """Free digit fields: a character the pair reader is sure is two touching digits becomes two.

        Returns the pair reader's name when it was consulted, else None.
        """
        candidates, images = [], []
        for index, spec in enumerate(specs):
            if spec.cells is not None or KIND_MODELS[spec.kind] != "digits":
                continue
            characters = [
                position
                for position, segment in enumerate(segments_per_field[index])
                if segment.kind == "char"
            ]
            for order, position in enumerate(characters):
                segment = segments_per_field[index][position]
                if segment.box[2] >= MIN_PAIR_ASPECT * segment.box[3]:
                    candidates.append((index, position, order))
                    images.append(segment.image)
        if not candidates:
            return None
        reader = self.pair_reader()
        if reader is None:
            return None
        from recognition.engine.characters.preprocess import prepare_batch

        probabilities = reader.probabilities(prepare_batch(images))
        found = []
        for candidate, row in zip(candidates, probabilities, strict=True):
            halves = split_in_two(segments_per_field[candidate[0]][candidate[1]]) if is_pair(row) else None
            if halves is not None:
                found.append((candidate, row, halves))
        if not found:
            return reader.name
        # The digits model reads each half too (one small batch, only on pages with a pair).
        digits = self.classifier("digits")
        half_images = [half.image for _, _, halves in found for half in halves]
        half_probabilities = digits.probabilities(prepare_batch(half_images))
        same_classes = list(digits.classes) == PAIR_CLASSES[:SINGLE_COUNT]
        # From the right, so the positions still to be replaced stay where they were.
        for number in range(len(found) - 1, -1, -1):
            (index, position, order), row, halves = found[number]
            read_halves = (half_probabilities[2 * number], half_probabilities[2 * number + 1])
            pair = read_pair(row, read_halves if same_classes else None)
            segments_per_field[index][position : position + 1] = list(halves)
            predictions_per_field[index][order : order + 1] = pair
        return reader.name

    def features(self, template: FormTemplate) -> TemplateFeatures:
        """The template's alignment features, computed once per template object."""
        cached = self._features.get(id(template))
        if cached is None or cached[0] is not template:
            cached = (template, template_features(template.load_image()))
            self._features[id(template)] = cached
        return cached[1]

    def read_fields(
        self,
        image: np.ndarray,
        specs: list[FieldSpec],
        use_sequences: bool | None = None,
        free_image: np.ndarray | None = None,
        keep_support: bool = False,
    ) -> tuple[list[dict], list[str]]:
        """Read fields of an image already in template coordinates: free fields whole with the sequence
        reader (when there is one, use_sequences allows and its card reads the kind; text fields
        always), the rest cut into characters.

        Returns the field results in the order of specs and the names of the models used.
        """
        use_sequences = self.use_sequences if use_sequences is None else use_sequences
        printed = [index for index, spec in enumerate(specs) if spec.kind in PRINTED_KINDS]
        handwritten = [spec for spec in specs if spec.kind not in PRINTED_KINDS]
        sequence_reader = self.sequence_reader() if any(spec.cells is None for spec in handwritten) else None
        free = [
            index
            for index, spec in enumerate(specs)
            if spec.cells is None
            and spec.kind not in PRINTED_KINDS
            and sequence_reader is not None
            and (spec.kind == "text" or (use_sequences and spec.kind in sequence_reader.free_field_kinds))
        ]
        for spec in specs:
            if spec.kind == "text" and sequence_reader is None:
                raise ValueError(
                    f"field {spec.name!r}: text fields need the sequence reader (models/sequence)"
                )
        others = [index for index in range(len(specs)) if index not in free and index not in printed]
        results: list[dict | None] = [None] * len(specs)
        names = []
        for index in printed:
            results[index] = read_printed_field(image, specs[index])
        if others:
            character_results, names = self._read_character_fields(image, [specs[index] for index in others])
            for index, result in zip(others, character_results, strict=True):
                results[index] = result
        if free:
            free_results, name = self._read_free_fields(
                image if free_image is None else free_image,
                [specs[index] for index in free],
                bands=free_image is not None,
            )
            for index, result in zip(free, free_results, strict=True):
                results[index] = result
            names.append(name)
        if not keep_support:
            for result in results:
                result.pop(SUPPORT_KEY, None)
        return results, names

    def _read_character_fields(
        self, image: np.ndarray, specs: list[FieldSpec]
    ) -> tuple[list[dict], list[str]]:
        """Segment fields into characters and classify them.

        All character images that go to one model are classified in a single batch. Returns the field
        results in the order of specs and the names of the models used.
        """
        segments_per_field = [
            segment_field(image, spec.box, spec.cells, spec.kind, keep_groups=True, located=spec.located)
            for spec in specs
        ]
        model_kinds = sorted({spec.model_kind for spec in specs}, key=MODEL_ORDER.index)
        predictions_per_field: list[list] = [[] for _ in specs]
        for model_kind in model_kinds:
            # Every image of this model, characters and the candidate pieces of touching groups alike,
            # goes in one batch; keys say where each prediction belongs.
            keys, images = [], []
            for index, (spec, segments) in enumerate(zip(specs, segments_per_field, strict=True)):
                if KIND_MODELS[spec.kind] != model_kind:
                    continue
                for position, segment in enumerate(segments):
                    if segment.kind == "char":
                        keys.append((index, position, None))
                        images.append(segment.image)
                    elif segment.kind == "group":
                        for piece_key, (piece_image, _) in segment.choices.pieces.items():
                            keys.append((index, position, piece_key))
                            images.append(piece_image)
            classifier = self.classifier(model_kind)
            predictions = classifier.classify(images) if images else []
            by_key = dict(zip(keys, predictions, strict=True))
            for index, spec in enumerate(specs):
                if KIND_MODELS[spec.kind] != model_kind:
                    continue
                resolved, field_predictions = [], []
                for position, segment in enumerate(segments_per_field[index]):
                    if segment.kind == "group":
                        pieces = {key: by_key[(index, position, key)] for key in segment.choices.pieces}
                        path = best_cut_path(
                            segment.choices,
                            {
                                key: prediction.confidence * piece_plausibility(segment, key, spec.kind)
                                for key, prediction in pieces.items()
                            },
                        )
                        for first, last in zip(path[:-1], path[1:], strict=True):
                            if (first, last) in pieces:
                                field_predictions.append(pieces[(first, last)])
                        resolved.extend(resolve_group(segment, path))
                        continue
                    if segment.kind == "char":
                        field_predictions.append(by_key[(index, position, None)])
                    resolved.append(segment)
                segments_per_field[index] = resolved
                predictions_per_field[index] = field_predictions
        pair_reader_name = self._read_touching_pairs(specs, segments_per_field, predictions_per_field)
        results = [
            field_result(spec, segments, predictions)
            for spec, segments, predictions in zip(
                specs, segments_per_field, predictions_per_field, strict=True
            )
        ]
        names = []
        for model_kind in model_kinds:
            for name in self.classifier(model_kind).name.split("+"):
                if name not in names:
                    names.append(name)
        if pair_reader_name:
            names.append(pair_reader_name)
        return results, names

    def align(self, template: FormTemplate, page_image: np.ndarray) -> AlignedPage:
        """A page in template pixels, with its fields where they are on it (see AlignedPage).

        Raises align.AlignmentError (a ValueError with .score) when the page cannot be aligned.
        """
        if template.alignment != "layout":
            alignment = align_page(page_image, self.features(template), self.min_score)
            return AlignedPage(alignment, list(template.fields), None)
        alignment = align_layout(page_image, template)
        specs = locate_fields(
            template.fields, template_structures(template), alignment.structure_boxes, template.size
        )
        # Free fields of such documents are loose boxes over security printing: they are read without
        # the background and rules, narrowed to their line of writing. Combs keep their walls, which
        # their segmentation takes out itself.
        contrast = ink_contrast(alignment.aligned)
        free_image = clear_background(
            alignment.aligned, rule_length=template.size[0] // 20, contrast=contrast
        )
        # The combs only lose the faintest marks (security microprint inside a box reads as a stroke
        # on a digit: a 0 with a speck above it is a 6); their walls stay for their segmentation.
        field_image = clear_background(alignment.aligned, share=COMB_BACKGROUND_SHARE, contrast=contrast)
        return AlignedPage(alignment, specs, free_image, field_image)

    def read_page(self, template: FormTemplate, page_image: np.ndarray) -> PageReading:
        """Align a page to the template and read every field.

        Raises align.AlignmentError (a ValueError with .score) when the page cannot be aligned: such a
        page is reported, never read.
        """
        page = self.align(template, page_image)
        image = page.alignment.aligned if page.field_image is None else page.field_image
        fields, model_names = self.read_fields(
            image, page.specs, free_image=page.free_image, keep_support=True
        )
        if "cheque" in template.source:
            from recognition.engine.cheques.checks import check_cheque

            fields = check_cheque(fields, template.source["cheque"], today=self.today)
        for field, spec in zip(fields, page.specs, strict=True):
            field.pop(SUPPORT_KEY, None)
            if spec.located:
                # Where this page has the field (a layout template's structure moves it): the review
                # screen crops it from here rather than from the template's box.
                field["box"] = list(spec.box)
        result = {
            "format": RESULT_FORMAT,
            "template": template.name,
            "model": "+".join(model_names),
            "fields": fields,
            "alignment": page.alignment.to_dict(),
        }
        return PageReading(result=result, aligned=page.alignment.aligned, alignment=page.alignment)
