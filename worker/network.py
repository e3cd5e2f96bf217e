"""The seed tutorial's network, and the same network stacked M times with its optimizers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

INPUT_FEATURES = 784
HIDDEN_UNITS = 128
NUM_CLASSES = 10


def build_model(*, seed: int, input_features: int = INPUT_FEATURES) -> keras.Model:
    """Build Dense(128, relu) -> Dense(10, softmax), its weights drawn from `seed` alone."""
    # Explicit initializer seeds make the weights independent of any global RNG state.
    return keras.Sequential(
        [
            keras.Input(shape=(input_features,)),
            keras.layers.Dense(
                HIDDEN_UNITS,
                activation="relu",
                kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
            ),
            keras.layers.Dense(
                NUM_CLASSES,
                activation="softmax",
                kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 1),
            ),
        ],
        name="seed_mlp",
    )


def initial_weights(*, seed: int, input_features: int = INPUT_FEATURES) -> list[np.ndarray]:
    """Return build_model(seed)'s initial weights [kernel1, bias1, kernel2, bias2] as float32."""
    # Seeded Keras initializers return the same values on every call, so this equals what the
    # Dense layers draw without building a model.
    kernel1 = keras.initializers.GlorotUniform(seed=seed)((input_features, HIDDEN_UNITS))
    kernel2 = keras.initializers.GlorotUniform(seed=seed + 1)((HIDDEN_UNITS, NUM_CLASSES))
    return [
        np.asarray(keras.ops.convert_to_numpy(kernel1), dtype=np.float32),
        np.zeros(HIDDEN_UNITS, dtype=np.float32),
        np.asarray(keras.ops.convert_to_numpy(kernel2), dtype=np.float32),
        np.zeros(NUM_CLASSES, dtype=np.float32),
    ]


# Keras' Adam defaults; the stacked update reproduces keras.optimizers.Adam's arithmetic.
ADAM_BETA_1 = 0.9
ADAM_BETA_2 = 0.999
ADAM_EPSILON = 1e-7


def stacked_forward(params: Sequence[Any], x: Any, *, shared_input: bool) -> tuple[Any, Any]:
    """Return (hidden pre-activation, logits) of M stacked MLPs.

    params: kernel1 [M, F, H], bias1 [M, H], kernel2 [M, H, C], bias2 [M, C]. x: [M, B, F], or
    [B, F] fed to every member when shared_input.
    """
    k1, b1, k2, b2 = params
    ops = keras.ops
    pre = ops.einsum("bi,mij->mbj" if shared_input else "mbi,mij->mbj", x, k1)
    pre = ops.add(pre, ops.expand_dims(b1, 1))
    logits = ops.add(ops.einsum("mbj,mjk->mbk", ops.relu(pre), k2), ops.expand_dims(b2, 1))
    return pre, logits


def stacked_loss_and_grads(
    params: Sequence[Any], x: Any, y: Any, weight: Any
) -> tuple[Any, Any, list[Any]]:
    """Masked-mean sparse cross-entropy of every member, hits per member, and the gradients.

    x [M, B, F], y [M, B] int, weight [B] (1 for real rows, 0 for padding). Returns loss [M]
    (mean over real rows, as model.fit), hits [M] (count of correct real rows), and gradients
    in the order of params. Backpropagation is written out: keras.ops has no autodiff, and an
    explicit backward pass keeps the engine backend-agnostic.
    """
    ops = keras.ops
    k1, _, k2, _ = params
    pre, logits = stacked_forward(params, x, shared_input=False)
    hidden = ops.relu(pre)
    n = ops.sum(weight)
    log_probs = ops.log_softmax(logits, axis=-1)
    onehot = ops.one_hot(y, NUM_CLASSES, dtype="float32")
    per_row = ops.negative(ops.sum(ops.multiply(onehot, log_probs), axis=-1))
    loss = ops.divide(ops.sum(ops.multiply(per_row, weight), axis=-1), n)
    probs = ops.softmax(logits, axis=-1)
    hit = ops.cast(ops.equal(ops.argmax(probs, axis=-1), ops.cast(y, "int32")), "float32")
    hits = ops.sum(ops.multiply(hit, weight), axis=-1)
    # d(mean CE)/d logits = (softmax - onehot) * w / n for each real row.
    scale = ops.expand_dims(ops.expand_dims(ops.divide(weight, n), 0), -1)
    d_logits = ops.multiply(ops.subtract(probs, onehot), scale)
    d_k2 = ops.einsum("mbj,mbk->mjk", hidden, d_logits)
    d_b2 = ops.sum(d_logits, axis=1)
    d_hidden = ops.einsum("mbk,mjk->mbj", d_logits, k2)
    d_pre = ops.where(ops.greater(pre, 0.0), d_hidden, ops.zeros_like(d_hidden))
    d_k1 = ops.einsum("mbi,mbj->mij", x, d_pre)
    d_b1 = ops.sum(d_pre, axis=1)
    del k1
    return loss, hits, [d_k1, d_b1, d_k2, d_b2]


def stacked_eval(params: Sequence[Any], x: Any, y: Any, weight: Any) -> tuple[Any, Any]:
    """Summed per-row cross-entropy [M] and hits [M] of every member on shared rows x [B, F]."""
    ops = keras.ops
    _, logits = stacked_forward(params, x, shared_input=True)
    log_probs = ops.log_softmax(logits, axis=-1)
    onehot = ops.one_hot(y, NUM_CLASSES, dtype="float32")
    per_row = ops.negative(ops.sum(ops.multiply(onehot, log_probs), axis=-1))
    probs = ops.softmax(logits, axis=-1)
    hit = ops.cast(ops.equal(ops.argmax(probs, axis=-1), ops.cast(y, "int32")), "float32")
    return ops.sum(ops.multiply(per_row, weight), axis=-1), ops.sum(ops.multiply(hit, weight), -1)


def _per_member(v: Any, like: Any) -> Any:
    """Reshape a [M] vector so that it broadcasts against a [M, ...] parameter."""
    return keras.ops.reshape(v, (-1,) + (1,) * (len(like.shape) - 1))


def stacked_update(
    params: Sequence[Any],
    grads: Sequence[Any],
    m_slots: Sequence[Any],
    v_slots: Sequence[Any],
    iterations: Any,
    lr: Any,
    is_adam: Any,
    momentum: Any,
    active: Any,
    kinds: str = "mixed",
) -> tuple[list[Any], list[Any], list[Any], Any]:
    """One optimizer step of every member: Adam where is_adam, SGD(momentum) elsewhere.

    Per member: lr [M], is_adam [M] bool, momentum [M], active [M] bool (inactive members keep
    every value), iterations [M] float32 (Keras' optimizer.iterations). SGD keeps its momentum in
    m_slots. The arithmetic is keras.optimizers.Adam's / SGD's, op for op. kinds ("adam", "sgd"
    or "mixed") is static: a group of one optimizer skips the other's arithmetic.
    """
    ops = keras.ops
    local_step = ops.add(iterations, 1.0)
    beta_1_power = ops.power(ops.cast(ADAM_BETA_1, "float32"), local_step)
    beta_2_power = ops.power(ops.cast(ADAM_BETA_2, "float32"), local_step)
    alpha = ops.divide(
        ops.multiply(lr, ops.sqrt(ops.subtract(1.0, beta_2_power))),
        ops.subtract(1.0, beta_1_power),
    )
    new_params: list[Any] = []
    new_m: list[Any] = []
    new_v: list[Any] = []
    for w, g, m, v in zip(params, grads, m_slots, v_slots, strict=True):
        adam = _per_member(is_adam, w)
        live = _per_member(active, w)
        if kinds == "adam":
            w_new, m_new, v_new = _adam(w, g, m, v, _per_member(alpha, w))
        elif kinds == "sgd":
            w_new, m_new = _sgd(w, g, m, _per_member(momentum, w), _per_member(lr, w))
            v_new = v
        else:
            w_adam, m_adam, v_adam = _adam(w, g, m, v, _per_member(alpha, w))
            w_sgd, m_sgd = _sgd(w, g, m, _per_member(momentum, w), _per_member(lr, w))
            w_new = ops.where(adam, w_adam, w_sgd)
            m_new = ops.where(adam, m_adam, m_sgd)
            v_new = ops.where(adam, v_adam, v)
        new_params.append(ops.where(live, w_new, w))
        new_m.append(ops.where(live, m_new, m))
        new_v.append(ops.where(live, v_new, v))
    new_iterations = ops.where(active, local_step, iterations)
    return new_params, new_m, new_v, new_iterations


def _adam(w: Any, g: Any, m: Any, v: Any, alpha: Any) -> tuple[Any, Any, Any]:
    """keras.optimizers.Adam.update_step (amsgrad off) with alpha = lr·√(1-β₂ᵗ)/(1-β₁ᵗ)."""
    ops = keras.ops
    m = ops.add(m, ops.multiply(ops.subtract(g, m), 1 - ADAM_BETA_1))
    v = ops.add(v, ops.multiply(ops.subtract(ops.square(g), v), 1 - ADAM_BETA_2))
    w = ops.subtract(w, ops.divide(ops.multiply(m, alpha), ops.add(ops.sqrt(v), ADAM_EPSILON)))
    return w, m, v


def _sgd(w: Any, g: Any, m: Any, momentum: Any, lr: Any) -> tuple[Any, Any]:
    """keras.optimizers.SGD.update_step (nesterov off) with the momentum as a tensor."""
    # Momentum 0 gives w + (-(g·lr)) == w - g·lr exactly, which is Keras' no-momentum branch.
    ops = keras.ops
    m = ops.subtract(ops.multiply(m, momentum), ops.multiply(g, lr))
    return ops.add(w, m), m
