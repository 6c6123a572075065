"""A tiny sequence model retrains on whole-field samples with synthetic replay, and the gate decides."""

import json

import cv2
import numpy as np
import pytest

from recognition.engine.sequences import finetune

pytestmark = pytest.mark.slow


def bars(text: str, seed: int = 0, style: str = "plain") -> np.ndarray:
    """A toy 'handwriting' of 0 and 1, dark on light paper, slightly varied: in the plain style a box and
    a bar, in the new style a ring and a bar with a flag."""
    random = np.random.default_rng(seed)
    image = np.full((40, 16 * len(text) + 8), 235, dtype=np.uint8)
    for position, character in enumerate(text):
        x = 6 + position * 16 + int(random.integers(-1, 2))
        if character == "1":
            cv2.rectangle(image, (x + 4, 8), (x + 6, 32), 20, -1)
            if style == "new":
                cv2.line(image, (x + 5, 8), (x, 14), 20, 2)
        elif style == "new":
            cv2.circle(image, (x + 5, 20), 6, 20, 3)
        else:
            cv2.rectangle(image, (x, 12), (x + 9, 28), 20, 2)
    return image


def write_fake_mnist(directory, count: int = 60) -> None:
    """IDX files shaped like MNIST's (white digits drawn with a font on black, 28x28)."""
    from recognition.engine.characters.datasets import write_idx

    directory.mkdir(parents=True, exist_ok=True)
    labels = np.arange(count, dtype=np.uint8) % 10
    images = np.zeros((count, 28, 28), dtype=np.uint8)
    for image, label in zip(images, labels, strict=True):
        cv2.putText(image, str(label), (6, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 255, 2)
    for prefix in ("train", "t10k"):
        write_idx(directory / f"{prefix}-images-idx3-ubyte", images)
        write_idx(directory / f"{prefix}-labels-idx1-ubyte", labels)


def tiny_champion(version_dir, trained_steps: int) -> None:
    """A tiny sequence version, trained `trained_steps` batches on the toy bars, with a card."""
    import keras

    from recognition.engine.sequences.charset import encode
    from recognition.engine.sequences.images import batch_images, prepare_field
    from recognition.engine.sequences.network import PackedCTCLoss, build_model, pack_targets

    keras.utils.set_random_seed(0)
    model = build_model(filters=(8, 16, 16, 16), recurrent_units=32, dropout=0.0)
    if trained_steps:
        random = np.random.default_rng(1)
        texts = ["".join(random.choice(["0", "1"], int(random.integers(1, 5)))) for _ in range(48)]
        images = [prepare_field(bars(text, seed)) for seed, text in enumerate(texts)]
        batch, lengths = batch_images(images)
        targets = pack_targets([encode(text) for text in texts], lengths, [False] * len(texts))
        model.compile(optimizer=keras.optimizers.Adam(0.01), loss=PackedCTCLoss())
        model.fit(batch, targets, epochs=trained_steps // 6, batch_size=8, verbose=0)
    version_dir.mkdir(parents=True)
    model.save(version_dir / "model.keras")
    card = {"kind": "sequence", "version": version_dir.name, "calibration": {"kinds": {}}, "charset": "x"}
    (version_dir / "card.json").write_text(json.dumps(card))


def toy_samples(count: int) -> finetune.FieldSamples:
    random = np.random.default_rng(7)
    texts = ["".join(random.choice(["0", "1"], int(random.integers(2, 6)))) for _ in range(count)]
    return finetune.FieldSamples(
        ids=list(range(1, count + 1)),
        images=[bars(text, 100 + index, "new") for index, text in enumerate(texts)],
        texts=texts,
        kinds=["digits"] * count,
    )


def test_sample_texts_are_checked_against_the_kind_and_the_network():
    from recognition.engine.sequences.network import MAX_LABEL_LENGTH

    assert finetune.MAX_TEXT_LENGTH == MAX_LABEL_LENGTH
    assert finetune.check_sample_text("letters", "JEAN-PAUL O'NEIL") is None
    assert finetune.check_sample_text("letters", "") is None
    assert "outside the letters alphabet" in finetune.check_sample_text("letters", "Jean")
    assert "outside the amount alphabet" in finetune.check_sample_text("amount", "12$")
    assert "longer than" in finetune.check_sample_text("text", "x" * 49)
    assert finetune.marks_unlabelled("amount", "22970") and not finetune.marks_unlabelled("amount", "22,970")


def test_base_validation_fields_are_the_same_every_time(tmp_path):
    write_fake_mnist(tmp_path / "mnist")
    first = finetune.base_validation_fields(tmp_path / "mnist", per_kind=3)
    second = finetune.base_validation_fields(tmp_path / "mnist", per_kind=3)
    assert len(first) == 3 * len(finetune.BASE_FAMILIES)
    assert [truth for _, truth, _ in first] == [truth for _, truth, _ in second]
    assert all(np.array_equal(a, b) for (a, _, _), (b, _, _) in zip(first, second, strict=True))
    with pytest.raises(ValueError, match="fetch_data mnist"):
        finetune.base_validation_fields(tmp_path / "nowhere", per_kind=1)


@pytest.fixture(scope="module")
def champion_root(tmp_path_factory):
    """Fake MNIST and a tiny champion that reads the toy's ones but not yet its zeros."""
    root = tmp_path_factory.mktemp("sequence-retraining")
    write_fake_mnist(root / "mnist")
    tiny_champion(root / "sequence" / "1", trained_steps=240)
    return root


def test_the_feeder_mixes_samples_with_synthetic_replay(champion_root):
    samples = toy_samples(20)
    options = finetune.SequenceFineTuneOptions(batch_size=12, samples_per_batch=6)
    synthesizer = finetune.replay_synthesizer(champion_root / "mnist", 0, ["JEAN PAUL"], ["letters"])
    assert synthesizer.vocabulary == {"names": ["JEAN", "PAUL"]}
    feeder = finetune.MixedFieldFeeder(
        list(samples.images), list(samples.texts), list(samples.kinds), synthesizer, options
    )
    pool = [feeder.batch() for _ in range(8)]
    assert all(images.shape[0] == 12 and images.shape[1] == 32 for images, _ in pool)
    toy = sum(int(set(row[3 : 3 + row[0]]) <= {1, 2}) for _, targets in pool for row in targets)
    assert 25 <= toy <= 71, toy  # about half of 96 fields are samples (zeros and ones only)


def test_a_tiny_model_retrains_on_samples_and_the_gate_decides(champion_root):
    samples = toy_samples(60)
    options = dict(base_fields_per_kind=4, batch_size=12, samples_per_batch=12, seed=0, keep_share=0.0)

    # Samples in a new style: the fine-tuned model reads the held-out ones better, and the gate's verdict
    # is its rule applied to the recorded figures (here the toy's chance readings of the synthetic base
    # fell more than 0.1 pp, so it refuses).
    learnt = finetune.retrain_sequence(
        champion_dir=champion_root / "sequence" / "1",
        new_version_dir=champion_root / "sequence" / "2",
        samples=samples,
        mnist_dir=champion_root / "mnist",
        options=finetune.SequenceFineTuneOptions(steps=300, learning_rate=3e-3, **options),
    )
    held_out = [sample_id for sample_id in samples.ids if finetune.is_held_out(sample_id)]
    assert learnt.holdout_count == len(held_out) > 0 and learnt.train_count == 60 - len(held_out)
    assert learnt.challenger["corrections_accuracy"] > learnt.champion["corrections_accuracy"] + 0.1, learnt
    assert learnt.decision == finetune.gate(learnt.champion, learnt.challenger)
    base_drop = learnt.champion["base_accuracy"] - learnt.challenger["base_accuracy"]
    assert learnt.decision.promote == (base_drop <= 0.001)
    card = json.loads((champion_root / "sequence" / "2" / "card.json").read_text())
    assert card["fine_tuned_from"] == "1" and card["gate"]["promote"] == learnt.decision.promote
    assert card["calibration"] == {"kinds": {}}
    assert card["fine_tuning"]["samples_trained"] == learnt.train_count
    assert (champion_root / "sequence" / "2" / "curves.png").is_file()

    # Nothing learnt (a zero learning rate): not better on the held-out samples, so refused.
    unchanged = finetune.retrain_sequence(
        champion_dir=champion_root / "sequence" / "1",
        new_version_dir=champion_root / "sequence" / "3",
        samples=samples,
        mnist_dir=champion_root / "mnist",
        options=finetune.SequenceFineTuneOptions(steps=2, learning_rate=0.0, **options),
    )
    assert not unchanged.decision.promote and "not better on held-out" in unchanged.decision.reason
    assert unchanged.challenger["base_accuracy"] == unchanged.champion["base_accuracy"]
