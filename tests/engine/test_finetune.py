"""Fine-tuning on corrections, the held-out split, the promotion gate and synthetic styles."""

from pathlib import Path

import numpy as np
import pytest

from recognition.engine.characters.datasets import load_femnist_dev
from recognition.engine.characters.preprocess import prepare_batch
from recognition.engine.learning import finetune, styles

FEMNIST_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "femnist-dev"


def test_held_out_share_is_stable_and_about_a_quarter():
    ids = range(1, 4001)
    first = [finetune.is_held_out(sample_id) for sample_id in ids]
    second = [finetune.is_held_out(sample_id) for sample_id in ids]
    assert first == second
    assert 0.22 < np.mean(first) < 0.28
    # Consecutive ids must not fall in long runs: both shares appear in any 20 ids.
    assert all(0 < sum(first[start : start + 20]) < 20 for start in range(0, 4000, 20))


def test_held_out_rejects_negative_ids():
    with pytest.raises(ValueError):
        finetune.is_held_out(-1)


def side(base: float, corrections: float | None) -> dict:
    return {"base_accuracy": base, "corrections_accuracy": corrections}


@pytest.mark.parametrize(
    ("champion", "challenger", "promote", "reason_part"),
    [
        (side(0.99, 0.60), side(0.9895, 0.90), True, "60.00% -> 90.00%"),
        (side(0.99, 0.60), side(0.9885, 0.90), False, "fell 0.15 pp"),
        (side(0.99, 0.60), side(0.995, 0.60), False, "not better"),
        (side(0.99, None), side(0.995, None), False, "no held-out"),
    ],
)
def test_gate_promotes_only_when_better_on_corrections_and_not_worse_on_base(
    champion, challenger, promote, reason_part
):
    decision = finetune.gate(champion, challenger)
    assert decision.promote is promote
    assert reason_part in decision.reason


def test_style_keeps_size_and_type_and_changes_the_shape():
    image = np.zeros((28, 28), dtype=np.uint8)
    image[4:24, 13:15] = 255  # an upright stroke, like a "1"
    styled = styles.apply_style(image, styles.SLANTED_CONDENSED)
    assert styled.shape == image.shape and styled.dtype == np.uint8
    # Forward slant: the top of the stroke moves right of its bottom.
    top_columns = np.nonzero(styled[5] > 64)[0]
    bottom_columns = np.nonzero(styled[22] > 64)[0]
    assert top_columns.mean() > bottom_columns.mean() + 3
    identity = styles.apply_style(image, styles.HandwritingStyle(name="none"))
    # A neutral style moves nothing: same ink, same centre of mass.
    assert abs(int(identity.sum()) - int(image.sum())) < 0.05 * image.sum()
    rows, columns = np.nonzero(identity > 64)
    assert abs(rows.mean() - 13.5) < 0.6 and abs(columns.mean() - 13.5) < 0.6


def test_style_rejects_non_images():
    with pytest.raises(ValueError):
        styles.apply_style(np.zeros((0, 0), dtype=np.uint8), styles.SLANTED_CONDENSED)


def tiny_classifier(classes: int):
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((28, 28, 1))
    tensor = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(inputs)
    tensor = keras.layers.Flatten()(tensor)
    outputs = keras.layers.Dense(classes, activation="softmax")(tensor)
    return keras.Model(inputs, outputs)


@pytest.mark.slow
def test_fine_tuning_learns_a_style_while_replaying_the_base():
    femnist = load_femnist_dev(FEMNIST_DIR)
    digits = femnist.subset(np.nonzero(femnist.labels < 3)[0][:900])  # classes 0, 1, 2
    base_inputs = prepare_batch(list(digits.images[:600]))
    base_labels = digits.labels[:600]
    styled = styles.apply_style_batch(digits.images[600:], styles.SLANTED_CONDENSED)
    correction_inputs, correction_labels = prepare_batch(list(styled[:150])), digits.labels[600:750]
    test_inputs, test_labels = prepare_batch(list(styled[150:])), digits.labels[750:]

    model = tiny_classifier(3)
    # Pre-training the untrained model on the base: its own answers are nothing to distil from.
    options = finetune.FineTuneOptions(
        steps=60, batch_size=32, learning_rate=3e-3, optimizer="adam", augment=False, distill_share=0.0
    )
    finetune.fine_tune(model, base_inputs, base_labels, base_inputs[:0], base_labels[:0], options)
    before = finetune.accuracy(model, test_inputs, test_labels)
    progress = []
    result = finetune.fine_tune(
        model,
        base_inputs,
        base_labels,
        correction_inputs,
        correction_labels,
        finetune.FineTuneOptions(
            steps=60,
            batch_size=32,
            learning_rate=3e-3,
            optimizer="adam",
            corrections_per_batch=16,
            augment=False,
        ),
        on_progress=lambda done, total: progress.append((done, total)),
    )
    after = finetune.accuracy(model, test_inputs, test_labels)
    assert after > before + 0.05, (before, after)
    assert finetune.accuracy(model, base_inputs, base_labels) > 0.8
    assert progress[-1][0] == progress[-1][1] == 60
    assert result.seconds > 0


def test_fine_tuning_rejects_labels_outside_the_model():
    model = tiny_classifier(3)
    inputs = np.zeros((4, 28, 28, 1), dtype=np.float32)
    with pytest.raises(ValueError, match="labels"):
        finetune.fine_tune(model, inputs, np.array([0, 1, 2, 3]), inputs[:0], np.array([], dtype=int))
    with pytest.raises(ValueError, match="optimizer"):
        options = finetune.FineTuneOptions(optimizer="rmsprop")
        finetune.fine_tune(model, inputs, np.array([0, 1, 2, 0]), inputs, np.array([0, 1, 2, 0]), options)
    with pytest.raises(ValueError, match="base data"):
        finetune.fine_tune(model, inputs[:0], np.array([], dtype=int), inputs, np.array([0, 1, 2, 0]))


def test_fine_tuning_an_ensemble_trains_each_member_and_keeps_batch_norm():
    import keras

    from recognition.engine.characters.networks import build_ensemble, ensemble_members

    def make_member():
        inputs = keras.Input((28, 28, 1))
        tensor = keras.layers.Conv2D(4, 3, strides=2)(inputs)
        tensor = keras.layers.BatchNormalization()(tensor)
        tensor = keras.layers.Flatten()(keras.layers.ReLU()(tensor))
        return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(tensor))

    keras.utils.set_random_seed(0)
    ensemble = build_ensemble([make_member(), make_member()])
    generator = np.random.default_rng(0)
    inputs = generator.random((64, 28, 28, 1)).astype("float32")
    labels = generator.integers(0, 3, 64)
    members = ensemble_members(ensemble)
    before = [[weight.copy() for weight in member.get_weights()] for member in members]
    norms = [
        [layer.get_weights() for layer in member.layers if isinstance(layer, keras.layers.BatchNormalization)]
        for member in members
    ]
    assert all(len(member_norms) == 1 for member_norms in norms)
    options = finetune.FineTuneOptions(steps=4, batch_size=16, augment=False)
    result = finetune.fine_tune(ensemble, inputs, labels, inputs[:8], labels[:8], options)
    assert len(result.history["accuracy"]) == 4  # one averaged curve for the card
    for trained, old_weights, old_norms in zip(members, before, norms, strict=True):
        new_weights = trained.get_weights()
        assert any(not np.allclose(old, new) for old, new in zip(old_weights, new_weights, strict=True))
        new_norms = [
            layer.get_weights()
            for layer in trained.layers
            if isinstance(layer, keras.layers.BatchNormalization)
        ]
        for old, new in zip(old_norms, new_norms, strict=True):
            for old_array, new_array in zip(old, new, strict=True):
                np.testing.assert_array_equal(old_array, new_array)
    # The ensemble still averages its (changed) members.
    expected = (np.asarray(members[0](inputs[:4])) + np.asarray(members[1](inputs[:4]))) / 2
    np.testing.assert_allclose(np.asarray(ensemble(inputs[:4])), expected, atol=1e-6)


def test_fine_tuned_weights_are_mixed_with_the_originals_by_keep_share():
    generator = np.random.default_rng(1)
    inputs = generator.random((32, 28, 28, 1)).astype("float32")
    labels = generator.integers(0, 3, 32)

    def tuned(keep_share):
        model = tiny_classifier(3)
        original = model.get_weights()
        options = finetune.FineTuneOptions(steps=3, batch_size=8, augment=False, keep_share=keep_share)
        finetune.fine_tune(model, inputs, labels, inputs[:4], labels[:4], options)
        return original, model.get_weights()

    original, full = tuned(0.0)
    assert any(not np.allclose(old, new) for old, new in zip(original, full, strict=True))
    _, kept = tuned(1.0)
    for old, new in zip(original, kept, strict=True):
        np.testing.assert_allclose(new, old, atol=1e-6)
    _, half = tuned(0.5)
    # The same seeded run, so the fine-tuned end point is `full`: half-way between it and the start.
    for old, new, mixed in zip(original, full, half, strict=True):
        np.testing.assert_allclose(mixed, (old + new) / 2, atol=1e-5)


def test_fine_tuning_replays_with_the_box_damage_the_champion_was_trained_with():
    from recognition.engine.learning.retrain import trained_artifact_share

    assert trained_artifact_share({"options": {"epochs": 30}}) == 0.0  # cards from before the option
    assert trained_artifact_share({"options": {"artifact_probability": 0.3}}) == 0.3
    # An ensemble: the largest of its members'; a fine-tuned version: what its fine-tuning used.
    ensemble = {
        "options": {},
        "member_options": [{"artifact_probability": 0.0}, {"artifact_probability": 0.3}],
    }
    assert trained_artifact_share(ensemble) == 0.3
    assert trained_artifact_share({"fine_tuning": {"artifact_probability": 0.3}}) == 0.3


def test_fine_tuning_replays_the_fragments_the_champion_was_trained_to_doubt():
    from recognition.engine.learning.retrain import trained_fragments

    letters = [chr(code) for code in range(ord("A"), ord("Z") + 1)]
    assert trained_fragments({"options": {"epochs": 20}}, letters) == (0.0, None)
    trained = {"options": {"fragment_probability": 0.2, "fragment_classes": "UM"}}
    assert trained_fragments(trained, letters) == (0.2, [20, 12])
    assert trained_fragments({"options": {"fragment_probability": 0.2}}, letters) == (0.2, None)
    # A fine-tuned version: what its own fine-tuning replayed.
    tuned = {**trained, "fine_tuning": {"fragment_probability": 0.2, "fragment_labels": [20]}}
    assert trained_fragments(tuned, letters) == (0.2, [20])

    # The replayed base rows of the classes allowed are cut and get uniform targets (no teacher);
    # other classes and the corrections stay whole with their labels.
    ring = np.zeros((28, 28), np.float32)
    ring[4:24, 4:24] = 1.0
    ring[8:20, 8:20] = 0.0
    inputs = np.repeat(ring[None, :, :, None], 32, axis=0)
    labels = np.arange(32) % 2
    options = finetune.FineTuneOptions(
        batch_size=16, corrections_per_batch=2, augment=False, fragment_probability=1.0, fragment_labels=[0]
    )
    batch, targets = finetune._mixed_feeder(inputs, labels, inputs[:4], labels[:4], options, 1, classes=3)[0]
    uniform = np.isclose(targets, 1 / 3).all(axis=1)
    assert not uniform[14:].any()  # the 2 corrections after the 14 base rows
    cut, kept = np.flatnonzero(uniform), np.flatnonzero(~uniform[:14])
    assert len(cut) > 0 and len(kept) > 0
    assert all(not np.allclose(batch[row], inputs[0], atol=0.1) for row in cut)
    # Every base row of class 0 was cut, so the rows left whole are all class 1, untouched.
    assert (targets[kept].argmax(axis=1) == 1).all()
    np.testing.assert_array_equal(batch[kept], inputs[kept])


def test_distillation_keeps_the_base_answers_that_true_labels_would_move():
    # Base labels that disagree with the model: trained on them, it changes its answers; with the
    # base targets taken from the model before fine-tuning (distill_share 1), it keeps them.
    generator = np.random.default_rng(2)
    inputs = generator.random((64, 28, 28, 1)).astype("float32")

    def agreement(distill_share):
        model = tiny_classifier(3)
        before = np.asarray(model(inputs)).argmax(axis=1)
        labels = (before + 1) % 3
        options = finetune.FineTuneOptions(
            steps=40,
            batch_size=16,
            augment=False,
            keep_share=0.0,
            learning_rate=0.1,
            distill_share=distill_share,
        )
        finetune.fine_tune(model, inputs, labels, inputs[:0], labels[:0], options)
        return float((np.asarray(model(inputs)).argmax(axis=1) == before).mean())

    assert agreement(1.0) > 0.9
    assert agreement(0.0) < 0.5
    with pytest.raises(ValueError, match="distill_share"):
        finetune.fine_tune(
            tiny_classifier(3),
            inputs,
            np.zeros(64, dtype=int),
            inputs[:0],
            np.zeros(0, dtype=int),
            finetune.FineTuneOptions(distill_share=1.5),
        )


def test_a_retraining_is_the_same_whatever_the_random_state_the_model_was_loaded_in():
    import random

    import keras

    generator = np.random.default_rng(2)
    inputs = generator.random((48, 28, 28, 1)).astype("float32")
    labels = generator.integers(0, 3, 48)

    def tuned(global_seed):
        # Weights fixed; the dropout layer's generator seeded from Python's random state as a model
        # loaded in a fresh worker process would be.
        keras.utils.set_random_seed(0)
        weights = tiny_classifier(3).get_weights()
        random.seed(global_seed)
        model_inputs = keras.Input((28, 28, 1))
        tensor = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(model_inputs)
        tensor = keras.layers.Dropout(0.5)(keras.layers.Flatten()(tensor))
        model = keras.Model(model_inputs, keras.layers.Dense(3, activation="softmax")(tensor))
        model.set_weights(weights)
        options = finetune.FineTuneOptions(steps=4, batch_size=8, augment=False, distill_share=0.0)
        finetune.fine_tune(model, inputs, labels, inputs[:6], labels[:6], options)
        return model.get_weights()

    first, second = tuned(1), tuned(2)
    for one, other in zip(first, second, strict=True):
        np.testing.assert_array_equal(one, other)
