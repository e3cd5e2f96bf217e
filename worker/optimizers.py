"""Keras' optimizers, stacked: one step of M members, each with its own optimizer and lr.

Every update reproduces keras.optimizers.<Class>.update_step op for op (Keras 3), after the
base optimizer's decoupled weight decay w ← w − w·wd·lr; local_step = iterations + 1.
Per parameter a member keeps up to three slots: 0 "momentum" (first moment, SGD/RMSprop/Lion
momentum, ScheduleFreeAdamW's z), 1 "velocity" (second moment), 2 RMSprop's average gradient.
Per member it keeps two scalars: iterations and Nadam's u_product (Keras' `_u_product`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from models.training import OPTIMIZERS

KINDS = tuple(OPTIMIZERS)
# Hyperparameters as [M] float32 vectors, in this order (booleans as 0/1).
# The "1-" columns are computed in float64 on the host, as Keras' Adam and RMSprop compute
# `1 - self.beta_1` in Python before it meets a float32 tensor.
HYPER_NAMES = (
    "beta_1",
    "beta_2",
    "epsilon",
    "rho",
    "momentum",
    "nesterov",
    "centered",
    "wd",
    "1-beta_1",
    "1-beta_2",
    "1-rho",
)


def slot_count(optimizer: str, params: dict[str, float | bool]) -> int:
    """Slots per parameter the optimizer uses."""
    if optimizer in ("sgd", "lion"):
        return 1
    if optimizer == "rmsprop":
        return 3 if params.get("centered") else 2
    return 2


def hyper_row(optimizer: str, params: dict[str, float | bool]) -> list[float]:
    """One member's HYPER_NAMES values (0 where the optimizer lacks the parameter)."""
    values = {**params, "wd": params.get("weight_decay", 0.0)}
    for name in ("beta_1", "beta_2", "rho"):
        values[f"1-{name}"] = 1.0 - float(values.get(name, 0.0))
    return [float(values.get(name, 0.0)) for name in HYPER_NAMES]


def _col(v: Any, like: Any) -> Any:
    """Reshape a [M] vector so that it broadcasts against a [M, ...] tensor."""
    return keras.ops.reshape(v, (-1,) + (1,) * (len(like.shape) - 1))


def stacked_step(
    params: Sequence[Any],
    grads: Sequence[Any],
    slots: Sequence[Sequence[Any]],
    scalars: tuple[Any, Any],
    lr: Any,
    hyper: Any,
    kind: Any,
    active: Any,
    kinds: tuple[str, ...],
) -> tuple[list[Any], list[list[Any]], tuple[Any, Any]]:
    """One optimizer step of every member; inactive members keep every value.

    slots[j][p]: slot j of parameter p, [M, ...]; scalars = (iterations [M], u_product [M]);
    lr [M]; hyper [M, len(HYPER_NAMES)]; kind [M] int32 (index into KINDS); kinds, static,
    the optimizers present, so a stack of one optimizer computes only its arithmetic.
    """
    ops = keras.ops
    iterations, u_product = scalars
    h = {name: hyper[:, i] for i, name in enumerate(HYPER_NAMES)}
    local_step = ops.add(iterations, 1.0)
    # Nadam advances its u_product before the per-variable updates (Keras _backend_update_step).
    u_t = ops.multiply(
        h["beta_1"], ops.subtract(1.0, ops.multiply(0.5, ops.power(0.96, local_step)))
    )
    nadam_u = ops.multiply(u_product, u_t)
    new_params: list[Any] = []
    new_slots: list[list[Any]] = [[] for _ in slots]
    for p, (w, g) in enumerate(zip(params, grads, strict=True)):
        s = [slot[p] for slot in slots]
        lr_w = _col(lr, w)
        hw = {name: _col(v, w) for name, v in h.items()}
        # Base optimizer: decoupled weight decay before the update (a no-op at wd 0).
        w_d = ops.subtract(w, ops.multiply(ops.multiply(w, hw["wd"]), lr_w))
        w_new, s_new = None, None
        for name in kinds:
            w_k, s_k = _UPDATES[name](w_d, g, s, lr_w, hw, _col(local_step, w), _col(nadam_u, w))
            if w_new is None or s_new is None:
                w_new, s_new = w_k, s_k
            else:
                pick = _col(ops.equal(kind, KINDS.index(name)), w)
                w_new = ops.where(pick, w_k, w_new)
                s_new = [ops.where(pick, a, b) for a, b in zip(s_k, s_new, strict=True)]
        assert w_new is not None and s_new is not None
        live = _col(active, w)
        new_params.append(ops.where(live, w_new, w))
        for j in range(len(s)):
            new_slots[j].append(ops.where(live, s_new[j], s[j]))
    nadam = ops.equal(kind, KINDS.index("nadam"))
    u_next = ops.where(ops.logical_and(active, nadam), nadam_u, u_product)
    return new_params, new_slots, (ops.where(active, local_step, iterations), u_next)


Slots = list[Any]
Hyper = dict[str, Any]


def _with(s: Slots, **changes: Any) -> Slots:
    out = list(s)
    for index, value in changes.items():
        out[int(index[1:])] = value
    return out


def _adam(w: Any, g: Any, s: Slots, lr: Any, h: Hyper, step: Any, _u: Any) -> tuple[Any, Slots]:
    """keras.optimizers.Adam (amsgrad off); AdamW is Adam after the weight decay."""
    ops = keras.ops
    b1, b2 = h["beta_1"], h["beta_2"]
    alpha = ops.divide(
        ops.multiply(lr, ops.sqrt(ops.subtract(1.0, ops.power(b2, step)))),
        ops.subtract(1.0, ops.power(b1, step)),
    )
    m = ops.add(s[0], ops.multiply(ops.subtract(g, s[0]), h["1-beta_1"]))
    v = ops.add(s[1], ops.multiply(ops.subtract(ops.square(g), s[1]), h["1-beta_2"]))
    w = ops.subtract(w, ops.divide(ops.multiply(m, alpha), ops.add(ops.sqrt(v), h["epsilon"])))
    return w, _with(s, s0=m, s1=v)


def _sgd(w: Any, g: Any, s: Slots, lr: Any, h: Hyper, _step: Any, _u: Any) -> tuple[Any, Slots]:
    """keras.optimizers.SGD; at momentum 0 both branches equal Keras' w − g·lr exactly."""
    ops = keras.ops
    mom = h["momentum"]
    m = ops.subtract(ops.multiply(s[0], mom), ops.multiply(g, lr))
    nesterov = ops.add(w, ops.subtract(ops.multiply(m, mom), ops.multiply(g, lr)))
    w = ops.where(ops.greater(h["nesterov"], 0.5), nesterov, ops.add(w, m))
    return w, _with(s, s0=m)


def _rmsprop(w: Any, g: Any, s: Slots, lr: Any, h: Hyper, _step: Any, _u: Any) -> tuple[Any, Slots]:
    """keras.optimizers.RMSprop; momentum 0 gives Keras' w − increment exactly."""
    ops = keras.ops
    rho = h["rho"]
    v = ops.add(ops.multiply(rho, s[1]), ops.multiply(h["1-rho"], ops.square(g)))
    changes: dict[str, Any] = {"s1": v}
    denominator = ops.add(v, h["epsilon"])
    if len(s) > 2:
        avg = ops.add(ops.multiply(rho, s[2]), ops.multiply(h["1-rho"], g))
        centered = ops.add(ops.subtract(v, ops.square(avg)), h["epsilon"])
        is_centered = ops.greater(h["centered"], 0.5)
        denominator = ops.where(is_centered, centered, denominator)
        changes["s2"] = ops.where(is_centered, avg, s[2])
    increment = ops.divide(ops.multiply(lr, g), ops.sqrt(denominator))
    m = ops.add(ops.multiply(h["momentum"], s[0]), increment)
    return ops.subtract(w, m), _with(s, s0=m, **changes)


def _nadam(
    w: Any, g: Any, s: Slots, lr: Any, h: Hyper, step: Any, u_prod: Any
) -> tuple[Any, Slots]:
    """keras.optimizers.Nadam; u_prod is the already advanced u_product."""
    ops = keras.ops
    b1, b2 = h["beta_1"], h["beta_2"]
    u_t = ops.multiply(b1, ops.subtract(1.0, ops.multiply(0.5, ops.power(0.96, step))))
    u_t_1 = ops.multiply(
        b1, ops.subtract(1.0, ops.multiply(0.5, ops.power(0.96, ops.add(step, 1.0))))
    )
    u_product_t_1 = ops.multiply(u_prod, u_t_1)
    beta_2_power = ops.power(b2, step)
    m = ops.add(s[0], ops.multiply(ops.subtract(g, s[0]), ops.subtract(1.0, b1)))
    v = ops.add(s[1], ops.multiply(ops.subtract(ops.square(g), s[1]), ops.subtract(1.0, b2)))
    m_hat = ops.add(
        ops.divide(ops.multiply(u_t_1, m), ops.subtract(1.0, u_product_t_1)),
        ops.divide(ops.multiply(ops.subtract(1.0, u_t), g), ops.subtract(1.0, u_prod)),
    )
    v_hat = ops.divide(v, ops.subtract(1.0, beta_2_power))
    w = ops.subtract(w, ops.divide(ops.multiply(m_hat, lr), ops.add(ops.sqrt(v_hat), h["epsilon"])))
    return w, _with(s, s0=m, s1=v)


def _lion(w: Any, g: Any, s: Slots, lr: Any, h: Hyper, _step: Any, _u: Any) -> tuple[Any, Slots]:
    """keras.optimizers.Lion."""
    ops = keras.ops
    b1, b2 = h["beta_1"], h["beta_2"]
    direction = ops.sign(ops.add(ops.multiply(s[0], b1), ops.multiply(g, ops.subtract(1.0, b1))))
    w = ops.subtract(w, ops.multiply(lr, direction))
    m = ops.add(ops.multiply(s[0], b2), ops.multiply(g, ops.subtract(1.0, b2)))
    return w, _with(s, s0=m)


def _schedule_free(
    w: Any, g: Any, s: Slots, lr: Any, h: Hyper, step: Any, _u: Any
) -> tuple[Any, Slots]:
    """keras.optimizers.ScheduleFreeAdamW (warmup 0): w is y, slot 0 is z (Keras' momentum).

    z ← z − lr·g/(√(v/(1−β₂ᵗ)) + ε); x_old = (y − (1−β₁)·z)/β₁; x ← (1−1/t)·x_old + z/t;
    y ← (1−β₁)·z + β₁·x. x_old reads the updated z, as Keras' TensorFlow graph does (its
    `momentum.value` is read after the assignment).
    """
    ops = keras.ops
    b1, b2 = h["beta_1"], h["beta_2"]
    v = ops.add(s[1], ops.multiply(ops.subtract(ops.square(g), s[1]), ops.subtract(1.0, b2)))
    bias_correction_2 = ops.subtract(1.0, ops.power(b2, step))
    denom = ops.add(ops.sqrt(ops.divide(v, bias_correction_2)), h["epsilon"])
    z = ops.subtract(s[0], ops.divide(ops.multiply(lr, g), denom))
    weight = ops.divide(1.0, step)
    x_old = ops.divide(ops.subtract(w, ops.multiply(ops.subtract(1.0, b1), z)), b1)
    x_new = ops.add(ops.multiply(ops.subtract(1.0, weight), x_old), ops.multiply(weight, z))
    y_new = ops.add(ops.multiply(ops.subtract(1.0, b1), z), ops.multiply(b1, x_new))
    return y_new, _with(s, s0=z, s1=v)


_UPDATES = {
    "adam": _adam,
    "adamw": _adam,
    "sgd": _sgd,
    "rmsprop": _rmsprop,
    "nadam": _nadam,
    "lion": _lion,
    "schedule_free_adamw": _schedule_free,
}


def initial_slots(
    optimizer: str, weights: Sequence[np.ndarray], count: int
) -> list[list[np.ndarray]]:
    """A fresh member's `count` slots per parameter (ScheduleFreeAdamW's z starts at w)."""
    slots = [[np.zeros_like(w) for w in weights] for _ in range(count)]
    if optimizer == "schedule_free_adamw":
        slots[0] = [np.array(w, copy=True) for w in weights]
    return slots
