"""Retrain the sequence reader on whole-field samples: fine-tune with synthetic replay, judge, write.

A whole-field sample is a field crop and the text a person says it holds (a reviewer's correction, or
a line of a back office's keyed archive); CTC needs no alignment between the two. The active version
continues training on batches that mix a few samples (augmented) with synthetic fields written on the
fly from MNIST digits and handwriting fonts, the kind of data it was trained on; afterwards part of
its old weights is mixed back (WiSE-FT). The gate then compares it with the active version on the
held-out samples and on synthetic base validation fields that are generated the same way on every
machine (MNIST training digits, never its test set; the fonts; a fixed seed), since the real
validation sets are not on a user's install.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recognition.engine.learning.finetune import GateDecision, gate, is_held_out, reseed_random_layers
from recognition.engine.sequences.charset import AMOUNT_MARKS, CLASS_OF, READ_ALPHABETS
from recognition.engine.sequences.evaluation import comparable, edit_distance
from recognition.engine.sequences.images import prepare_field
from recognition.engine.sequences.reader import SEQUENCE_KIND
from recognition.engine.sequences.training import augment_real, fits_ctc, pooled_batches

MODEL_FILE = "model.keras"
CARD_FILE = "card.json"
# Synthetic base validation: fields per kind, their seed, and the synthetic family that writes each kind.
BASE_FIELDS_PER_KIND = 60
BASE_SEED = 20260
BASE_FAMILIES = {
    "amount": "amount",
    "letters": "name",
    "text": "words",
    "digits": "code",
    "date": "date",
    "alnum": "code",
}
# Card entries a retrained version inherits from the version it was fine-tuned from.
INHERITED_CARD_KEYS = ("charset", "calibration", "free_field_kinds", "batch_size")
# network.MAX_LABEL_LENGTH, spelled out so checking a text never imports Keras (the web process checks).
MAX_TEXT_LENGTH = 48


@dataclass
class FieldSamples:
    """Whole-field samples: ids decide the held-out share; images uint8 gray, dark ink on light."""

    ids: Sequence[int]
    images: Sequence[np.ndarray]
    texts: Sequence[str]
    kinds: Sequence[str]


@dataclass
class SequenceFineTuneOptions:
    """Knobs of one sequence fine-tuning, recorded in the new version's card."""

    steps: int = 400
    batch_size: int = 24
    # Samples drawn into each batch on average (with replacement, augmented); the rest are synthetic
    # replay. Chosen on the gate's held-out quarter of the imported halves of names-dev and amounts-dev
    # (43 fields; bench/learning_loop.py --real reads the other halves), fine-tuning an epoch-14
    # snapshot of sequence@1: with 8 a batch and keep_share 0.3 their character errors fell 15 %, with
    # 12 and no weight mixing 31 %; the synthetic base validation rose in both.
    samples_per_batch: int = 12
    learning_rate: float = 3e-4
    # Keep batch norm's statistics and scales: a few hundred fields would pull them to one style.
    freeze_batch_norm: bool = True
    # Share of the weights before fine-tuning mixed back in afterwards (0: keep the fine-tuned ones, as
    # chosen above; the replay keeps the base validation).
    keep_share: float = 0.0
    # Fine-tuning stops early past this many seconds, so a slow machine still finishes a retraining.
    time_budget_s: float = 600.0
    base_fields_per_kind: int = BASE_FIELDS_PER_KIND
    seed: int = 0

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class SequenceRetrainOutcome:
    card: dict
    decision: GateDecision
    champion: dict
    challenger: dict
    train_count: int
    holdout_count: int
    seconds: float


def check_sample_text(kind: str, text: str) -> str | None:
    """Why a text cannot train the sequence reader as a field of `kind` (None when it can; an empty text
    is a blank field)."""
    if kind not in READ_ALPHABETS:
        return f"unknown field kind {kind!r}"
    kept = READ_ALPHABETS[kind]["kept"]
    outside = sorted({character for character in text if character not in kept or character not in CLASS_OF})
    if outside:
        return f"{''.join(outside)!r} is outside the {kind} alphabet"
    if len(text) > MAX_TEXT_LENGTH:
        return f"the text is longer than {MAX_TEXT_LENGTH} characters"
    return None


def marks_unlabelled(kind: str, text: str) -> bool:
    """An amount labelled without any separator ("22970" for "22,970/-") leaves its marks unlabelled."""
    return kind == "amount" and not any(character in AMOUNT_MARKS for character in text)


def split_samples(samples: FieldSamples) -> tuple[list[int], list[int], list[int]]:
    """Positions of the usable samples, of those trained on and of those held out (by id, stable)."""
    if not (len(samples.ids) == len(samples.images) == len(samples.texts) == len(samples.kinds)):
        raise ValueError("sample ids, images, texts and kinds differ in length")
    usable = [
        position
        for position in range(len(samples.ids))
        if check_sample_text(samples.kinds[position], samples.texts[position]) is None
        and fits_ctc(prepare_field(samples.images[position]), samples.texts[position])
    ]
    held_out = [position for position in usable if is_held_out(int(samples.ids[position]))]
    held_out_set = set(held_out)
    trained_on = [position for position in usable if position not in held_out_set]
    if not trained_on:
        raise ValueError("no samples to train on: every usable sample is in the held-out share")
    return usable, trained_on, held_out


# --- synthetic data: the replay and the base validation --------------------------------------------


def glyph_source(mnist_dir: Path, split: str):
    """MNIST digits of one split as the synthesizer's glyphs (the letters come from the fonts)."""
    from recognition.engine.characters.datasets import load_mnist
    from recognition.engine.sequences.synth import GlyphSource

    try:
        mnist = load_mnist(mnist_dir, split)
    except FileNotFoundError as error:
        raise ValueError(
            f"no MNIST in {mnist_dir}: run `python manage.py fetch_data mnist` (the sequence reader's "
            "retraining writes its replay and base validation fields with it)"
        ) from error
    return GlyphSource.from_sets(mnist, None)


def base_validation_fields(
    mnist_dir: Path, per_kind: int = BASE_FIELDS_PER_KIND, seed: int = BASE_SEED
) -> list[tuple[np.ndarray, str, str]]:
    """(crop, truth, kind) of synthetic fields from MNIST train digits and the fonts, the same each call."""
    from recognition.engine.sequences.synth import FieldSynthesizer

    synthesizer = FieldSynthesizer(glyph_source(mnist_dir, "train"), seed=seed)
    random = np.random.default_rng(seed)
    fields = []
    for kind, family in BASE_FAMILIES.items():
        for _ in range(per_kind):
            text = None
            if kind == "digits":
                text = "".join(random.choice(list("0123456789"), int(random.integers(2, 11))))
            elif kind == "alnum":
                text = "".join(
                    random.choice(list("0123456789ABCDEFGHJKLMNPRSTUVWXYZ"), int(random.integers(3, 10)))
                )
            crop, truth, _ = synthesizer.field(family, text)
            if kind == "date":
                truth = "".join(character for character in truth if character.isdigit())
            fields.append((crop, truth, kind))
    return fields


def replay_synthesizer(mnist_dir: Path, seed: int, texts: Sequence[str], kinds: Sequence[str]):
    """Synthetic replay from MNIST train digits and the fonts; the samples' own names and words join
    its vocabulary, so the replay also writes them in other hands."""
    from recognition.engine.sequences.synth import FieldSynthesizer

    vocabulary = {
        "names": sorted({word for text, kind in zip(texts, kinds, strict=True) if kind == "letters"
                         for word in text.split()}),
        "words": sorted({text for text, kind in zip(texts, kinds, strict=True) if kind == "text"}),
    }  # fmt: skip
    vocabulary = {family: words for family, words in vocabulary.items() if words}
    return FieldSynthesizer(glyph_source(mnist_dir, "train"), seed=seed, vocabulary=vocabulary or None)


class MixedFieldFeeder:
    """Batches of (images, packed CTC targets): `samples_per_batch` samples a batch on average, the
    rest synthetic replay; cut from a pool sorted by width, so little of a batch is padding."""

    def __init__(
        self,
        images: list[np.ndarray],
        texts: list[str],
        kinds: list[str],
        synthesizer,
        options: SequenceFineTuneOptions,
    ):
        self.images, self.texts, self.kinds = images, texts, kinds
        self.synthesizer = synthesizer
        self.options = options
        self.random = np.random.default_rng(options.seed)
        self.pending: list[tuple[np.ndarray, np.ndarray]] = []

    def _sample(self) -> tuple[np.ndarray, str, bool]:
        index = int(self.random.integers(len(self.images)))
        image = prepare_field(augment_real(self.images[index], self.random))
        return image, self.texts[index], marks_unlabelled(self.kinds[index], self.texts[index])

    def _replay(self) -> tuple[np.ndarray, str, bool]:
        gray, text, _ = self.synthesizer.field()
        return prepare_field(gray), text, False

    def _draw(self) -> tuple[np.ndarray, str, bool]:
        size = self.options.batch_size
        share = min(self.options.samples_per_batch, size) / size
        return self._sample() if self.random.random() < share else self._replay()

    def batch(self) -> tuple[np.ndarray, np.ndarray]:
        if not self.pending:
            self.pending = pooled_batches(self._draw, self.options.batch_size, self.random)
        return self.pending.pop()


# --- fine-tuning, measuring, the verdict -----------------------------------------------------------


def load_network(version_dir: Path):
    import keras

    from recognition.engine.sequences.network import PackedCTCLoss

    return keras.models.load_model(
        Path(version_dir) / MODEL_FILE, compile=False, custom_objects={"PackedCTCLoss": PackedCTCLoss}
    )


def fine_tune_sequence(
    model,
    feeder: MixedFieldFeeder,
    options: SequenceFineTuneOptions,
    on_step: Callable[[int, int], None] | None = None,
) -> dict:
    """Continue training `model` (changed in place) on the feeder's batches; returns its history."""
    import keras

    from recognition.engine.characters.networks import all_layers
    from recognition.engine.sequences.network import PackedCTCLoss

    if options.steps < 1:
        raise ValueError("steps must be at least 1")
    keras.utils.set_random_seed(options.seed)
    reseed_random_layers(model, options.seed)
    if options.freeze_batch_norm:
        for layer in all_layers(model):
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = False
    original = model.get_weights()
    schedule = keras.optimizers.schedules.CosineDecay(options.learning_rate, options.steps, alpha=0.1)
    model.compile(optimizer=keras.optimizers.Adam(schedule, clipnorm=5.0), loss=PackedCTCLoss())
    started = time.monotonic()
    losses = []
    for step in range(1, options.steps + 1):
        losses.append(float(model.train_on_batch(*feeder.batch())))
        if on_step is not None:
            on_step(step, options.steps)
        if time.monotonic() - started > options.time_budget_s:
            break
    if options.keep_share > 0:
        # Weight-space interpolation with the model before fine-tuning (as in WiSE-FT): most of what the
        # samples taught stays, most of the drift on everything else goes.
        model.set_weights(
            [
                options.keep_share * old + (1.0 - options.keep_share) * new
                for old, new in zip(original, model.get_weights(), strict=True)
            ]
        )
    return {"loss": [round(value, 4) for value in losses], "seconds": round(time.monotonic() - started, 1)}


def field_figures(model, crops: list[np.ndarray], truths: list[str], kinds: list[str]) -> dict | None:
    """Character accuracy and exact share of fields read greedily as their kinds; None without fields."""
    from recognition.engine.sequences.training import greedy_readings

    if not crops:
        return None
    readings: list[str | None] = [None] * len(crops)
    for kind in sorted(set(kinds)):
        positions = [position for position, other in enumerate(kinds) if other == kind]
        read = greedy_readings(model, [prepare_field(crops[position]) for position in positions], kind)
        for position, text in zip(positions, read, strict=True):
            readings[position] = text
    errors = characters = exact = 0
    for truth, reading, kind in zip(truths, readings, kinds, strict=True):
        truth, reading = comparable(kind, truth), comparable(kind, reading)
        errors += edit_distance(truth, reading)
        characters += len(truth)
        exact += truth == reading
    return {
        "fields": len(crops),
        "characters": characters,
        "character_accuracy": round(1 - errors / max(characters, 1), 5),
        "exact": round(exact / len(crops), 5),
    }


def _measure(model, base: list, holdout: tuple[list, list, list]) -> dict:
    """The figures the gate compares: base validation and held-out samples, character accuracy."""
    base_figures = field_figures(model, *map(list, zip(*base, strict=True)))
    holdout_figures = field_figures(model, *holdout)
    return {
        "base_accuracy": base_figures["character_accuracy"],
        "base_exact": base_figures["exact"],
        "base_fields": base_figures["fields"],
        "corrections_accuracy": holdout_figures["character_accuracy"] if holdout_figures else None,
        "corrections_exact": holdout_figures["exact"] if holdout_figures else None,
        "corrections_count": holdout_figures["fields"] if holdout_figures else 0,
    }


def retrain_sequence(
    *,
    champion_dir: Path,
    new_version_dir: Path,
    samples: FieldSamples,
    mnist_dir: Path,
    options: SequenceFineTuneOptions | None = None,
    on_progress: Callable[[float, str], None] | None = None,
) -> SequenceRetrainOutcome:
    """Fine-tune the sequence version in champion_dir on the samples, judge it against the champion and
    write it to new_version_dir with the verdict in its card (acting on it is the caller's business)."""
    options = options or SequenceFineTuneOptions()
    report = on_progress or (lambda fraction, message: None)
    started = time.monotonic()
    champion_card = json.loads((Path(champion_dir) / CARD_FILE).read_text(encoding="utf-8"))
    usable, trained_on, held_out = split_samples(samples)

    def pick(positions: list[int]) -> tuple[list, list, list]:
        return (
            [samples.images[position] for position in positions],
            [samples.texts[position] for position in positions],
            [samples.kinds[position] for position in positions],
        )

    holdout = pick(held_out)
    report(0.01, "writing the base validation fields")
    base = base_validation_fields(mnist_dir, options.base_fields_per_kind)
    report(0.03, "evaluating the active model")
    champion = load_network(champion_dir)
    champion_metrics = _measure(champion, base, holdout)
    del champion

    challenger = load_network(champion_dir)
    train_images, train_texts, train_kinds = pick(trained_on)
    feeder = MixedFieldFeeder(
        train_images,
        train_texts,
        train_kinds,
        replay_synthesizer(mnist_dir, options.seed, train_texts, train_kinds),
        options,
    )
    history = fine_tune_sequence(
        challenger,
        feeder,
        options,
        on_step=lambda step, steps: report(0.08 + 0.82 * step / steps, f"fine-tuning {step}/{steps}"),
    )
    report(0.92, "evaluating the new model")
    challenger_metrics = _measure(challenger, base, holdout)
    decision = gate(champion_metrics, challenger_metrics)

    report(0.96, "writing the new version")
    card = {
        "kind": SEQUENCE_KIND,
        **{key: champion_card[key] for key in INHERITED_CARD_KEYS if key in champion_card},
        "version": Path(new_version_dir).name,
        "fine_tuned_from": champion_card.get("version") or Path(champion_dir).name,
        "fine_tuning": {
            **options.as_dict(),
            "steps_run": len(history["loss"]),
            "samples_trained": len(trained_on),
            "samples_held_out": len(held_out),
            "samples_unusable": len(samples.ids) - len(usable),
            "sample_kinds": {kind: train_kinds.count(kind) for kind in sorted(set(train_kinds))},
            "seconds": history["seconds"],
            "replay": "synthetic fields from MNIST train digits and handwriting fonts",
        },
        "history": {"loss": history["loss"]},
        "gate": {
            "champion": champion_metrics,
            "challenger": challenger_metrics,
            "promote": decision.promote,
            "reason": decision.reason,
            "base_validation": (
                f"{len(base)} synthetic fields ({options.base_fields_per_kind} per kind of "
                f"{', '.join(BASE_FAMILIES)}) from MNIST training digits and the fonts, seed {BASE_SEED}"
            ),
        },
        # The figure the Models page shows: here the synthetic base validation's character accuracy.
        "metrics": {
            "validation": {
                "accuracy": challenger_metrics["base_accuracy"],
                "set": "synthetic base validation (see gate.base_validation)",
            }
        },
    }
    write_sequence_version(challenger, card, Path(new_version_dir))
    report(1.0, "done")
    return SequenceRetrainOutcome(
        card=card,
        decision=decision,
        champion=champion_metrics,
        challenger=challenger_metrics,
        train_count=len(trained_on),
        holdout_count=len(held_out),
        seconds=time.monotonic() - started,
    )


def write_sequence_version(model, card: dict, version_dir: Path) -> None:
    """model.keras (the network alone), card.json and curves.png into a new folder; a failure part-way
    removes the folder again, so a half-written version never looks like a model."""
    import shutil

    import keras

    version_dir.mkdir(parents=True, exist_ok=False)
    try:
        # Rebuilt from its config, so the file carries no optimizer state and no compiled loss.
        inference = keras.Model.from_config(model.get_config())
        inference.set_weights(model.get_weights())
        inference.save(version_dir / MODEL_FILE)
        (version_dir / CARD_FILE).write_text(json.dumps(card, indent=1, ensure_ascii=False), encoding="utf-8")
        _plot_loss(card["history"]["loss"], version_dir / "curves.png")
    except BaseException:
        shutil.rmtree(version_dir, ignore_errors=True)
        raise


def _plot_loss(losses: list[float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 3.5))
    axis.plot(np.arange(1, len(losses) + 1), losses, linewidth=0.8)
    axis.set(title="fine-tuning CTC loss", xlabel="step")
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)
