"""The model families as Keras models and as pure stacked forward functions of [M, ...] params.

`build_model(spec, seed)` is the Keras model a member reproduces; `initial_weights` its initial
weights without building it; `stacked_logits` the forward pass of M members at once, whose
gradients come from the backend's autodiff (worker.backend.value_and_grad).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from models.training import CnnSpec, MlpSpec, cnn_sides
from worker.backend import stateless_uniform

INPUT_FEATURES = 784
HIDDEN_UNITS = 128
NUM_CLASSES = 10
ModelSpec = MlpSpec | CnnSpec
DEFAULT_MODEL = MlpSpec()


def _side(input_features: int) -> int:
    side = math.isqrt(input_features)
    if side * side != input_features:
        raise ValueError(f"a CNN needs square images, got {input_features} features")
    return side


def build_model(
    spec: ModelSpec = DEFAULT_MODEL, *, seed: int, input_features: int = INPUT_FEATURES
) -> keras.Model:
    """The family's Keras model; layer i's kernel is GlorotUniform(seed + i), biases zero."""
    # Explicit initializer seeds make the weights independent of any global RNG state.
    layers: list[Any] = [keras.Input(shape=(input_features,))]
    if isinstance(spec, MlpSpec):
        for i, units in enumerate(spec.hidden_units):
            layers.append(
                keras.layers.Dense(
                    units,
                    activation=spec.activation,
                    kernel_initializer=keras.initializers.GlorotUniform(seed=seed + i),
                )
            )
            if spec.dropout:
                layers.append(keras.layers.Dropout(spec.dropout))
        last = len(spec.hidden_units)
    else:
        side = _side(input_features)
        layers.append(keras.layers.Reshape((side, side, 1)))
        for i, filters in enumerate(spec.filters):
            layers.append(
                keras.layers.Conv2D(
                    filters,
                    spec.kernel_size,
                    activation="relu",
                    kernel_initializer=keras.initializers.GlorotUniform(seed=seed + i),
                )
            )
            layers.append(keras.layers.MaxPooling2D(pool_size=2))
        layers.append(keras.layers.Flatten())
        if spec.dropout:
            layers.append(keras.layers.Dropout(spec.dropout))
        last = len(spec.filters)
    layers.append(
        keras.layers.Dense(
            NUM_CLASSES,
            activation="softmax",
            kernel_initializer=keras.initializers.GlorotUniform(seed=seed + last),
        )
    )
    return keras.Sequential(layers, name=f"lrlab_{spec.type}")


def param_shapes(
    spec: ModelSpec = DEFAULT_MODEL, input_features: int = INPUT_FEATURES
) -> list[tuple[int, ...]]:
    """Shapes of [kernel1, bias1, kernel2, bias2, ...] in the order of model.get_weights()."""
    shapes: list[tuple[int, ...]] = []
    if isinstance(spec, MlpSpec):
        width = input_features
        for units in spec.hidden_units:
            shapes += [(width, units), (units,)]
            width = units
    else:
        channels, k = 1, spec.kernel_size
        for filters in spec.filters:
            shapes += [(k, k, channels, filters), (filters,)]
            channels = filters
        last = cnn_sides(spec, _side(input_features))[-1]
        width = last * last * channels
    return [*shapes, (width, NUM_CLASSES), (NUM_CLASSES,)]


def widest_activation(spec: ModelSpec = DEFAULT_MODEL, input_features: int = INPUT_FEATURES) -> int:
    """Floats per image of one member's widest intermediate (a layer's output or conv patches)."""
    if isinstance(spec, MlpSpec):
        return max(spec.hidden_units)
    side, channels, widest = _side(input_features), 1, 0
    for filters, pooled in zip(spec.filters, cnn_sides(spec, side), strict=True):
        out = side - spec.kernel_size + 1
        widest = max(widest, out * out * max(filters, spec.kernel_size**2 * channels))
        side, channels = pooled, filters
    return widest


def param_names(spec: ModelSpec = DEFAULT_MODEL) -> list[str]:
    """kernel1, bias1, kernel2, bias2, ...: one kernel and bias per layer."""
    layers = len(spec.hidden_units if isinstance(spec, MlpSpec) else spec.filters) + 1
    return [f"{kind}{i}" for i in range(1, layers + 1) for kind in ("kernel", "bias")]


def initial_weights(
    *, seed: int, input_features: int = INPUT_FEATURES, spec: ModelSpec = DEFAULT_MODEL
) -> list[np.ndarray]:
    """build_model(spec, seed)'s initial weights as float32, without building the model."""
    # Seeded Keras initializers return the same values on every call, so this equals what the
    # layers draw.
    weights: list[np.ndarray] = []
    for i, shape in enumerate(param_shapes(spec, input_features)):
        if i % 2:
            weights.append(np.zeros(shape, dtype=np.float32))
        else:
            kernel = keras.initializers.GlorotUniform(seed=seed + i // 2)(shape)
            weights.append(np.asarray(keras.ops.convert_to_numpy(kernel), dtype=np.float32))
    return weights


def _conv_and_pool(h: Any, kernel: Any) -> Any:
    """Conv2D (stride 1, valid) then MaxPooling2D(2) of M members, before bias and activation:
    h [M, B, H, W, C] or [B, H, W, C] shared, kernel [M, k, k, C, F] -> [M, B, R, S, F] with
    R = (H-k+1) // 2 and S = (W-k+1) // 2.

    The k·k shifted views of h side by side are each member's patches, and one einsum over
    the member axis multiplies them by its kernel: a batched matmul, which XLA compiles to a
    GEMM on every device, where M separate convolutions would be M calls and a grouped
    convolution (what vmap makes of one) runs far slower on a CPU; see docs/engine.md. Only
    the 2R × 2S outputs the pooling reads are computed (valid pooling drops an odd last row
    and column), and the pooling is a reshape and a max: its gradient is a reduce-max's,
    which XLA compiles under op determinism where TensorFlow's MaxPool gradient has none.
    """
    ops = keras.ops
    size, _, channels, filters = kernel.shape[1:]
    rows, cols = (h.shape[-3] - size + 1) // 2, (h.shape[-2] - size + 1) // 2
    patches = ops.concatenate(
        [h[..., i : i + 2 * rows, j : j + 2 * cols, :] for i in range(size) for j in range(size)],
        axis=-1,
    )
    flat = ops.reshape(kernel, (kernel.shape[0], size * size * channels, filters))
    shared = len(h.shape) == 4
    out = ops.einsum("bhwk,mkf->mbhwf" if shared else "mbhwk,mkf->mbhwf", patches, flat)
    out = ops.reshape(out, (out.shape[0], -1, rows, 2, cols, 2, filters))
    return ops.max(out, axis=(3, 5))


def _dropout(h: Any, rate: float, seeds: Any, salt: Any) -> Any:
    """Inverted dropout of h [M, B, ...] with each member's mask from (its seed, salt)."""
    ops = keras.ops
    kept = []
    for m in range(h.shape[0]):
        u = stateless_uniform(tuple(h.shape[1:]), ops.stack([seeds[m], salt[m]]))
        kept.append(ops.where(ops.greater_equal(u, rate), ops.divide(h[m], 1.0 - rate), 0.0))
    return ops.stack(kept)


def stacked_logits(
    spec: ModelSpec,
    params: Sequence[Any],
    x: Any,
    *,
    shared_input: bool,
    dropout_seeds: Any = None,
    dropout_salt: Any = None,
) -> Any:
    """Logits [M, B, C] of M stacked members: x [M, B, F], or [B, F] for every member.

    Dropout applies when `dropout_seeds` [M] int32 and `dropout_salt` [M] int32 (e.g. the
    member's step count) are given; the mask is drawn from them alone, so a member's masks
    do not depend on its stack.
    """
    ops = keras.ops
    train = dropout_seeds is not None
    if isinstance(spec, MlpSpec):
        act = keras.activations.get(spec.activation)
        h = x
        for layer in range(len(spec.hidden_units)):
            k, b = params[2 * layer], params[2 * layer + 1]
            shared = shared_input and layer == 0
            h = ops.einsum("bi,mij->mbj" if shared else "mbi,mij->mbj", h, k)
            h = act(ops.add(h, ops.expand_dims(b, 1)))
            if train and spec.dropout:
                h = _dropout(h, spec.dropout, dropout_seeds, ops.add(dropout_salt * 8, layer))
        k, b = params[-2], params[-1]
        return ops.add(ops.einsum("mbj,mjk->mbk", h, k), ops.expand_dims(b, 1))
    # The CNN: each convolution is one batched matmul over the member axis (_conv_and_pool).
    side = _side(x.shape[-1])
    h = ops.reshape(x, (*x.shape[:-1], side, side, 1))
    for layer in range(len(spec.filters)):
        # Pooling first is exact (relu and a per-channel bias are monotonic) and 4× cheaper.
        h = _conv_and_pool(h, params[2 * layer])
        h = ops.relu(ops.add(h, params[2 * layer + 1][:, None, None, None, :]))
    h = ops.reshape(h, (h.shape[0], -1, math.prod(h.shape[2:])))
    if train and spec.dropout:
        h = _dropout(h, spec.dropout, dropout_seeds, ops.multiply(dropout_salt, 8))
    k, b = params[-2], params[-1]
    return ops.add(ops.einsum("mbj,mjk->mbk", h, k), ops.expand_dims(b, 1))


def cross_entropy(logits: Any, y: Any) -> tuple[Any, Any]:
    """Per-row sparse cross-entropy and hit (1.0 if argmax is the label) of logits [..., C]."""
    ops = keras.ops
    log_probs = ops.log_softmax(logits, axis=-1)
    onehot = ops.one_hot(y, NUM_CLASSES, dtype="float32")
    per_row = ops.negative(ops.sum(ops.multiply(onehot, log_probs), axis=-1))
    hit = ops.cast(ops.equal(ops.argmax(logits, axis=-1), ops.cast(y, "int32")), "float32")
    return per_row, hit
