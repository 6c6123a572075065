"""A tiny sequence model learns a toy alphabet from tiny data, and the reader reads with it."""

import json

import cv2
import numpy as np
import pytest

from recognition.engine.sequences.images import HEIGHT, batch_images, prepare_field, prepare_field_geometry
from recognition.engine.sequences.network import pack_targets

pytestmark = pytest.mark.slow


def _bars(text: str) -> np.ndarray:
    """A toy 'handwriting': 1 is a thin bar, 0 a box, dark on light paper."""
    image = np.full((40, 16 * len(text) + 8), 235, dtype=np.uint8)
    for position, character in enumerate(text):
        x = 6 + position * 16
        if character == "1":
            cv2.rectangle(image, (x + 4, 8), (x + 6, 32), 20, -1)
        else:
            cv2.rectangle(image, (x, 12), (x + 9, 28), 20, 2)
    return image


def test_prepared_fields_have_the_network_height_and_know_where_they_sit():
    crop = np.full((60, 200), 240, dtype=np.uint8)
    cv2.putText(crop, "12", (50, 45), cv2.FONT_HERSHEY_SIMPLEX, 1.2, 10, 3)
    prepared, geometry = prepare_field_geometry(crop)
    assert prepared.shape[0] == HEIGHT and prepared.max() == pytest.approx(1.0)
    assert 40 <= geometry.left <= 55 and geometry.right <= 110
    assert prepare_field(np.full((30, 50), 200, dtype=np.uint8)).max() == 0.0


def test_a_tiny_model_learns_a_toy_alphabet(tmp_path):
    import keras

    from recognition.engine.sequences.charset import encode
    from recognition.engine.sequences.network import PackedCTCLoss, build_model
    from recognition.engine.sequences.reader import SequenceReader

    keras.utils.set_random_seed(0)
    random = np.random.default_rng(0)
    texts = ["".join(random.choice(["0", "1"], int(random.integers(1, 5)))) for _ in range(48)]
    images = [prepare_field(_bars(text)) for text in texts]
    batch, lengths = batch_images(images)
    targets = pack_targets([encode(text) for text in texts], lengths, [False] * len(texts))
    model = build_model(filters=(8, 16, 16, 16), recurrent_units=32, dropout=0.0)
    model.compile(optimizer=keras.optimizers.Adam(0.003), loss=PackedCTCLoss())
    first = float(model.evaluate(batch, targets, verbose=0))
    model.fit(batch, targets, epochs=100, batch_size=8, verbose=0)
    last = float(model.evaluate(batch, targets, verbose=0))
    # From about 87 (nothing learnt) to well under one nat a field.
    assert last < 1.0, (first, last)
    model.save(tmp_path / "model.keras")
    (tmp_path / "card.json").write_text(json.dumps({"kind": "sequence"}))

    reader = SequenceReader(tmp_path)
    readings = reader.read([_bars("101"), _bars("0110")], ["digits", "digits"], offsets=[(0, 0), (100, 50)])
    assert [reading.text for reading in readings] == ["101", "0110"]
    first_character = readings[1].chars[0]
    assert (
        first_character["text"] == "0"
        and first_character["box"][0] >= 100
        and first_character["box"][1] >= 50
    )
    assert readings[0].readings[0][0] == "101"
    assert 0.0 <= readings[0].confidence <= 1.0
