"""Keras model factories for the character classifiers (Keras 3 API only, backend-neutral)."""

from __future__ import annotations

INPUT_SHAPE = (28, 28, 1)


def _conv_block(keras, tensor, filters: int, strides: int = 1, name: str = ""):
    """3x3 convolution without bias, batch norm, ReLU: the repeated unit of the compact VGG-style net."""
    layers = keras.layers
    tensor = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False, name=f"{name}_conv")(
        tensor
    )
    tensor = layers.BatchNormalization(name=f"{name}_bn")(tensor)
    return layers.ReLU(name=f"{name}_relu")(tensor)


def _separable_block(keras, tensor, filters: int, strides: int = 1, name: str = ""):
    """Depthwise 3x3 then pointwise 1x1, batch norm, ReLU: a fraction of a full convolution's cost."""
    layers = keras.layers
    tensor = layers.DepthwiseConv2D(3, strides=strides, padding="same", use_bias=False, name=f"{name}_dw")(
        tensor
    )
    tensor = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_pw")(tensor)
    tensor = layers.BatchNormalization(name=f"{name}_bn")(tensor)
    return layers.ReLU(name=f"{name}_relu")(tensor)


def build_model(num_classes: int, architecture: str = "compact", dropout: float = 0.3, width: int = 32):
    """Build an uncompiled classifier from (28, 28, 1) float inputs in 0..1 to softmax over num_classes.

    'compact' is a small VGG-style net with batch norm (about 0.2 M parameters, a few M multiply-adds),
    fast enough on a CPU for form serving; 'seed' is the 3-conv + dense baseline of the seed projects.
    """
    import keras

    if num_classes < 2:
        raise ValueError("a classifier needs at least two classes")
    layers = keras.layers
    inputs = keras.Input(shape=INPUT_SHAPE, name="character")
    if architecture == "seed":
        tensor = layers.Conv2D(32, 3, activation="relu")(inputs)
        tensor = layers.MaxPooling2D()(tensor)
        tensor = layers.Conv2D(64, 3, activation="relu")(tensor)
        tensor = layers.MaxPooling2D()(tensor)
        tensor = layers.Conv2D(64, 3, activation="relu")(tensor)
        tensor = layers.Flatten()(tensor)
        tensor = layers.Dense(64, activation="relu")(tensor)
        outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(tensor)
        return keras.Model(inputs, outputs, name="seed_cnn")
    if architecture == "separable":
        tensor = _conv_block(keras, inputs, width, name="block1a")
        tensor = _conv_block(keras, tensor, width, strides=2, name="block1b")  # 14x14
        tensor = _separable_block(keras, tensor, width * 2, name="block2a")
        tensor = _separable_block(keras, tensor, width * 2, name="block2b")
        tensor = _separable_block(keras, tensor, width * 4, strides=2, name="block2c")  # 7x7
        tensor = layers.SpatialDropout2D(dropout / 3, name="block2_dropout")(tensor)
        tensor = _separable_block(keras, tensor, width * 4, name="block3a")
        tensor = _separable_block(keras, tensor, width * 8, strides=2, name="block3b")  # 4x4
        tensor = layers.GlobalAveragePooling2D(name="pool")(tensor)
        tensor = layers.Dropout(dropout, name="output_dropout")(tensor)
        outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(tensor)
        return keras.Model(inputs, outputs, name=f"separable_w{width}")
    if architecture != "compact":
        raise ValueError(f"unknown architecture {architecture!r}")
    tensor = _conv_block(keras, inputs, width, name="block1a")
    # A strided convolution instead of conv + pool at full resolution saves most of the compute.
    tensor = _conv_block(keras, tensor, width, strides=2, name="block1b")  # 14x14
    tensor = _conv_block(keras, tensor, width * 2, name="block2a")
    tensor = _conv_block(keras, tensor, width * 2, strides=2, name="block2b")  # 7x7
    tensor = layers.SpatialDropout2D(dropout / 3, name="block2_dropout")(tensor)
    tensor = _conv_block(keras, tensor, width * 4, name="block3a")
    tensor = _conv_block(keras, tensor, width * 4, strides=2, name="block3b")  # 4x4
    tensor = layers.Flatten(name="flatten")(tensor)
    tensor = layers.Dropout(dropout, name="head_dropout")(tensor)
    tensor = layers.Dense(128, use_bias=False, name="head_dense")(tensor)
    tensor = layers.BatchNormalization(name="head_bn")(tensor)
    tensor = layers.ReLU(name="head_relu")(tensor)
    tensor = layers.Dropout(dropout, name="output_dropout")(tensor)
    outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(tensor)
    return keras.Model(inputs, outputs, name=f"compact_w{width}")


def build_ensemble(members: list, name: str = "ensemble"):
    """One model that averages the softmax outputs of several trained classifiers with the same classes.

    Each member is kept as a nested model (renamed member_1, member_2, ...) so it can still be folded,
    fine-tuned and saved as part of one .keras file.
    """
    import keras

    if len(members) < 2:
        raise ValueError("an ensemble needs at least two members")
    if len({tuple(member.output_shape[1:]) for member in members}) != 1:
        raise ValueError("ensemble members must have the same classes")
    inputs = keras.Input(shape=INPUT_SHAPE, name="character")
    outputs = []
    for index, member in enumerate(members, start=1):
        renamed = keras.Model(member.inputs[0], member.outputs[0], name=f"member_{index}")
        outputs.append(renamed(inputs))
    averaged = keras.layers.Average(name="probabilities")(outputs)
    return keras.Model(inputs, averaged, name=name)


def ensemble_members(model) -> list:
    """The member models of a build_ensemble model ([] for any other model)."""
    import keras

    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    if len(layers) < 3 or not isinstance(layers[-1], keras.layers.Average):
        return []
    members = layers[:-1]
    return members if all(isinstance(member, keras.Model) for member in members) else []


def all_layers(model) -> list:
    """Every layer of a model, descending into nested models (ensemble members)."""
    import keras

    found = []
    for layer in model.layers:
        found.append(layer)
        if isinstance(layer, keras.Model):
            found.extend(all_layers(layer))
    return found


def fold_batch_norm(model):
    """An inference copy of a chain model with each BatchNormalization folded into the layer before it.

    Batch norm at inference is a per-channel affine map, so it can be merged into the preceding
    convolution or dense layer's kernel and bias; dropout layers do nothing at inference and are left
    out. Fewer, fused operations make serving faster; outputs are equal up to float rounding.
    Models that are not a simple chain of layers are returned unchanged.
    """
    import keras
    import numpy as np

    members = ensemble_members(model)
    if members:
        inputs = keras.Input(shape=model.inputs[0].shape[1:], name="character")
        folded = [fold_batch_norm(member) for member in members]
        averaged = keras.layers.Average(name="probabilities")([member(inputs) for member in folded])
        return keras.Model(inputs, averaged, name=f"{model.name}_folded")
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    chain_ok = all(len(layer._inbound_nodes) == 1 for layer in layers)
    if not chain_ok or len(model.inputs) != 1 or len(model.outputs) != 1:
        return model
    inputs = keras.Input(shape=model.inputs[0].shape[1:], name=model.inputs[0].name.split(":")[0])
    tensor = inputs
    index = 0
    while index < len(layers):
        layer = layers[index]
        following = layers[index + 1] if index + 1 < len(layers) else None
        if isinstance(layer, keras.layers.Dropout | keras.layers.SpatialDropout2D):
            index += 1
            continue
        config = layer.get_config()
        foldable = isinstance(layer, keras.layers.Conv2D | keras.layers.Dense) and not isinstance(
            layer, keras.layers.DepthwiseConv2D
        )
        if foldable and isinstance(following, keras.layers.BatchNormalization):
            weights = layer.get_weights()
            kernel = weights[0]
            bias = weights[1] if len(weights) > 1 else np.zeros(kernel.shape[-1], dtype=kernel.dtype)
            gamma, beta, mean, variance = following.get_weights()
            scale = gamma / np.sqrt(variance + following.epsilon)
            config.update(use_bias=True)
            fused = layer.__class__.from_config(config)
            tensor = fused(tensor)
            fused.set_weights([kernel * scale, (bias - mean) * scale + beta])
            index += 2
            continue
        clone = layer.__class__.from_config(config)
        tensor = clone(tensor)
        clone.set_weights(layer.get_weights())
        index += 1
    return keras.Model(inputs, tensor, name=f"{model.name}_folded")
