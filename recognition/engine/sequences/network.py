"""The sequence network (CNN over the field, BiLSTM over its columns) and its CTC training loss."""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from recognition.engine.sequences.charset import AMOUNT_MARKS, BLANK, CLASS_OF, NUM_CLASSES
from recognition.engine.sequences.images import HEIGHT

# y_true of the packed loss: [label length, output length, marks unlabelled, label classes...].
LABEL_OFFSET = 3
# Labels are padded to one length so that batches keep one shape (a new shape is a new trace).
MAX_LABEL_LENGTH = 48


def build_model(
    *, filters: tuple[int, ...] = (32, 64, 96, 128), recurrent_units: int = 128, dropout: float = 0.25
) -> keras.Model:
    """Field image (HEIGHT, any width, 1) -> per-column logits (width / 2, NUM_CLASSES); blank is 0."""
    inputs = keras.Input(shape=(HEIGHT, None, 1), name="field")
    x = inputs
    # The first pool halves both axes; the rest only the height, so each output column is 2 pixels.
    pools = [(2, 2)] + [(2, 1)] * (len(filters) - 1)
    for block, (count, pool) in enumerate(zip(filters, pools, strict=True)):
        x = layers.Conv2D(count, 3, padding="same", use_bias=False, name=f"conv{block}")(x)
        x = layers.BatchNormalization(name=f"norm{block}")(x)
        x = layers.Activation("relu", name=f"relu{block}")(x)
        x = layers.MaxPooling2D(pool, name=f"pool{block}")(x)
    height_left = HEIGHT // 2 ** len(filters)
    x = layers.Permute((2, 1, 3), name="columns")(x)
    x = layers.Reshape((-1, height_left * filters[-1]), name="column_features")(x)
    x = layers.Dense(recurrent_units, activation="relu", name="project")(x)
    x = layers.Dropout(dropout, name="dropout_in")(x)
    x = layers.Bidirectional(layers.LSTM(recurrent_units, return_sequences=True), name="bilstm1")(x)
    x = layers.Bidirectional(layers.LSTM(recurrent_units, return_sequences=True), name="bilstm2")(x)
    x = layers.Dropout(dropout, name="dropout_out")(x)
    outputs = layers.Dense(NUM_CLASSES, name="logits")(x)
    return keras.Model(inputs, outputs, name="field_reader")


def _mark_mask() -> np.ndarray:
    mask = np.zeros((NUM_CLASSES,), dtype="float32")
    for mark in AMOUNT_MARKS:
        mask[CLASS_OF[mark]] = 1.0
    return mask


class PackedCTCLoss(keras.losses.Loss):
    """CTC loss whose y_true packs lengths, a flag and labels (see pack_targets).

    A sample flagged "marks unlabelled" (a real check amount labelled with its digits only) counts the
    separators and signs it may show as blank, so reading them is neither rewarded nor punished.
    """

    def __init__(self, name: str = "packed_ctc", **kwargs):
        super().__init__(name=name, **kwargs)
        self.mark_mask = _mark_mask()

    def call(self, y_true, y_pred):
        packed = ops.cast(y_true, "int32")
        label_length, output_length, unlabelled = packed[:, 0], packed[:, 1], packed[:, 2]
        labels = packed[:, LABEL_OFFSET:]
        log_probs = ops.log_softmax(ops.cast(y_pred, "float32"), axis=-1)
        marks = ops.convert_to_tensor(self.mark_mask)
        blank_or_mark = ops.log(
            ops.sum(ops.exp(log_probs) * (marks + ops.one_hot(BLANK, NUM_CLASSES)), axis=-1, keepdims=True)
            + 1e-9
        )
        merged = ops.where(marks > 0, -1e4, log_probs)
        merged = ops.concatenate([blank_or_mark, merged[..., 1:]], axis=-1)
        flag = ops.reshape(ops.cast(unlabelled, "bool"), (-1, 1, 1))
        return ops.ctc_loss(labels, ops.where(flag, merged, log_probs), label_length, output_length, BLANK)


def pack_targets(
    labels: list[list[int]], output_lengths: np.ndarray, marks_unlabelled: list[bool]
) -> np.ndarray:
    """The y_true of PackedCTCLoss for a batch; ValueError for a label over MAX_LABEL_LENGTH."""
    if any(len(label) > MAX_LABEL_LENGTH for label in labels):
        raise ValueError(f"a label is longer than {MAX_LABEL_LENGTH} characters")
    packed = np.zeros((len(labels), LABEL_OFFSET + MAX_LABEL_LENGTH), dtype=np.int32)
    for row, label in enumerate(labels):
        packed[row, 0] = len(label)
        packed[row, 1] = output_lengths[row]
        packed[row, 2] = int(marks_unlabelled[row])
        packed[row, LABEL_OFFSET : LABEL_OFFSET + len(label)] = label
    return packed
