"""Training pieces: data per model kind, an augmenting batch feeder, the fit loop, evaluation."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from recognition.engine.characters import datasets
from recognition.engine.characters.metrics import classification_report
from recognition.engine.characters.pairs import (
    PAIR_CLASSES,
    PAIR_KIND,
    PAIR_THRESHOLD,
    SINGLE_COUNT,
    pair_label,
    pair_probability,
)
from recognition.engine.characters.preprocess import (
    augment_batch,
    cut_into_fragments,
    prepare_batch,
    touching_pair,
)

# Lower-case letters written with the same shape as their capital (measured on femnist-dev, see docs).
CAPITAL_LOOKALIKES = ("c", "k", "o", "p", "s", "u", "v", "w", "x", "y", "z")
KIND_CLASSES = {
    "digits": datasets.DIGIT_CLASSES,
    "letters": datasets.CAPITAL_CLASSES,
    "alnum": datasets.DIGIT_CLASSES + datasets.CAPITAL_CLASSES,
    # The touching-pair reader of free digit fields (recognition.engine.characters.pairs): single digits
    # first, so the digit data's labels are its labels too, then the 100 ordered pairs.
    PAIR_KIND: PAIR_CLASSES,
}
DIGIT_DATA_KINDS = ("digits", "alnum", PAIR_KIND)
# Held-out touching pairs added to the pair reader's validation, made from validation digits only.
VALIDATION_PAIR_COUNT = 3000


@dataclass
class TrainingData:
    """Prepared (N, 28, 28, 1) float inputs for training and validation with their labels and provenance."""

    classes: list[str]
    train_inputs: np.ndarray
    train_labels: np.ndarray
    validation_inputs: np.ndarray
    validation_labels: np.ndarray
    # Names of validation subsets (e.g. "femnist writers held out") and their boolean masks.
    validation_groups: dict[str, np.ndarray] = field(default_factory=dict)
    description: dict = field(default_factory=dict)


def _prepare(dataset: datasets.CharacterSet) -> np.ndarray:
    """Run every image through the serving preprocessing so training sees exactly what serving sees."""
    return prepare_batch(list(dataset.images))


def assemble_data(
    kind: str,
    mnist_dir: Path | None,
    femnist_dir: Path | None,
    validation_fraction: float = 0.2,
    mnist_validation_count: int = 5000,
    use_lookalikes: bool = True,
    seed: int = 0,
    limit: int | None = None,
    synthetic_variants: int = 0,
    split_seed: int | None = None,
) -> TrainingData:
    """Collect and split the data for one model kind.

    femnist-dev is split by writer, so validation writers are never seen in training; MNIST train is
    split at random (its writers are unknown). MNIST test is never touched here. split_seed (default:
    seed) fixes the splits alone, so runs with different seeds can be compared on the same validation.
    """
    split_seed = seed if split_seed is None else split_seed
    if kind not in KIND_CLASSES:
        raise ValueError(f"unknown kind {kind!r}")
    classes = list(KIND_CLASSES[kind])
    train_parts: list[datasets.CharacterSet] = []
    validation_parts: list[tuple[str, datasets.CharacterSet]] = []
    description: dict = {"train": {}, "validation": {}}

    if kind in DIGIT_DATA_KINDS and mnist_dir is not None:
        mnist_train, mnist_validation = _mnist_parts(
            mnist_dir, classes, limit, mnist_validation_count, split_seed, description
        )
        train_parts.append(mnist_train)
        validation_parts.append(("mnist train, held out", mnist_validation))

    if femnist_dir is not None:
        femnist_train, femnist_validation = _femnist_parts(
            femnist_dir, kind, classes, validation_fraction, use_lookalikes, split_seed, description
        )
        train_parts.extend(femnist_train)
        validation_parts.append(("femnist-dev writers held out", femnist_validation))

    if kind in ("letters", "alnum") and synthetic_variants > 0:
        rendered = _synthetic_capitals(classes, synthetic_variants, seed, description)
        if rendered is not None:
            train_parts.append(rendered)

    if not train_parts:
        raise ValueError(f"no data for kind {kind!r}: give an MNIST folder and/or femnist-dev folder")
    train_set = datasets.concatenate([part for part in train_parts])
    validation_inputs, validation_labels, groups = _validation_set(
        kind, validation_parts, split_seed, description
    )
    return TrainingData(
        classes=classes,
        train_inputs=_prepare(train_set),
        train_labels=train_set.labels,
        validation_inputs=validation_inputs,
        validation_labels=validation_labels,
        validation_groups=groups,
        description=description,
    )


def _mnist_parts(
    mnist_dir: Path,
    classes: list[str],
    limit: int | None,
    validation_count: int,
    split_seed: int,
    description: dict,
) -> tuple[datasets.CharacterSet, datasets.CharacterSet]:
    """MNIST train split at random into training and validation parts (counts go into description)."""
    mnist = datasets.load_mnist(mnist_dir, "train")
    if limit:
        mnist = mnist.subset(np.arange(min(limit, len(mnist))))
    mnist = datasets.select_classes(mnist, {name: name for name in datasets.DIGIT_CLASSES}, classes)
    mnist_train_mask, mnist_validation_mask = datasets.split_random(
        len(mnist), min(0.5, validation_count / len(mnist)), split_seed
    )
    description["train"]["mnist-train"] = int(mnist_train_mask.sum())
    description["validation"]["mnist-train held out"] = int(mnist_validation_mask.sum())
    return mnist.subset(mnist_train_mask), mnist.subset(mnist_validation_mask)


def _femnist_parts(
    femnist_dir: Path,
    kind: str,
    classes: list[str],
    validation_fraction: float,
    use_lookalikes: bool,
    split_seed: int,
    description: dict,
) -> tuple[list[datasets.CharacterSet], datasets.CharacterSet]:
    """femnist-dev split by writer: the training parts (with lower-case lookalikes as capitals for
    letter kinds) and the validation part (counts go into description)."""
    femnist = datasets.load_femnist_dev(femnist_dir)
    train_mask, validation_mask = datasets.split_by_writer(femnist.writers, validation_fraction, split_seed)
    wanted = {}
    if kind in DIGIT_DATA_KINDS:
        wanted.update({name: name for name in datasets.DIGIT_CLASSES})
    if kind in ("letters", "alnum"):
        wanted.update({name: name for name in datasets.CAPITAL_CLASSES})
    femnist_train = datasets.select_classes(femnist.subset(train_mask), wanted, classes)
    femnist_validation = datasets.select_classes(femnist.subset(validation_mask), wanted, classes)
    train_parts = [femnist_train]
    description["train"]["femnist-dev (train writers)"] = len(femnist_train)
    description["validation"]["femnist-dev (held-out writers)"] = len(femnist_validation)
    description["femnist_writers"] = {
        "train": len(np.unique(femnist.writers[train_mask])),
        "validation": len(np.unique(femnist.writers[validation_mask])),
        "split_seed": split_seed,
    }
    if kind in ("letters", "alnum") and use_lookalikes:
        lookalikes = datasets.select_classes(
            femnist.subset(train_mask), {letter: letter.upper() for letter in CAPITAL_LOOKALIKES}, classes
        )
        train_parts.append(lookalikes)
        description["train"]["femnist-dev lower case as capitals (" + "".join(CAPITAL_LOOKALIKES) + ")"] = (
            len(lookalikes)
        )
    return train_parts, femnist_validation


def _synthetic_capitals(
    classes: list[str], variants: int, seed: int, description: dict
) -> datasets.CharacterSet | None:
    """Capitals rendered from the handwriting fonts found on this machine; None without fonts."""
    fonts = datasets.find_synthetic_fonts()
    if not fonts:
        return None
    rendered = datasets.render_font_characters(datasets.CAPITAL_CLASSES, fonts, variants=variants, seed=seed)
    rendered = datasets.select_classes(rendered, {name: name for name in datasets.CAPITAL_CLASSES}, classes)
    # Fonts have no writer ids comparable with femnist's; the concatenation drops writers anyway.
    description["train"][f"synthetic capitals ({len(fonts)} fonts x {variants})"] = len(rendered)
    return rendered


def _validation_set(
    kind: str,
    validation_parts: list[tuple[str, datasets.CharacterSet]],
    split_seed: int,
    description: dict,
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """The prepared validation inputs and labels, and a mask per named part (the pair reader's
    validation adds touching pairs made from the held-out digits)."""
    prepared_parts = [(name, _prepare(part), part.labels) for name, part in validation_parts]
    if kind == PAIR_KIND:
        singles = np.concatenate([inputs for _, inputs, _ in prepared_parts])
        single_labels = np.concatenate([labels for _, _, labels in prepared_parts])
        pair_inputs, pair_labels = make_pairs(singles, single_labels, VALIDATION_PAIR_COUNT, split_seed)
        prepared_parts.append(("touching pairs of held-out digits", pair_inputs, pair_labels))
        description["validation"]["touching pairs of held-out digits"] = VALIDATION_PAIR_COUNT
    validation_inputs = np.concatenate([inputs for _, inputs, _ in prepared_parts])
    validation_labels = np.concatenate([labels for _, _, labels in prepared_parts])
    groups = {}
    start = 0
    for name, _, labels in prepared_parts:
        mask = np.zeros(len(validation_labels), dtype=bool)
        mask[start : start + len(labels)] = True
        groups[name] = mask
        start += len(labels)
    return validation_inputs, validation_labels, groups


def make_pairs(
    inputs: np.ndarray, labels: np.ndarray, count: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """count touching pairs of prepared single digits drawn at random, with their pair-reader labels."""
    generator = np.random.default_rng(seed)
    first = generator.integers(len(labels), size=count)
    second = generator.integers(len(labels), size=count)
    images = [
        touching_pair(inputs[one, :, :, 0], inputs[other, :, :, 0], generator)
        for one, other in zip(first, second, strict=True)
    ]
    return np.stack(images)[..., None].astype(np.float32), pair_label(labels[first], labels[second])


def sampling_weights(labels: np.ndarray, num_classes: int, balance_power: float) -> np.ndarray:
    """Per-sample probabilities proportional to class_count ** -balance_power (0: as is, 1: balanced)."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    weights = np.where(counts[labels] > 0, counts[labels] ** -balance_power, 0.0)
    return weights / weights.sum()


def add_form_crops(data: TrainingData, path: Path) -> int:
    """Add labelled character images cut out of forms (bench/make_form_crops.py) to the training set.

    The file holds `images` (N, 28, 28) uint8 already prepared (white ink on black, as
    prepare_character returns them, times 255), `labels` (indices into `classes`) and `classes`.
    They join training only: validation stays clean scans of held-out writers. Returns N.
    """
    try:
        with np.load(path) as archive:
            images, labels, classes = (
                archive["images"],
                archive["labels"],
                [str(name) for name in archive["classes"]],
            )
    except (OSError, KeyError, ValueError) as error:
        raise ValueError(f"{path} is not a form-crops file (images, labels, classes): {error}") from error
    if images.ndim != 3 or images.shape[1:] != (28, 28) or len(images) != len(labels):
        raise ValueError(
            f"{path}: expected (N, 28, 28) images and N labels, got {images.shape} and {labels.shape}"
        )
    unknown = sorted(set(classes) - set(data.classes))
    if unknown:
        raise ValueError(f"{path} has classes {unknown} that a {'/'.join(data.classes[:3])}... model lacks")
    mapping = np.array([data.classes.index(name) for name in classes])
    data.train_inputs = np.concatenate([data.train_inputs, (images.astype(np.float32) / 255.0)[..., None]])
    data.train_labels = np.concatenate([data.train_labels, mapping[labels]])
    data.description["train"][f"form crops ({Path(path).name})"] = len(labels)
    return len(labels)


def make_batch_feeder(
    inputs: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    augment: bool,
    seed: int = 0,
    steps_per_epoch: int | None = None,
    probabilities: np.ndarray | None = None,
    artifact_probability: float = 0.0,
    elastic_probability: float = 0.0,
    stroke_change_probability: float = 0.3,
    pair_probability: float = 0.0,
    num_classes: int | None = None,
    scan_probability: float = 0.0,
    pair_classes: bool = False,
    fragment_probability: float = 0.0,
    fragment_labels: np.ndarray | None = None,
):
    """A keras.utils.PyDataset serving (possibly augmented) batches, reshuffled every epoch.

    With pair_probability > 0 a share of each batch is replaced by two of its characters touching
    (preprocess.touching_pair). With pair_classes (the pair reader) such a pair gets its own class
    (pairs.pair_label); otherwise the targets are one-hot rows, uniform for those pairs: no class is
    right for them (outlier exposure). With fragment_probability > 0 a share is replaced by one side
    of a wide character cut in two (preprocess.character_fragment), also with a uniform target;
    fragment_labels, when given, are the only labels cut (the characters neither side of which looks
    like the character itself).
    Without pairs or fragments, targets are class indices.
    """
    if (pair_probability > 0 or fragment_probability > 0) and not num_classes:
        raise ValueError("touching pairs and fragments need num_classes for their targets")
    if pair_classes and fragment_probability > 0:
        raise ValueError("fragments have no class of the pair reader")
    if pair_classes and num_classes != len(PAIR_CLASSES):
        raise ValueError(f"pair classes need the {len(PAIR_CLASSES)} classes of the pair reader")
    uniform_targets = (pair_probability > 0 and not pair_classes) or fragment_probability > 0
    one_hot = np.eye(num_classes, dtype=np.float32) if uniform_targets else None
    import keras

    class BatchFeeder(keras.utils.PyDataset):
        """Augments on the fly with OpenCV in the training process (cheap next to the model's work)."""

        def __init__(self):
            super().__init__(workers=1, use_multiprocessing=False)
            self.generator = np.random.default_rng(seed)
            self.steps = steps_per_epoch or int(np.ceil(len(labels) / batch_size))
            self.on_epoch_end()

        def __len__(self):
            return self.steps

        def on_epoch_end(self):
            count = self.steps * batch_size
            if probabilities is None:
                order = np.concatenate(
                    [
                        self.generator.permutation(len(labels))
                        for _ in range(int(np.ceil(count / len(labels))))
                    ]
                )
            else:
                order = self.generator.choice(len(labels), size=count, p=probabilities)
            self.order = order[:count]

        def __getitem__(self, index):
            chosen = self.order[index * batch_size : (index + 1) * batch_size]
            batch = inputs[chosen]
            if augment:
                batch = augment_batch(
                    batch,
                    self.generator,
                    artifact_probability=artifact_probability,
                    elastic_probability=elastic_probability,
                    stroke_change_probability=stroke_change_probability,
                    scan_probability=scan_probability,
                )
            if pair_probability <= 0 and fragment_probability <= 0:
                return batch, labels[chosen]
            single_labels = labels[chosen]
            targets = single_labels.copy() if pair_classes else one_hot[single_labels]
            singles = batch[..., 0].copy()  # pairs are made of single characters only
            draws = self.generator.random(len(chosen))
            cut = draws >= 1.0 - fragment_probability
            if fragment_labels is not None:
                cut &= np.isin(single_labels, fragment_labels)
            # Before the pairs, so batch still holds the single characters here.
            fragments = cut_into_fragments(batch[..., 0], np.flatnonzero(cut), self.generator)
            targets[fragments] = 1.0 / num_classes
            for index in np.flatnonzero(draws < pair_probability):
                other = int(self.generator.integers(len(chosen)))
                batch[index, :, :, 0] = touching_pair(singles[index], singles[other], self.generator)
                if pair_classes:
                    targets[index] = pair_label(single_labels[index], single_labels[other])
                else:
                    targets[index] = 1.0 / num_classes
            return batch, targets

    return BatchFeeder()


def transfer_weights(source_model, target_model) -> list[str]:
    """Copy weights layer by layer where names and shapes agree (the new output layer stays fresh)."""
    copied = []
    source_layers = {layer.name: layer for layer in source_model.layers}
    for layer in target_model.layers:
        source = source_layers.get(layer.name)
        if source is None or not layer.weights:
            continue
        source_weights = source.get_weights()
        if [weight.shape for weight in source_weights] == [tuple(weight.shape) for weight in layer.weights]:
            layer.set_weights(source_weights)
            copied.append(layer.name)
    return copied


@dataclass
class TrainingOptions:
    """Knobs of one training run, recorded in the model card."""

    epochs: int = 20
    batch_size: int = 128
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    patience: int = 6
    architecture: str = "compact"
    width: int = 16
    dropout: float = 0.3
    augment: bool = True
    balance_power: float = 0.0
    steps_per_epoch: int | None = None
    # Share of training images given what a printed box does to handwriting (preprocess.form_artifacts).
    artifact_probability: float = 0.0
    # Share of training images bent by a random smooth displacement (preprocess.elastic_distortion).
    elastic_probability: float = 0.0
    # Share of training images whose strokes are made thinner or bolder (half each; augment_batch).
    stroke_change_probability: float = 0.3
    # Share of training images replaced by two touching characters: with a uniform target (digits: so
    # that a free field's touching pair is not read as one sure digit), or with the pair's own class
    # for the pair reader (kind digit-pairs).
    pair_probability: float = 0.0
    # Share of training images given solid pen strokes and a scanner's blur (preprocess.scanned_stroke).
    scan_probability: float = 0.0
    # Share of training images replaced by one side of a wide character cut in two, with a uniform
    # target (preprocess.character_fragment): what cutting a free field through a U or an M gives.
    fragment_probability: float = 0.0
    # The classes cut into fragments ("" for all): those neither side of which looks like the whole
    # (one side of an E is still an E; one side of a U is no letter).
    fragment_classes: str = ""
    seed: int = 0


def class_indices(classes: list[str], names: str) -> list[int] | None:
    """The indices of the named classes (a string of one-character class names); None for none named,
    which means every class (the --fragment-classes default)."""
    return [classes.index(name) for name in names] if names else None


def fit(
    data: TrainingData,
    options: TrainingOptions,
    initial_model=None,
    on_batch: Callable[[int, int, dict], None] | None = None,
    on_epoch: Callable[[int, dict], None] | None = None,
):
    """Build (or transfer into) a model and train it; returns (model, history dict, seconds, transferred)."""
    import keras

    from recognition.engine.characters.networks import build_model

    keras.utils.set_random_seed(options.seed)
    model = build_model(len(data.classes), options.architecture, options.dropout, options.width)
    transferred = transfer_weights(initial_model, model) if initial_model is not None else []
    probabilities = None
    if options.balance_power > 0:
        probabilities = sampling_weights(data.train_labels, len(data.classes), options.balance_power)
    pair_share = options.pair_probability if options.augment else 0.0
    fragment_share = options.fragment_probability if options.augment else 0.0
    pair_classes = data.classes == PAIR_CLASSES
    # The feeder only calls augment_batch when augmenting, so the augmentation shares go as they are;
    # touching pairs are made outside it and need switching off here.
    feeder = make_batch_feeder(
        data.train_inputs,
        data.train_labels,
        options.batch_size,
        options.augment,
        options.seed,
        options.steps_per_epoch,
        probabilities,
        artifact_probability=options.artifact_probability,
        elastic_probability=options.elastic_probability,
        stroke_change_probability=options.stroke_change_probability,
        pair_probability=pair_share,
        num_classes=len(data.classes),
        scan_probability=options.scan_probability,
        pair_classes=pair_classes,
        fragment_probability=fragment_share,
        fragment_labels=class_indices(data.classes, options.fragment_classes),
    )
    steps = len(feeder)
    # With touching pairs or fragments the feeder gives one-hot targets (uniform rows for those),
    # unless the pairs have classes of their own.
    one_hot = (pair_share > 0 and not pair_classes) or fragment_share > 0
    validation_targets = (
        np.eye(len(data.classes), dtype=np.float32)[data.validation_labels]
        if one_hot
        else data.validation_labels
    )
    total_steps = max(1, steps * options.epochs)
    warmup_steps = min(steps, total_steps // 5)
    # Linear warm-up then cosine decay: a one-cycle-like schedule that needs no tuning of milestones.
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=options.learning_rate / 20,
        decay_steps=total_steps - warmup_steps,
        alpha=0.01,
        warmup_target=options.learning_rate,
        warmup_steps=warmup_steps,
    )
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=schedule, weight_decay=options.weight_decay),
        loss="categorical_crossentropy" if one_hot else "sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )

    class ProgressCallback(keras.callbacks.Callback):
        """Forwards progress to the caller (the management command draws the bar)."""

        def on_train_batch_end(self, batch, logs=None):
            if on_batch:
                on_batch(batch + 1, steps, logs or {})

        def on_epoch_end(self, epoch, logs=None):
            if on_epoch:
                on_epoch(epoch + 1, logs or {})

    callbacks = [
        keras.callbacks.EarlyStopping(
            monitor="val_accuracy", patience=options.patience, restore_best_weights=True, mode="max"
        ),
        ProgressCallback(),
    ]
    started = time.monotonic()
    history = model.fit(
        feeder,
        validation_data=(data.validation_inputs, validation_targets),
        epochs=options.epochs,
        callbacks=callbacks,
        verbose=0,
    )
    return model, history.history, time.monotonic() - started, transferred


def predict_labels(model, inputs: np.ndarray, batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """(predicted labels, probabilities) for prepared inputs, batched."""
    parts = [
        np.asarray(model(inputs[start : start + batch_size], training=False))
        for start in range(0, len(inputs), batch_size)
    ]
    probabilities = np.concatenate(parts) if parts else np.zeros((0, model.output_shape[-1]))
    return probabilities.argmax(axis=1), probabilities


def evaluate(model, data: TrainingData) -> dict:
    """Validation report overall plus accuracy per validation group (and, for the pair reader, how
    often it would cut a single digit in two or leave a pair whole at its serving threshold)."""
    predicted, probabilities = predict_labels(model, data.validation_inputs)
    report = classification_report(data.validation_labels, predicted, data.classes)
    if data.classes == PAIR_CLASSES:
        is_pair = pair_probability(probabilities) >= PAIR_THRESHOLD
        single = data.validation_labels < SINGLE_COUNT
        report["pair_detection"] = {
            "threshold": PAIR_THRESHOLD,
            "singles_taken_for_pairs": float(is_pair[single].mean()) if single.any() else None,
            "pairs_found": float(is_pair[~single].mean()) if (~single).any() else None,
        }
    report["groups"] = {
        name: {
            "count": int(mask.sum()),
            "accuracy": float((predicted[mask] == data.validation_labels[mask]).mean())
            if mask.any()
            else None,
        }
        for name, mask in data.validation_groups.items()
    }
    report["predicted"] = predicted
    return report
