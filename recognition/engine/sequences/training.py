"""Train the sequence reader: real crops mixed with synthetic fields, CTC, validation on real crops."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from recognition.engine.sequences.charset import CHARSET, encode, kept_text
from recognition.engine.sequences.evaluation import comparable, edit_distance
from recognition.engine.sequences.images import WIDTH_STRIDE, batch_images, prepare_field
from recognition.engine.sequences.realdata import REAL_SETS, RealSample, load_real_set, read_gray

MODEL_FILE = "model.keras"
CARD_FILE = "card.json"


@dataclass
class TrainingConfig:
    data_root: Path
    mnist_dir: Path
    femnist_dir: Path
    batch_size: int = 32
    steps_per_epoch: int = 250
    max_epochs: int = 40
    time_budget_s: float = 3600.0
    learning_rate: float = 1e-3
    real_share: float = 0.55
    # Within the real share, how often each set is drawn (the small amounts set is drawn often).
    real_weights: dict[str, float] = field(
        default_factory=lambda: {"names": 0.35, "words": 0.35, "amounts": 0.3}
    )
    patience: int = 3
    seed: int = 0
    validation_limit: int = 400


def augment_real(gray: np.ndarray, random: np.random.Generator) -> np.ndarray:
    """A real crop seen slightly differently: scale, shear, contrast, blur (the label stays true)."""
    height, width = gray.shape
    scale_x, scale_y = random.uniform(0.8, 1.2), random.uniform(0.8, 1.2)
    shear = random.uniform(-0.15, 0.15)
    matrix = np.float32([[scale_x, shear, max(0, -shear * height)], [0, scale_y, 0]])
    size = (int(width * scale_x + abs(shear) * height) + 1, int(height * scale_y) + 1)
    image = cv2.warpAffine(gray, matrix, size, borderMode=cv2.BORDER_REPLICATE)
    if random.random() < 0.3:
        image = cv2.GaussianBlur(image, (3, 3), random.uniform(0.3, 1.0))
    gain = random.uniform(0.7, 1.1)
    return np.clip(255 - (255 - image.astype(np.float32)) * gain, 0, 255).astype(np.uint8)


class BatchFeeder:
    """Batches of (images, packed CTC targets): real crops (augmented) and fresh synthetic fields."""

    def __init__(self, real: dict[str, list[tuple[np.ndarray, str]]], synthesizer, config: TrainingConfig):
        self.real = real
        self.synthesizer = synthesizer
        self.config = config
        self.random = np.random.default_rng(config.seed)
        names = [name for name in config.real_weights if real.get(name)]
        weights = np.array([config.real_weights[name] for name in names])
        self.real_names, self.real_probabilities = names, weights / weights.sum()
        self.pending: list[tuple[np.ndarray, np.ndarray]] = []

    def sample(self) -> tuple[np.ndarray, str, bool]:
        if self.real_names and self.random.random() < self.config.real_share:
            set_name = str(self.random.choice(self.real_names, p=self.real_probabilities))
            gray, text, unlabelled = self.real[set_name][int(self.random.integers(len(self.real[set_name])))]
            return prepare_field(augment_real(gray, self.random)), text, unlabelled
        gray, text, _ = self.synthesizer.field()
        return prepare_field(gray), text, False

    def batch(self) -> tuple[np.ndarray, np.ndarray]:
        """The next batch; batches are cut from a pool sorted by width, so little of them is padding."""
        if not self.pending:
            self.pending = pooled_batches(self.sample, self.config.batch_size, self.random)
        return self.pending.pop()


def fits_ctc(image: np.ndarray, text: str) -> bool:
    """Whether a prepared image has the columns CTC needs: one per character and one between repeats."""
    repeats = sum(1 for first, second in zip(text, text[1:], strict=False) if first == second)
    return image.shape[1] // WIDTH_STRIDE >= len(text) + repeats + 1


def pooled_batches(
    draw: Callable[[], tuple[np.ndarray, str, bool]],
    batch_size: int,
    random: np.random.Generator,
    pool_batches: int = 8,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """pool_batches batches of (images, packed CTC targets) from draw() -> (prepared image, text, marks
    unlabelled), cut from a pool sorted by width (little padding), in random order."""
    from recognition.engine.sequences.network import MAX_LABEL_LENGTH, pack_targets

    pool = []
    while len(pool) < batch_size * pool_batches:
        image, text, unlabelled = draw()
        if not fits_ctc(image, text) or len(text) > MAX_LABEL_LENGTH:
            continue
        pool.append((image, encode(text), unlabelled))
    pool.sort(key=lambda item: item[0].shape[1])
    batches = []
    for start in range(0, len(pool), batch_size):
        chunk = pool[start : start + batch_size]
        images, lengths = batch_images([item[0] for item in chunk])
        batches.append(
            (images, pack_targets([item[1] for item in chunk], lengths, [item[2] for item in chunk]))
        )
    random.shuffle(batches)
    return batches


def load_real(data_root: Path) -> tuple[dict, dict]:
    """({set: [(gray, text, marks unlabelled)]} for training, {set: [RealSample]} for validation)."""
    train, validation = {}, {}
    for set_name in REAL_SETS:
        try:
            train_samples, validation_samples = load_real_set(data_root, set_name)
        except FileNotFoundError:
            continue
        unlabelled = REAL_SETS[set_name][3]
        train[set_name] = [(read_gray(sample.path), sample.text, unlabelled) for sample in train_samples]
        validation[set_name] = validation_samples
    return train, validation


def label_marks(
    model, samples: list[tuple[np.ndarray, str, bool]], kind: str
) -> list[tuple[np.ndarray, str, bool]]:
    """Give crops labelled without their marks (amounts labelled by their digits) the separators a
    model reads in them, where its reading has exactly the labelled digits and passes the kind's rule;
    the rest stay unlabelled.

    A model that learnt separators on synthetic fields so teaches them on real checks too.
    """
    from recognition.engine.fields.rules import check_field

    readings = greedy_readings(model, [prepare_field(gray) for gray, _, _ in samples], kind)
    relabelled = []
    for (gray, text, unlabelled), reading in zip(samples, readings, strict=True):
        digits = "".join(character for character in reading if character.isdigit())
        if unlabelled and digits == text and reading != text and not check_field(kind, reading):
            relabelled.append((gray, reading, False))
        else:
            relabelled.append((gray, text, unlabelled))
    return relabelled


def greedy_readings(model, images: list[np.ndarray], kind: str, batch_size: int = 32) -> list[str]:
    """Greedy readings of prepared images as a field kind (for validation during training)."""
    from recognition.engine.sequences.decode import decode_kind, greedy, softmax

    readings = []
    order = np.argsort([image.shape[1] for image in images])
    by_index = {}
    for start in range(0, len(order), batch_size):
        chunk = [int(index) for index in order[start : start + batch_size]]
        batch, lengths = batch_images([images[index] for index in chunk])
        logits = np.asarray(model.predict_on_batch(batch))
        for index, length, row in zip(chunk, lengths, logits, strict=True):
            probabilities, alphabet = decode_kind(softmax(row[:length]), kind)
            by_index[index] = kept_text(kind, greedy(probabilities, alphabet))
    readings = [by_index[index] for index in range(len(images))]
    return readings


def evaluate(model, validation: dict[str, list[RealSample]], limit: int | None = None) -> dict:
    """Character accuracy and exact share per real validation set (greedy decoding)."""
    figures = {}
    for set_name, samples in validation.items():
        if limit and len(samples) > limit:
            # An even spread over the set (its files come sorted by writer), the same every epoch.
            samples = samples[:: len(samples) // limit][:limit]
        images = [prepare_field(read_gray(sample.path)) for sample in samples]
        readings = greedy_readings(model, images, REAL_SETS[set_name][1])
        errors = characters = exact = 0
        for sample, reading in zip(samples, readings, strict=True):
            kind = REAL_SETS[set_name][1]
            truth, read = comparable(kind, sample.text), comparable(kind, reading)
            errors += edit_distance(truth, read)
            characters += len(truth)
            exact += truth == read
        figures[set_name] = {
            "fields": len(samples),
            "character_accuracy": round(1 - errors / max(characters, 1), 4),
            "exact": round(exact / max(len(samples), 1), 4),
        }
    return figures


def train_sequence_reader(
    config: TrainingConfig,
    output_dir: Path,
    progress: Callable[[str], None] = print,
    model=None,
    on_step: Callable[[int, int, float], None] | None = None,
) -> dict:
    """Train (or continue training `model`), keep the best weights on the real validation sets, write
    model.keras and card.json into output_dir; returns the card. on_step(step, steps, loss) is called
    after every batch (a progress bar)."""
    import keras

    from recognition.engine.characters.datasets import load_femnist_dev, load_mnist, split_by_writer
    from recognition.engine.sequences.network import PackedCTCLoss, build_model
    from recognition.engine.sequences.synth import FieldSynthesizer, GlyphSource

    keras.utils.set_random_seed(config.seed)
    started = time.time()
    real_train, validation = load_real(config.data_root)
    if model is not None:
        for set_name, samples in real_train.items():
            if samples and REAL_SETS[set_name][3]:
                real_train[set_name] = label_marks(model, samples, REAL_SETS[set_name][1])
                marked = sum(not unlabelled for _, _, unlabelled in real_train[set_name])
                progress(
                    f"{set_name}: {marked} of {len(samples)} labelled with the separators the model reads"
                )
    mnist = load_mnist(config.mnist_dir, "train") if config.mnist_dir.exists() else None
    femnist = load_femnist_dev(config.femnist_dir) if config.femnist_dir.exists() else None
    if femnist is not None:
        femnist_train, _ = split_by_writer(femnist.writers, 0.15, seed=config.seed)
        femnist = femnist.subset(femnist_train)
    vocabulary = {
        "names": [text for _, text, _ in real_train.get("names", [])],
        "words": [text for _, text, _ in real_train.get("words", [])],
    }
    synthesizer = FieldSynthesizer(
        GlyphSource.from_sets(mnist, femnist), seed=config.seed, vocabulary=vocabulary
    )
    feeder = BatchFeeder(real_train, synthesizer, config)
    model = model or build_model()
    optimizer = keras.optimizers.Adam(config.learning_rate, clipnorm=5.0)
    model.compile(optimizer=optimizer, loss=PackedCTCLoss())
    output_dir.mkdir(parents=True, exist_ok=True)
    history, best, best_epoch, waited = [], None, 0, 0
    for epoch in range(1, config.max_epochs + 1):
        losses = []
        for step in range(1, config.steps_per_epoch + 1):
            losses.append(float(model.train_on_batch(*feeder.batch())))
            if on_step is not None:
                on_step(step, config.steps_per_epoch, losses[-1])
            elif step % 50 == 0:
                progress(
                    f"epoch {epoch} step {step}/{config.steps_per_epoch} loss {np.mean(losses[-50:]):.3f}"
                )
        figures = evaluate(model, validation, config.validation_limit)
        score = float(np.mean([1 - entry["character_accuracy"] for entry in figures.values()]))
        history.append({"epoch": epoch, "loss": round(float(np.mean(losses)), 4), "validation": figures,
                        "learning_rate": float(keras.ops.convert_to_numpy(optimizer.learning_rate)),
                        "elapsed_s": round(time.time() - started)})  # fmt: skip
        progress(json.dumps(history[-1]))
        if best is None or score < best:
            best, best_epoch, waited = score, epoch, 0
            model.save(output_dir / MODEL_FILE)
        else:
            waited += 1
            if waited >= config.patience:
                optimizer.learning_rate.assign(
                    float(keras.ops.convert_to_numpy(optimizer.learning_rate)) * 0.3
                )
                waited = 0
        (output_dir / "history.json").write_text(json.dumps(history, indent=1))
        if time.time() - started > config.time_budget_s:
            break
    card = {
        "kind": "sequence",
        "charset": CHARSET,
        "best_epoch": best_epoch,
        "epochs": len(history),
        "steps_per_epoch": config.steps_per_epoch,
        "batch_size": config.batch_size,
        "training_time_s": round(time.time() - started),
        "data": {
            "real_train": {name: len(samples) for name, samples in real_train.items()},
            "real_validation": {name: len(samples) for name, samples in validation.items()},
            "real_share_of_batches": config.real_share,
            "synthetic": "fields from MNIST train, femnist-dev (85 % of its writers) and handwriting fonts",
        },
        "history": history,
    }
    (output_dir / CARD_FILE).write_text(json.dumps(card, indent=1, ensure_ascii=False))
    return card


def train_version(
    model_dir: Path,
    config: TrainingConfig,
    *,
    from_version: str | None = None,
    activate: bool = False,
    progress: Callable[[str], None] = print,
    on_step: Callable[[int, int, float], None] | None = None,
    command: str = "",
) -> tuple[str, dict]:
    """Train models/sequence/<next version>/, calibrate it on the validation sets, write its card and
    plots; it becomes active when asked or when it is the first. Returns (version, card)."""
    import keras

    from recognition.engine.learning.versions import next_version
    from recognition.engine.sequences.network import PackedCTCLoss
    from recognition.engine.sequences.reader import SEQUENCE_KIND
    from recognition.engine.sequences.report import finish_version

    kind_dir = Path(model_dir) / SEQUENCE_KIND
    model = None
    if from_version:
        start = kind_dir / from_version / MODEL_FILE
        if not start.exists():
            raise FileNotFoundError(f"no sequence version {from_version} to start from ({start})")
        model = keras.models.load_model(start, custom_objects={"PackedCTCLoss": PackedCTCLoss}, compile=False)
    version = next_version(kind_dir)
    version_dir = kind_dir / version
    try:
        card = train_sequence_reader(config, version_dir, progress, model, on_step)
        # What ships is the network alone: the optimizer's state would triple the file.
        keras.models.load_model(
            version_dir / MODEL_FILE, custom_objects={"PackedCTCLoss": PackedCTCLoss}, compile=False
        ).save(version_dir / MODEL_FILE)
        card.update({"version": version, "from": from_version, "command": command})
        (version_dir / CARD_FILE).write_text(json.dumps(card, indent=1, ensure_ascii=False), encoding="utf-8")
        card = finish_version(version_dir, config.data_root, config.femnist_dir, progress)
    except BaseException:
        # A run that fails or is interrupted leaves no half-made version that would look like a model.
        shutil.rmtree(version_dir, ignore_errors=True)
        raise
    active_file = kind_dir / "ACTIVE"
    if activate or not active_file.exists():
        active_file.write_text(version + "\n")
    return version, card
