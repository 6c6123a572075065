"""Tiny-model training on tiny data, the model version folder, load_classifier and the commands."""

import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from django.core.management import CommandError, call_command

from recognition.engine.characters import datasets
from recognition.engine.characters.classify import clear_cache, load_classifier
from recognition.engine.learning import train, versions

FEMNIST_DEV = Path(__file__).resolve().parents[3] / "shared" / "data" / "femnist-dev"
# train_model arguments for a letters model trained for seconds (two batches of one epoch).
TINY_LETTERS = [
    "--kind",
    "letters",
    "--epochs",
    "1",
    "--steps-per-epoch",
    "2",
    "--width",
    "4",
    "--batch-size",
    "16",
]


def synthetic_digits(count, seed):
    """White-on-black 28x28 '0' rings and '1' bars of random size and place: a task a tiny CNN learns."""
    generator = np.random.default_rng(seed)
    images = np.zeros((count, 28, 28), dtype=np.uint8)
    labels = generator.integers(0, 2, count)
    for image, label in zip(images, labels, strict=True):
        centre = (int(generator.integers(10, 18)), int(generator.integers(10, 18)))
        height = int(generator.integers(6, 10))
        if label == 0:
            cv2.ellipse(image, centre, (int(generator.integers(4, 7)), height), 0, 0, 360, 255, 2)
        else:
            cv2.line(image, (centre[0], centre[1] - height), (centre[0], centre[1] + height), 255, 2)
    return images, labels


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    """A models/ folder holding digits@1, trained for a few seconds on rings and bars."""
    from recognition.engine.characters.preprocess import prepare_batch

    images, labels = synthetic_digits(600, seed=0)
    validation_images, validation_labels = synthetic_digits(100, seed=1)
    data = train.TrainingData(
        classes=list(datasets.DIGIT_CLASSES),
        train_inputs=prepare_batch(list(images)),
        train_labels=labels,
        validation_inputs=prepare_batch(list(validation_images)),
        validation_labels=validation_labels,
        validation_groups={"synthetic": np.ones(100, dtype=bool)},
        description={"train": {"synthetic": 600}},
    )
    # Enough steps for batch norm's moving averages (momentum 0.99) to settle on the data.
    options = train.TrainingOptions(
        epochs=6, batch_size=16, steps_per_epoch=80, width=8, patience=6, learning_rate=3e-3, dropout=0.1
    )
    model, history, _, _ = train.fit(data, options)
    report = train.evaluate(model, data)
    model_dir = tmp_path_factory.mktemp("models")
    versions.write_version(
        model, data, report, history, "digits", model_dir / "digits" / "1", {"command": "test"}
    )
    return model_dir


@pytest.mark.slow
def test_tiny_model_learns_and_writes_a_complete_version(tiny_model_dir):
    version_dir = tiny_model_dir / "digits" / "1"
    for name in ("model.keras", "card.json", "curves.png", "confusion.png", "errors.png"):
        assert (version_dir / name).stat().st_size > 0, name
    card = json.loads((version_dir / "card.json").read_text())
    assert card["classes"] == list("0123456789") and card["input_shape"] == [28, 28, 1]
    assert card["metrics"]["validation"]["accuracy"] > 0.9
    assert len(card["metrics"]["validation"]["confusion_matrix"]) == 10


@pytest.mark.slow
def test_classifier_reads_any_size_and_polarity_and_is_cached(tiny_model_dir):
    clear_cache()
    classifier = load_classifier("digits", tiny_model_dir)
    assert classifier.name == "digits@1" and load_classifier("digits", tiny_model_dir) is classifier
    images, labels = synthetic_digits(40, seed=5)
    # Enlarged and turned into dark ink on light paper, as a scanned form cell would be.
    scanned = [255 - cv2.resize(image, (84, 96), interpolation=cv2.INTER_LINEAR) for image in images]
    predictions = classifier.classify(scanned)
    assert len(predictions) == 40
    accuracy = np.mean(
        [prediction.label == str(label) for prediction, label in zip(predictions, labels, strict=True)]
    )
    assert accuracy > 0.85
    first = predictions[0]
    assert 0.0 <= first.confidence <= 1.0 and len(first.alternatives) == 3
    assert all(first.confidence >= probability for _, probability in first.alternatives)
    assert classifier.classify([]) == []


@pytest.mark.slow
def test_classify_command_prints_label_and_confidence_per_image(tiny_model_dir, tmp_path, settings):
    clear_cache()
    settings.MODEL_DIR = tiny_model_dir
    images, labels = synthetic_digits(12, seed=7)
    idx_file = tmp_path / "chars-idx3-ubyte.gz"
    datasets.write_idx(idx_file, images)
    output = io.StringIO()
    call_command("classify", str(idx_file), kind="digits", stdout=output)
    lines = output.getvalue().strip().splitlines()
    assert len(lines) == 12
    parsed = [line.split(" ") for line in lines]
    assert all(len(parts) == 2 and len(parts[1]) == 6 and 0 <= float(parts[1]) <= 1 for parts in parsed)
    assert sum(parts[0] == str(label) for parts, label in zip(parsed, labels, strict=True)) >= 10


@pytest.mark.slow
@pytest.mark.skipif(not FEMNIST_DEV.exists(), reason="needs ../shared/data/femnist-dev")
def test_train_model_command_writes_next_version_and_activates_only_the_first(tmp_path, settings):
    settings.MODEL_DIR = tmp_path
    call_command("train_model", *TINY_LETTERS, stdout=io.StringIO(), stderr=io.StringIO())
    call_command("train_model", *TINY_LETTERS, stdout=io.StringIO(), stderr=io.StringIO())
    assert (tmp_path / "letters" / "ACTIVE").read_text().strip() == "1"
    card = json.loads((tmp_path / "letters" / "2" / "card.json").read_text())
    assert card["classes"] == datasets.CAPITAL_CLASSES and card["epochs_run"] == 1
    assert "train_model --kind letters" in card["command"]
    assert card["data"]["femnist_writers"]["validation"] > 0


@pytest.mark.slow
def test_folding_batch_norm_keeps_the_outputs(tiny_model_dir):
    import keras

    from recognition.engine.characters.networks import fold_batch_norm

    model = keras.models.load_model(tiny_model_dir / "digits" / "1" / "model.keras", compile=False)
    folded = fold_batch_norm(model)
    layer_kinds = {type(layer).__name__ for layer in folded.layers}
    assert "BatchNormalization" not in layer_kinds and "Dropout" not in layer_kinds
    inputs = np.random.default_rng(0).random((16, 28, 28, 1)).astype("float32")
    np.testing.assert_allclose(
        np.asarray(folded(inputs)), np.asarray(model(inputs, training=False)), atol=1e-5
    )


@pytest.mark.slow
@pytest.mark.skipif(not FEMNIST_DEV.exists(), reason="needs ../shared/data/femnist-dev")
def test_ensemble_model_averages_members_of_one_split_and_refuses_mixed_splits(tmp_path, settings):
    import keras

    from recognition.engine.characters.networks import all_layers, ensemble_members

    settings.MODEL_DIR = tmp_path
    tiny = TINY_LETTERS
    quiet = {"stdout": io.StringIO(), "stderr": io.StringIO()}
    call_command("train_model", *tiny, **quiet)
    call_command("train_model", *tiny, "--seed", "1", "--split-seed", "0", **quiet)  # same validation
    call_command("train_model", *tiny, "--seed", "2", **quiet)  # its own split
    output = io.StringIO()
    call_command("ensemble_model", "--kind", "letters", "--members", "1,2", stdout=output)
    card = json.loads((tmp_path / "letters" / "4" / "card.json").read_text())
    assert card["members"] == ["1", "2"] and "ensemble_model --kind letters" in card["command"]
    assert "letters@4: validation accuracy" in output.getvalue()
    assert (tmp_path / "letters" / "ACTIVE").read_text().strip() == "1"  # not activated unasked

    ensemble = keras.models.load_model(tmp_path / "letters" / "4" / "model.keras", compile=False)
    members = [
        keras.models.load_model(tmp_path / "letters" / version / "model.keras", compile=False)
        for version in ("1", "2")
    ]
    assert len(ensemble_members(ensemble)) == 2
    # Fine-tuning freezes batch norm: it must reach the members' layers too.
    assert sum(
        isinstance(layer, keras.layers.BatchNormalization) for layer in all_layers(ensemble)
    ) == 2 * sum(isinstance(layer, keras.layers.BatchNormalization) for layer in members[0].layers)
    inputs = np.random.default_rng(0).random((8, 28, 28, 1)).astype("float32")
    expected = (np.asarray(members[0](inputs)) + np.asarray(members[1](inputs))) / 2
    np.testing.assert_allclose(np.asarray(ensemble(inputs)), expected, atol=1e-6)
    clear_cache()
    classifier = load_classifier("letters", tmp_path, "4")
    np.testing.assert_allclose(classifier.probabilities(inputs), expected, atol=1e-5)  # folded members

    with pytest.raises(CommandError, match="different splits"):
        call_command("ensemble_model", "--kind", "letters", "--members", "1,3", **quiet)
    with pytest.raises(CommandError, match="at least two"):
        call_command("ensemble_model", "--kind", "letters", "--members", "1", **quiet)


def test_a_version_that_fails_to_write_leaves_no_folder(tiny_model_dir, tmp_path, monkeypatch):
    import keras

    model = keras.models.load_model(tiny_model_dir / "digits" / "1" / "model.keras", compile=False)
    data = train.TrainingData(
        classes=list(datasets.DIGIT_CLASSES),
        train_inputs=np.zeros((2, 28, 28, 1), np.float32),
        train_labels=np.zeros(2, int),
        validation_inputs=np.zeros((2, 28, 28, 1), np.float32),
        validation_labels=np.zeros(2, int),
    )
    report = train.evaluate(model, data)

    def broken_plot(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(versions, "plot_confusion", broken_plot)
    with pytest.raises(OSError, match="No space"):
        versions.write_version(model, data, report, {}, "digits", tmp_path / "digits" / "2", {})
    assert not (tmp_path / "digits" / "2").exists()


def test_train_model_refuses_an_artifact_share_outside_0_to_1(settings, tmp_path):
    settings.MODEL_DIR = tmp_path
    with pytest.raises(CommandError, match="0..1"):
        call_command("train_model", *TINY_LETTERS, "--form-artifacts", "1.5", stdout=io.StringIO())
    with pytest.raises(CommandError, match="0..1"):
        call_command("train_model", *TINY_LETTERS, "--fragments", "-0.1", stdout=io.StringIO())
    with pytest.raises(CommandError, match="no class 7"):
        arguments = ["--fragments", "0.2", "--fragment-classes", "UM7"]
        call_command("train_model", *TINY_LETTERS, *arguments, stdout=io.StringIO())
    assert not (tmp_path / "letters").exists()


def _small_data(count=6):
    images, labels = synthetic_digits(count, seed=3)
    from recognition.engine.characters.preprocess import prepare_batch

    return train.TrainingData(
        classes=list(datasets.DIGIT_CLASSES),
        train_inputs=prepare_batch(list(images)),
        train_labels=labels,
        validation_inputs=prepare_batch(list(images[:2])),
        validation_labels=labels[:2],
        description={"train": {"synthetic": count}},
    )


def test_form_crops_join_the_training_set_only(tmp_path):
    data = _small_data()
    crops = np.zeros((3, 28, 28), np.uint8)
    crops[:, 10:18, 12:15] = 255
    path = tmp_path / "crops.npz"
    # The file's own class order is mapped onto the model's: index 0 here is "7".
    np.savez(path, images=crops, labels=np.array([0, 1, 1]), classes=np.array(["7", "1"]))
    assert train.add_form_crops(data, path) == 3
    assert len(data.train_inputs) == 9 and data.train_inputs.shape[1:] == (28, 28, 1)
    assert data.train_labels[-3:].tolist() == [7, 1, 1]
    assert float(data.train_inputs[-1].max()) == 1.0
    assert len(data.validation_inputs) == 2 and data.description["train"]["form crops (crops.npz)"] == 3


def test_form_crops_with_unknown_classes_or_a_bad_file_are_refused(tmp_path):
    data = _small_data()
    letters = tmp_path / "letters.npz"
    np.savez(letters, images=np.zeros((1, 28, 28), np.uint8), labels=np.array([0]), classes=np.array(["A"]))
    with pytest.raises(ValueError, match="classes"):
        train.add_form_crops(data, letters)
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a form-crops file"):
        train.add_form_crops(data, broken)
    assert len(data.train_inputs) == 6


def test_train_model_refuses_a_missing_form_crops_file(settings, tmp_path):
    settings.MODEL_DIR = tmp_path
    with pytest.raises(CommandError, match="form crops"):
        call_command(
            "train_model", *TINY_LETTERS, "--form-crops", str(tmp_path / "none.npz"), stdout=io.StringIO()
        )
    assert not (tmp_path / "letters").exists()


@pytest.mark.parametrize("option, least", [("pair_probability", 6), ("fragment_probability", 4)])
def test_feeder_gives_uniform_targets_to_touching_pairs_and_fragments_only(option, least):
    # Narrow characters (a 1) are never cut, so there are fewer fragments than pairs.
    data = _small_data(64)
    feeder = train.make_batch_feeder(
        data.train_inputs, data.train_labels, 32, True, seed=0, num_classes=10, **{option: 0.5}
    )
    batch, targets = feeder[0]
    assert batch.shape == (32, 28, 28, 1) and targets.shape == (32, 10)
    np.testing.assert_allclose(targets.sum(axis=1), 1.0, rtol=1e-6)
    uniform = np.isclose(targets, 0.1).all(axis=1)
    assert least <= uniform.sum() <= 26
    chosen = feeder.order[:32]
    np.testing.assert_array_equal(targets[~uniform].argmax(axis=1), data.train_labels[chosen][~uniform])
    with pytest.raises(ValueError, match="num_classes"):
        train.make_batch_feeder(data.train_inputs, data.train_labels, 32, True, **{option: 0.5})


def test_fragments_are_cut_only_of_the_given_classes():
    data = _small_data(64)
    # The rings (0) are left whole when only the bars (1, too narrow to cut) may be cut.
    for allowed, expect_cuts in (([0], True), ([1], False)):
        feeder = train.make_batch_feeder(
            data.train_inputs,
            data.train_labels,
            32,
            True,
            seed=0,
            fragment_probability=1.0,
            num_classes=10,
            fragment_labels=np.array(allowed),
        )
        _, targets = feeder[0]
        assert np.isclose(targets, 0.1).all(axis=1).any() == expect_cuts


def test_training_on_touching_pairs_makes_the_model_unsure_of_them():
    from recognition.engine.characters.preprocess import prepare_batch, touching_pair

    images, labels = synthetic_digits(600, seed=0)
    inputs = prepare_batch(list(images))
    data = train.TrainingData(
        classes=list(datasets.DIGIT_CLASSES),
        train_inputs=inputs,
        train_labels=labels,
        validation_inputs=inputs[:100],
        validation_labels=labels[:100],
        description={"train": {"synthetic": 600}},
    )
    test_images, test_labels = synthetic_digits(200, seed=7)
    singles = prepare_batch(list(test_images))
    generator = np.random.default_rng(11)
    pairs = np.stack(
        [touching_pair(singles[i, ..., 0], singles[i + 1, ..., 0], generator) for i in range(0, 200, 2)]
    )[..., None]
    confidence = {}
    for share in (0.0, 0.3):
        options = train.TrainingOptions(
            epochs=6,
            batch_size=16,
            steps_per_epoch=80,
            width=8,
            learning_rate=3e-3,
            dropout=0.1,
            pair_probability=share,
            seed=1,
        )
        model, _, _, _ = train.fit(data, options)
        predicted, _ = train.predict_labels(model, singles)
        assert (predicted == test_labels).mean() > 0.9  # single characters are still read
        confidence[share] = train.predict_labels(model, pairs)[1].max(axis=1).mean()
    assert confidence[0.3] < confidence[0.0] - 0.1


def test_pair_reader_feeder_gives_touching_pairs_their_own_class():
    from recognition.engine.characters.pairs import PAIR_CLASSES, pair_label

    data = _small_data(64)
    options = {"pair_probability": 0.5, "num_classes": len(PAIR_CLASSES), "pair_classes": True}
    feeder = train.make_batch_feeder(data.train_inputs, data.train_labels, 32, True, seed=0, **options)
    # A fragment has no class of the pair reader.
    with pytest.raises(ValueError, match="pair reader"):
        train.make_batch_feeder(
            data.train_inputs, data.train_labels, 32, True, fragment_probability=0.5, **options
        )
    batch, targets = feeder[0]
    assert batch.shape == (32, 28, 28, 1) and targets.shape == (32,)
    singles = data.train_labels[feeder.order[:32]]
    pairs = targets >= 10
    assert 6 <= pairs.sum() <= 26
    np.testing.assert_array_equal(targets[~pairs], singles[~pairs])
    # A pair's first digit is the single it replaced; its second is one of the batch's digits.
    first, second = (targets[pairs] - 10) // 10, (targets[pairs] - 10) % 10
    np.testing.assert_array_equal(first, singles[pairs])
    assert set(second.tolist()) <= set(singles.tolist())
    assert pair_label(6, 6) == PAIR_CLASSES.index("66")
    with pytest.raises(ValueError, match="pair classes"):
        train.make_batch_feeder(
            data.train_inputs,
            data.train_labels,
            32,
            True,
            pair_probability=0.5,
            num_classes=10,
            pair_classes=True,
        )


@pytest.mark.slow
@pytest.mark.skipif(not FEMNIST_DEV.exists(), reason="needs ../shared/data/femnist-dev")
def test_train_model_writes_a_pair_reader_validated_on_held_out_pairs(tmp_path, settings):
    from recognition.engine.characters.pairs import PAIR_CLASSES

    settings.MODEL_DIR = tmp_path
    out = io.StringIO()
    tiny = ["--epochs", "1", "--steps-per-epoch", "2", "--width", "4", "--batch-size", "16"]
    with pytest.raises(CommandError, match="touching-pairs"):
        call_command("train_model", "--kind", "digit-pairs", "--touching-pairs", "0", *tiny, stdout=out)
    # A stand-in for MNIST train (the real one is fetched by a command, not by the tests).
    mnist_dir = tmp_path / "mnist"
    mnist_dir.mkdir()
    images, labels = synthetic_digits(400, seed=5)
    datasets.write_idx(mnist_dir / "train-images-idx3-ubyte", images)
    datasets.write_idx(mnist_dir / "train-labels-idx1-ubyte", labels.astype(np.uint8))
    call_command("train_model", "--kind", "digit-pairs", "--mnist-dir", str(mnist_dir), *tiny, stdout=out)
    card = json.loads((tmp_path / "digit-pairs" / "1" / "card.json").read_text())
    assert card["classes"] == PAIR_CLASSES
    assert "--touching-pairs 0.4" in card["command"]
    validation = card["metrics"]["validation"]
    assert validation["groups"]["touching pairs of held-out digits"]["count"] == train.VALIDATION_PAIR_COUNT
    assert set(validation["pair_detection"]) == {"threshold", "singles_taken_for_pairs", "pairs_found"}
    assert (tmp_path / "digit-pairs" / "ACTIVE").read_text().strip() == "1"
