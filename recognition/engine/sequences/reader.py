"""Read whole fields with the sequence network: batched, beam search with the kind's rules, calibrated."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from recognition.engine.sequences.calibration import Calibrator
from recognition.engine.sequences.charset import READ_ALPHABETS, kept_text
from recognition.engine.sequences.decode import (
    align,
    beam_search,
    decode_kind,
    lexicon_beam_search,
    softmax,
    text_log_probability,
)
from recognition.engine.sequences.images import FieldGeometry, batch_images, prepare_field_geometry

BEAM_WIDTH = 10
TOP_READINGS = 5
VOCABULARY_BEAM_WIDTH = 24
BATCH_SIZE = 32
# A field that breaks its kind's rule in every reading keeps the best one, capped here, for review.
RULE_CONFIDENCE_CAP = 0.3


# A free field's result carries its lines' Support under this key only until the page's checks have
# run (engine.cheques.checks); it is never part of a result document.
SUPPORT_KEY = "_support"


@dataclass
class Support:
    """How well one line of a field supports a text: log P(text) less log P(its best reading)."""

    probabilities: np.ndarray = field(repr=False)
    alphabet: str
    best: float
    blank: bool = False  # the line's best reading is empty
    _scores: dict = field(default_factory=dict, repr=False, compare=False)

    def score(self, text: str) -> float:
        if text not in self._scores:
            self._scores[text] = text_log_probability(self.probabilities, self.alphabet, text) - self.best
        return self._scores[text]


@dataclass
class FieldReading:
    """One field as read: kept text, calibrated confidence, characters, top readings, rule warnings."""

    text: str
    confidence: float
    chars: list[dict] = field(default_factory=list)
    readings: list[tuple[str, float]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    raw_confidence: float = 0.0
    # Per line of the field, its columns' probabilities: to ask how well it supports another reading
    # (a cheque's figures against its words). Not part of the result document.
    support: list[Support] = field(default_factory=list, repr=False)


def _log(probability: float) -> float:
    return float(np.log(max(probability, 1e-300)))


def _characters(
    probabilities, alphabet, reading: str, kind: str, geometry: FieldGeometry, offset
) -> list[dict]:
    """Per kept character: confidence and alternatives at its likeliest column, box from the alignment."""
    try:
        spans = align(probabilities, alphabet, reading)
    except ValueError:
        return []
    characters = []
    for character, (first, last) in zip(reading, spans, strict=True):
        if kept_text(kind, character) != character:
            continue
        index = alphabet.index(character) + 1
        column = first + int(np.argmax(probabilities[first : last + 1, index]))
        ranked = np.argsort(-probabilities[column])
        alternatives = [
            [alphabet[other - 1], round(float(probabilities[column, other]), 4)]
            for other in ranked[:4]
            if other not in (0, index) and probabilities[column, other] >= 0.001
        ][:3]
        box = geometry.columns_to_box(first, last)
        characters.append(
            {
                "text": character,
                "confidence": round(float(probabilities[column, index]), 4),
                "box": [box[0] + offset[0], box[1] + offset[1], box[2], box[3]],
                "alternatives": alternatives,
            }
        )
    return characters


def choose_reading(kind: str, readings: list[tuple[str, float]], check) -> tuple[str, float, list[str], str]:
    """The best reading whose kept text passes the kind's rule: (decoded, posterior share, warnings, kept).

    The share is the reading's probability among the beam's. When no reading passes, the best one is
    kept with the rule's reasons, so a reviewer sees what was read and why it was doubted.
    """
    total = sum(probability for _, probability in readings) or 1.0
    for decoded, probability in readings:
        kept = kept_text(kind, decoded)
        if not check(kind, kept):
            return decoded, probability / total, [], kept
    decoded, probability = readings[0] if readings else ("", 0.0)
    kept = kept_text(kind, decoded)
    reasons = check(kind, kept)
    return (
        decoded,
        probability / total,
        [f"no reading of the top {len(readings)} passes the rule: {reasons[0]}"],
        kept,
    )


class SequenceReader:
    """The sequence model of one version folder (model.keras + card.json), loaded once."""

    def __init__(self, version_dir: str | Path):
        import keras

        from recognition.engine.sequences.network import PackedCTCLoss

        self.version_dir = Path(version_dir)
        model_path = self.version_dir / "model.keras"
        if not model_path.exists():
            raise FileNotFoundError(f"no sequence model at {model_path}")
        self.model = keras.models.load_model(
            model_path, compile=False, custom_objects={"PackedCTCLoss": PackedCTCLoss}
        )
        card_path = self.version_dir / "card.json"
        self.card = json.loads(card_path.read_text(encoding="utf-8")) if card_path.exists() else {}
        self.calibrator = Calibrator.from_card(self.card.get("calibration"))
        self.version = self.version_dir.name
        # The kinds of free field this version reads; the card names them where the per-character
        # reader was measured better for some kind (text is always the sequence reader's).
        self.free_field_kinds = frozenset(self.card.get("free_field_kinds") or READ_ALPHABETS) | {"text"}

    def probabilities(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """Per prepared image, its (columns, classes) probabilities; batched by similar width."""
        order = np.argsort([image.shape[1] for image in images])
        results: list[np.ndarray | None] = [None] * len(images)
        for start in range(0, len(order), BATCH_SIZE):
            chunk = [int(index) for index in order[start : start + BATCH_SIZE]]
            batch, lengths = batch_images([images[index] for index in chunk])
            logits = np.asarray(self.model.predict_on_batch(batch))
            for index, length, row in zip(chunk, lengths, logits, strict=True):
                results[index] = softmax(row[:length].astype(np.float64))
        return results

    def read(
        self, crops: list[np.ndarray], kinds: list[str], offsets=None, vocabularies=None
    ) -> list[FieldReading]:
        """Read grayscale crops (dark ink on light) as the given field kinds.

        offsets: per crop, the (x, y) of its top-left corner on the page, added to character boxes.
        vocabularies: per crop, None or the words (capitals) its reading must be made of.
        """
        from recognition.engine.fields.rules import check_field

        if len(crops) != len(kinds):
            raise ValueError("one kind per crop is needed")
        offsets = offsets or [(0, 0)] * len(crops)
        prepared = [prepare_field_geometry(crop) for crop in crops]
        probabilities = self.probabilities([image for image, _ in prepared])
        vocabularies = vocabularies or [None] * len(crops)
        readings = []
        for (_, geometry), field_probabilities, kind, offset, vocabulary in zip(
            prepared, probabilities, kinds, offsets, vocabularies, strict=True
        ):
            if vocabulary:
                reading = self._read_in_vocabulary(field_probabilities, kind, geometry, offset, vocabulary)
                if reading is not None:
                    readings.append(reading)
                    continue
            kind_probs, alphabet = decode_kind(field_probabilities, kind)
            beams = beam_search(kind_probs, alphabet, beam_width=BEAM_WIDTH)
            decoded, share, warnings, kept = choose_reading(kind, beams, check_field)
            characters = _characters(kind_probs, alphabet, decoded, kind, geometry, offset)
            # A field is only as sure as its least sure character.
            raw = min([share, *(character["confidence"] for character in characters)])
            if warnings:
                raw = min(raw, RULE_CONFIDENCE_CAP)
            confidence = self.calibrator.apply(kind, raw)
            readings.append(
                FieldReading(
                    text=kept,
                    confidence=round(float(confidence), 4),
                    chars=characters,
                    readings=[
                        (kept_text(kind, text), round(probability, 6))
                        for text, probability in beams[:TOP_READINGS]
                    ],
                    warnings=warnings,
                    raw_confidence=float(raw),
                    support=[
                        Support(
                            kind_probs,
                            alphabet,
                            _log(beams[0][1] if beams else 0.0),
                            blank=not (beams and beams[0][0].strip()),
                        )
                    ],
                )
            )
        return readings

    def _read_in_vocabulary(
        self, probabilities, kind: str, geometry, offset, vocabulary
    ) -> FieldReading | None:
        """A field read as words of a vocabulary, case folded (None when no word sequence fits it).

        The words come out capitalised ("Twenty One Lakh"): the case a writer used is not kept.
        """
        letter_probs, alphabet = decode_kind(probabilities, "letters")
        free = beam_search(letter_probs, alphabet, beam_width=BEAM_WIDTH)
        if not free or not free[0][0].strip():
            return None  # nothing written: read as any blank field
        beams = lexicon_beam_search(
            letter_probs, alphabet, tuple(vocabulary), beam_width=VOCABULARY_BEAM_WIDTH
        )
        if not beams:
            return FieldReading(
                text="",
                confidence=0.0,
                warnings=[f"not read as words of its vocabulary (free reading {free[0][0]!r})"],
                support=[Support(letter_probs, alphabet, _log(free[0][1]))],
            )
        total = sum(probability for _, probability in beams) or 1.0
        decoded, probability = beams[0]
        characters = _characters(letter_probs, alphabet, decoded, "letters", geometry, offset)
        text = decoded.title()
        for character, shown in zip(characters, text, strict=False):
            character["text"] = shown
        raw = min([probability / total, *(character["confidence"] for character in characters)])
        return FieldReading(
            text=text,
            confidence=round(float(self.calibrator.apply(kind, raw)), 4),
            chars=characters,
            readings=[(reading.title(), round(share, 6)) for reading, share in beams[:TOP_READINGS]],
            raw_confidence=float(raw),
            support=[Support(letter_probs, alphabet, _log(probability))],
        )


SEQUENCE_KIND = "sequence"
_cache: dict[str, SequenceReader] = {}
_cache_lock = threading.Lock()


def load_sequence_reader(model_dir: str | Path, version: str | None = None) -> SequenceReader:
    """models/sequence/<version>/ (None: the active one), loaded once per process and path.

    FileNotFoundError when there is no such version (or no sequence model at all).
    """
    from recognition.engine.characters.classify import resolve_version

    resolved = resolve_version(SEQUENCE_KIND, Path(model_dir), version)
    version_dir = str((Path(model_dir) / SEQUENCE_KIND / resolved).resolve())
    with _cache_lock:
        if version_dir not in _cache:
            _cache[version_dir] = SequenceReader(version_dir)
        return _cache[version_dir]


def clear_cache() -> None:
    """Forget loaded sequence readers (tests and model promotion use it)."""
    with _cache_lock:
        _cache.clear()
