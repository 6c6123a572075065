"""Fine-tune an active model on reviewers' corrections, and judge the result against its champion.

The learning loop's engine half. A correction set is small (tens to a few
hundred characters) next to the base data (tens of thousands), so each
training batch mixes a fixed share of corrections, oversampled and augmented,
with replayed base samples: the corrections matter, and the replay keeps the
model from forgetting what it read well before.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from recognition.engine.characters.preprocess import augment_batch, cut_into_fragments

# Knuth's multiplicative hash spreads consecutive ids evenly over the buckets.
_HASH_MULTIPLIER = 2654435761
HOLDOUT_PERCENT = 25


def is_held_out(sample_id: int, holdout_percent: int = HOLDOUT_PERCENT) -> bool:
    """Whether a correction sample belongs to the held-out evaluation share.

    Decided by the sample's id alone, so a sample never moves between the
    training and held-out shares from one retraining to the next: a sample
    the gate judged on is never trained on later.
    """
    if sample_id < 0:
        raise ValueError(f"sample ids are non-negative, got {sample_id}")
    return (sample_id * _HASH_MULTIPLIER) % (2**32) % 100 < holdout_percent


@dataclass
class FineTuneOptions:
    """Knobs of one fine-tuning run, recorded in the new version's card."""

    steps: int = 300
    batch_size: int = 128
    # Corrections drawn into each batch (with replacement); the rest replays
    # base data. Measured on digits@2 with 300 corrections of a new style
    # (bench/learning_loop.py): 2 a batch cut the style's errors by about 78 %
    # for -0.05 pp on the base validation set; 32 a batch cut them by 84 % but
    # cost 0.5 pp, which the promotion gate refuses.
    corrections_per_batch: int = 2
    learning_rate: float = 0.01
    # "sgd" (with momentum) or "adam". Adam moves every weight by about the
    # learning rate per step whatever its gradient, which drifts a converged
    # model; SGD moves weights in proportion to what the new samples need.
    optimizer: str = "sgd"
    augment: bool = True
    # Keep batch norm's statistics and scales as the base data set them: a
    # few hundred corrections in every batch would otherwise pull them towards
    # the new style and cost accuracy on everything else.
    freeze_batch_norm: bool = True
    # Share of the original weights mixed back in after fine-tuning (0: keep the fine-tuned weights).
    # Measured with bench/learning_loop.py on digits@7 (an ensemble), N = 50/100/300: without it the
    # base validation fell 0.10-0.18 pp and the gate refused every run; 0.3 left -0.04..-0.10 pp
    # (N=50 refused) for 69-71 % fewer style errors; 0.5 left -0.03..-0.06 pp for 60-65 % fewer.
    keep_share: float = 0.5
    # Share of replayed and correction images given box damage (preprocess.form_artifacts). None: as
    # the champion was trained (retrain reads it from the card). A champion trained with the damage
    # and fine-tuned without it drifts on the base data: digits@12 (trained with 0.3) lost 0.16 pp
    # of base validation at N = 300 when its replay was clean.
    artifact_probability: float | None = None
    # Share of each replayed base sample's target taken from the model before fine-tuning (its
    # softmax on the same augmented image, as in Learning without Forgetting, Li & Hoiem 2016);
    # the rest is the true label. 0: true labels only. Measured with bench/learning_loop.py on
    # digits@12, N = 50/100/300, keep_share 0.5: true labels cut the style's errors by 49/47/52 % for
    # -0.07/-0.10/-0.04 pp of base validation (N=100 refused); distilled, 51/55/53 % for
    # -0.06/-0.07/-0.03 pp, all promoted (keep_share 0.4: 56/61/59 % for -0.09/-0.07/-0.04 pp).
    distill_share: float = 1.0
    # Share of replayed base samples replaced by one side of the character cut in two
    # (preprocess.character_fragment), and the class indices that may be cut (None: all). None: as
    # the champion was trained (retrain reads it from the card). A champion trained to be unsure of
    # such pieces (letters@8) would otherwise forget it unseen: the gate judges whole characters.
    # Their targets are the champion's own answers where it distils, else uniform.
    fragment_probability: float | None = None
    fragment_labels: list[int] | None = None
    seed: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class FineTuneResult:
    model: object
    seconds: float
    history: dict = field(default_factory=dict)


def _mixed_feeder(
    base_inputs: np.ndarray,
    base_labels: np.ndarray,
    correction_inputs: np.ndarray,
    correction_labels: np.ndarray,
    options: FineTuneOptions,
    steps_per_epoch: int,
    outputs: int = 1,
    teacher=None,
    classes: int = 10,
):
    """Mixed batches with one-hot (or, with a teacher, softened) targets, repeated once per output."""
    import keras

    correction_count = (
        min(options.corrections_per_batch, options.batch_size - 1) if len(correction_labels) else 0
    )
    base_count = options.batch_size - correction_count
    one_hot = np.eye(classes, dtype=np.float32)

    class MixedFeeder(keras.utils.PyDataset):
        """Batches of `correction_count` corrections (with replacement) plus `base_count` base samples."""

        def __init__(self):
            super().__init__(workers=1, use_multiprocessing=False)
            self.generator = np.random.default_rng(options.seed)

        def __len__(self):
            return steps_per_epoch

        def __getitem__(self, index):
            base_chosen = self.generator.integers(0, len(base_labels), base_count)
            parts_inputs = [base_inputs[base_chosen]]
            parts_labels = [base_labels[base_chosen]]
            if correction_count:
                chosen = self.generator.integers(0, len(correction_labels), correction_count)
                parts_inputs.append(correction_inputs[chosen])
                parts_labels.append(correction_labels[chosen])
            batch = np.concatenate(parts_inputs)
            targets = one_hot[np.concatenate(parts_labels)]
            if options.augment:
                batch = augment_batch(
                    batch, self.generator, artifact_probability=options.artifact_probability or 0.0
                )
            if options.fragment_probability:
                base_rows = np.flatnonzero(self.generator.random(base_count) < options.fragment_probability)
                if options.fragment_labels is not None:
                    base_rows = base_rows[np.isin(parts_labels[0][base_rows], options.fragment_labels)]
                targets[cut_into_fragments(batch[..., 0], base_rows, self.generator)] = 1.0 / classes
            if teacher is not None:
                # The base rows only: the corrections are there to change the answer.
                before = np.asarray(teacher(batch[:base_count]), dtype=np.float32)
                share = options.distill_share
                targets[:base_count] = share * before + (1.0 - share) * targets[:base_count]
            return batch, (targets if outputs == 1 else tuple([targets] * outputs))

    return MixedFeeder()


def reseed_random_layers(model, seed: int) -> int:
    """Restart every random layer's (dropout's) generator from seed; returns how many there were.

    A loaded model's dropout layers draw their seeds from Python's global random state when the
    model is built, before fine-tuning can seed anything, so two retrainings of the same model on
    the same corrections in two worker processes dropped different units and came out different
    (the learning-loop benchmark's retraining varied run to run). Reseeding here makes a retraining
    a function of the model, the data and options.seed.
    """
    import keras

    from recognition.engine.characters.networks import all_layers

    count = 0
    for index, layer in enumerate(all_layers(model)):
        for value in vars(layer).values():
            if isinstance(value, keras.random.SeedGenerator):
                state = keras.ops.convert_to_tensor([seed * 7919 + index, 0], dtype=value.state.dtype)
                value.state.assign(state)
                count += 1
    return count


def fine_tune(
    model,
    base_inputs: np.ndarray,
    base_labels: np.ndarray,
    correction_inputs: np.ndarray,
    correction_labels: np.ndarray,
    options: FineTuneOptions | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> FineTuneResult:
    """Continue training `model` (changed in place) on corrections mixed with base replay.

    Inputs are prepared (N, 28, 28, 1) float32 batches, labels integer class
    indices of the model's classes.
    """
    import keras

    from recognition.engine.characters.networks import ensemble_members

    options = options or FineTuneOptions()
    classes = _check_fine_tune_inputs(
        model, base_inputs, base_labels, correction_inputs, correction_labels, options
    )
    keras.utils.set_random_seed(options.seed)
    reseed_random_layers(model, options.seed)
    if options.freeze_batch_norm:
        _freeze_batch_norm(model)
    # A few epochs of equal length, so progress and the loss curve have points.
    epochs = min(10, options.steps)
    steps_per_epoch = max(1, options.steps // epochs)
    # An ensemble's members each learn the corrections on their own output: with the loss on the
    # averaged output one member can lean on the other instead of learning. On its own this does not
    # keep the ensemble's base accuracy (digits@7, N = 50/100/300: -0.18/-0.10/-0.13 pp, against
    # -0.18 pp with the averaged loss); the weight mixing after fit (keep_share) does.
    members = ensemble_members(model)
    trained = model
    if members:
        inputs = keras.Input(shape=model.inputs[0].shape[1:], name="character")
        trained = keras.Model(inputs, [member(inputs) for member in members], name="members")
    outputs = max(1, len(members))
    # The weights before fine-tuning (get_weights() copies): the teacher's, and what keep_share mixes back.
    original = model.get_weights() if options.keep_share > 0 or options.distill_share > 0 else None
    teacher = _teacher(model, original) if options.distill_share > 0 else None
    feeder = _mixed_feeder(
        base_inputs,
        base_labels,
        correction_inputs,
        correction_labels,
        options,
        steps_per_epoch,
        outputs,
        teacher,
        classes,
    )
    trained.compile(
        optimizer=_optimizer(options, decay_steps=epochs * steps_per_epoch),
        loss=["categorical_crossentropy"] * outputs if members else "categorical_crossentropy",
        metrics=[["accuracy"]] * outputs if members else ["accuracy"],
    )
    progress = _progress_callback(on_progress, epochs, steps_per_epoch)
    started = time.monotonic()
    history = trained.fit(feeder, epochs=epochs, callbacks=[progress], verbose=0).history
    if options.keep_share > 0:
        # Weight-space interpolation between the model before and after fine-tuning (as in WiSE-FT,
        # Wortsman et al. 2022): most of what the corrections taught stays, most of the drift on
        # everything else goes.
        model.set_weights(
            [
                options.keep_share * old + (1.0 - options.keep_share) * new
                for old, new in zip(original, model.get_weights(), strict=True)
            ]
        )
    if members:
        # One curve for the card: the members' accuracy averaged (their losses are summed in "loss").
        keys = [key for key in history if key.endswith("accuracy")]
        history["accuracy"] = np.mean([history[key] for key in keys], axis=0).tolist()
    return FineTuneResult(model=model, seconds=time.monotonic() - started, history=history)


def _check_fine_tune_inputs(
    model,
    base_inputs: np.ndarray,
    base_labels: np.ndarray,
    correction_inputs: np.ndarray,
    correction_labels: np.ndarray,
    options: FineTuneOptions,
) -> int:
    """Refuse inputs fine_tune cannot use (ValueError); returns the model's class count."""
    if len(base_labels) == 0:
        raise ValueError("fine-tuning needs base data to replay, and none was given")
    if len(correction_labels) != len(correction_inputs) or len(base_labels) != len(base_inputs):
        raise ValueError("inputs and labels differ in length")
    classes = model.output_shape[-1]
    for name, labels in (("base", base_labels), ("correction", correction_labels)):
        if len(labels) and (labels.min() < 0 or labels.max() >= classes):
            raise ValueError(f"{name} labels must lie in 0..{classes - 1}")
    if options.steps < 1:
        raise ValueError("steps must be at least 1")
    if not 0.0 <= options.distill_share <= 1.0:
        raise ValueError(f"distill_share must lie in 0..1, got {options.distill_share}")
    return classes


def _freeze_batch_norm(model) -> None:
    """Keep every batch norm layer's statistics and scales as they are."""
    import keras

    from recognition.engine.characters.networks import all_layers

    for layer in all_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            # A frozen BatchNormalization layer also runs in inference mode in Keras 3.
            layer.trainable = False


def _teacher(model, original_weights: list):
    """An inference function of a frozen copy of the model with its weights before fine-tuning."""
    import keras

    from recognition.engine.characters.classify import make_inference_function

    frozen = keras.models.clone_model(model)
    frozen.set_weights(original_weights)
    return make_inference_function(frozen)


def _optimizer(options: FineTuneOptions, decay_steps: int):
    """The fine-tuning optimizer, its learning rate decaying along a cosine over the run."""
    import keras

    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=options.learning_rate, decay_steps=decay_steps, alpha=0.05
    )
    if options.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate=schedule, momentum=0.9, nesterov=True)
    if options.optimizer == "adam":
        return keras.optimizers.Adam(learning_rate=schedule)
    raise ValueError(f"unknown optimizer {options.optimizer!r}; use 'sgd' or 'adam'")


def _progress_callback(on_progress: Callable[[int, int], None] | None, epochs: int, steps_per_epoch: int):
    """A Keras callback that reports (steps done, steps in all) after every batch."""
    import keras

    class Progress(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if on_progress:
                on_progress(self.epoch_index * steps_per_epoch + batch + 1, epochs * steps_per_epoch)

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch_index = epoch

    return Progress()


def accuracy(model, inputs: np.ndarray, labels: np.ndarray, batch_size: int = 1024) -> float | None:
    """Share of inputs the model labels correctly; None when there is nothing to judge."""
    if len(labels) == 0:
        return None
    predicted = np.concatenate(
        [
            np.asarray(model(inputs[start : start + batch_size], training=False)).argmax(axis=1)
            for start in range(0, len(inputs), batch_size)
        ]
    )
    return float((predicted == labels).mean())


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    reason: str


def gate(
    champion: dict,
    challenger: dict,
    base_tolerance: float = 0.001,
) -> GateDecision:
    """Champion/challenger rule: promote only when better on held-out corrections and no worse on base.

    Each side is {"base_accuracy": float, "corrections_accuracy": float | None}.
    "No worse" allows `base_tolerance` (0.001 = 0.1 percentage points) of
    base validation accuracy to be given up.
    """
    champion_corrections = champion.get("corrections_accuracy")
    challenger_corrections = challenger.get("corrections_accuracy")
    base_change = challenger["base_accuracy"] - champion["base_accuracy"]
    if champion_corrections is None or challenger_corrections is None:
        return GateDecision(False, "no held-out corrections to judge on; enter more corrections first")
    if challenger_corrections <= champion_corrections:
        return GateDecision(
            False,
            "not better on held-out corrections "
            f"({challenger_corrections:.2%} vs {champion_corrections:.2%})",
        )
    if base_change < -base_tolerance:
        return GateDecision(
            False,
            f"base validation accuracy fell {-base_change * 100:.2f} pp "
            f"({challenger['base_accuracy']:.2%} vs {champion['base_accuracy']:.2%}; "
            f"{base_tolerance * 100:.1f} pp allowed)",
        )
    return GateDecision(
        True,
        f"held-out corrections {champion_corrections:.2%} -> {challenger_corrections:.2%}, "
        f"base validation {champion['base_accuracy']:.2%} -> {challenger['base_accuracy']:.2%}",
    )
