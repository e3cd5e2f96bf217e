"""The stacked compiled epoch: members' state as [M, ...] tensors, one compiled call per epoch.

`epoch_fn` trains every member of a stack one epoch and validates them, as one pure function
that the backend compiles once per shape; `Stack` holds a stack's state between calls.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import numpy.typing as npt

from worker.backend import compile_fn, tensor
from worker.checkpoint import Checkpoint
from worker.datasets import Dataset
from worker.members import MemberState
from worker.network import initial_weights, stacked_eval, stacked_loss_and_grads, stacked_update

log = logging.getLogger("lrlab.worker")

# Validation runs in fixed-size chunks so that XLA compiles one shape and memory stays bounded.
EVAL_CHUNK = 4096


def epoch_fn(
    state: tuple[Any, ...],
    hyper: tuple[Any, Any, Any],
    train: tuple[Any, Any, Any, Any, Any, Any],
    val: tuple[Any, Any, Any, Any, Any],
    kinds: str,
) -> tuple[tuple[Any, ...], Any, Any, Any, Any, Any]:
    """Train every member one epoch, then validate; pure: state in, new state out.

    state = (params[4], m[4], v[4], iterations [M]); hyper = (is_adam [M], momentum [M],
    active [M]); train = (x [N, F], y [N], order [S, M, B], mask [S, B], lrs [S, M],
    n_steps); val = (x [V, F], y [V], order [K, C], mask [K, C], n_chunks). n_steps and
    n_chunks bound the loops, so a call with 0 compiles the function without running it.
    kinds is static: "adam", "sgd" or "mixed" optimizers among the members.
    """
    ops = keras.ops
    params, m_slots, v_slots, iterations = state[0:4], state[4:8], state[8:12], state[12]
    is_adam, momentum, active = hyper
    x, y, order, mask, lrs, n_steps = train
    x_val, y_val, val_order, val_mask, n_chunks = val
    members = lrs.shape[1]

    def step(i: Any, carry: tuple[Any, ...]) -> tuple[Any, ...]:
        p, m, v, it, used, loss_sum, hit_sum = carry
        idx = order[i]
        weight = mask[i]
        lr = lrs[i]
        loss, hits, grads = stacked_loss_and_grads(
            p, ops.take(x, idx, axis=0), ops.take(y, idx, axis=0), weight
        )
        p, m, v, it = stacked_update(p, grads, m, v, it, lr, is_adam, momentum, active, kinds)
        # The lr row the update applied, kept for the report.
        used = ops.slice_update(used, (i, 0), ops.expand_dims(lr, 0))
        n = ops.sum(weight)
        return (
            tuple(p),
            tuple(m),
            tuple(v),
            it,
            used,
            ops.add(loss_sum, ops.multiply(loss, n)),
            ops.add(hit_sum, hits),
        )

    zeros = ops.zeros((members,), dtype="float32")
    carry = (
        tuple(params),
        tuple(m_slots),
        tuple(v_slots),
        iterations,
        ops.zeros_like(lrs),
        zeros,
        zeros,
    )
    params, m_slots, v_slots, iterations, used, loss_sum, hit_sum = ops.fori_loop(
        0, n_steps, step, carry
    )

    def evaluate(j: Any, carry: tuple[Any, Any]) -> tuple[Any, Any]:
        loss_sum, hit_sum = carry
        idx = val_order[j]
        loss, hits = stacked_eval(
            params, ops.take(x_val, idx, axis=0), ops.take(y_val, idx, axis=0), val_mask[j]
        )
        return ops.add(loss_sum, loss), ops.add(hit_sum, hits)

    val_loss, val_hits = ops.fori_loop(0, n_chunks, evaluate, (zeros, zeros))
    new_state = (*params, *m_slots, *v_slots, iterations)
    return new_state, used, loss_sum, hit_sum, val_loss, val_hits


ShapeKey = tuple[str, str, int, int, int, int, int, int, int]

_compiled_lock = threading.Lock()
# Tracing and XLA-compiling an epoch costs seconds, an epoch a fraction of one: a worker keeps
# one compiled function per shape and remembers which shapes it has already compiled.
_compiled: dict[ShapeKey, Callable[..., Any]] = {}
_warm: set[ShapeKey] = set()


def _shape_key(
    kinds: str, members: int, batch_size: int, n_train: int, features: int, n_val: int
) -> ShapeKey:
    steps = math.ceil(n_train / batch_size)
    chunk = min(EVAL_CHUNK, n_val)
    return (
        keras.backend.backend(),
        kinds,
        members,
        batch_size,
        steps,
        n_train,
        features,
        n_val,
        chunk,
    )


def _epoch_function(key: ShapeKey) -> Callable[..., Any]:
    kinds = key[1]

    def epoch(state: Any, hyper: Any, train: Any, val: Any) -> Any:
        return epoch_fn(state, hyper, train, val, kinds)

    with _compiled_lock:
        fn = _compiled.get(key)
        if fn is None:
            fn = _compiled[key] = compile_fn(epoch)
        return fn


@dataclass(frozen=True, eq=False)
class Tensors:
    """The dataset as backend tensors, made once per training call and shared by its stacks."""

    x_train: Any
    y_train: Any
    val: tuple[Any, Any, Any, Any, Any]
    n_train: int
    n_val: int
    features: int


def dataset_tensors(data: Dataset) -> Tensors:
    """The dataset's train and validation splits as backend tensors."""
    return make_tensors(data.x_train, data.y_train, data.x_val, data.y_val)


def make_tensors(x_train: Any, y_train: Any, x_val: Any, y_val: Any) -> Tensors:
    """Convert host arrays, with validation split into padded chunks of EVAL_CHUNK rows."""
    n_val = len(y_val)
    order, mask = padded_batches(np.arange(n_val), min(EVAL_CHUNK, n_val))
    return Tensors(
        x_train=tensor(x_train, "float32"),
        y_train=tensor(y_train, "int32"),
        val=(
            tensor(x_val, "float32"),
            tensor(y_val, "int32"),
            tensor(order, "int32"),
            tensor(mask, "float32"),
            tensor(np.int32(len(order)), "int32"),
        ),
        n_train=len(y_train),
        n_val=n_val,
        features=int(x_train.shape[1]),
    )


def padded_batches(
    order: npt.NDArray[np.int64], batch_size: int
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]:
    """Reshape an index order into (steps, batch_size), padding the last batch with masked rows."""
    # Fixed batch shapes let XLA compile the epoch once; the mask keeps the partial last batch
    # exact (its loss is the mean over its real rows, as in model.fit).
    steps = math.ceil(len(order) / batch_size)
    padded = np.zeros(steps * batch_size, dtype=np.int32)
    padded[: len(order)] = order
    mask = np.zeros(steps * batch_size, dtype=np.float32)
    mask[: len(order)] = 1.0
    return padded.reshape(steps, batch_size), mask.reshape(steps, batch_size)


class Stack:
    """Members stacked into one model: their state as [M, ...] backend tensors.

    A member starts from its checkpoint where it has one, else from its seed's initial weights.
    """

    def __init__(
        self,
        members: list[MemberState],
        checkpoints: list[Checkpoint | None],
        tensors: Tensors,
        batch_size: int,
    ) -> None:
        self.members = members
        self.tensors = tensors
        self.batch_size = batch_size
        self.steps = math.ceil(tensors.n_train / batch_size)
        size = len(members)
        optimizers = {m.config.optimizer for m in members}
        kinds = optimizers.pop() if len(optimizers) == 1 else "mixed"
        self.key = _shape_key(
            kinds, size, batch_size, tensors.n_train, tensors.features, tensors.n_val
        )
        params: list[list[npt.NDArray[np.float32]]] = [[], [], [], []]
        m_slots: list[list[npt.NDArray[np.float32]]] = [[], [], [], []]
        v_slots: list[list[npt.NDArray[np.float32]]] = [[], [], [], []]
        iterations = np.zeros(size, dtype=np.float32)
        for i, (member, saved) in enumerate(zip(members, checkpoints, strict=True)):
            if saved is None:
                weights = initial_weights(seed=member.config.seed, input_features=tensors.features)
                zero = [np.zeros_like(w) for w in weights]
                ms, vs = zero, zero
            else:
                weights, ms, vs = saved.params, saved.m, saved.v
                iterations[i] = saved.iterations
            for k in range(4):
                params[k].append(weights[k])
                m_slots[k].append(ms[k])
                v_slots[k].append(vs[k])
        stacked = [np.stack(a) for a in (*params, *m_slots, *v_slots)]
        self.state: tuple[Any, ...] = (
            *(tensor(a, "float32") for a in stacked),
            tensor(iterations, "float32"),
        )
        self.is_adam = tensor(np.array([m.config.optimizer == "adam" for m in members]), "bool")
        self.momentum = tensor(
            np.array(
                [m.config.momentum if m.config.optimizer == "sgd" else 0.0 for m in members],
                dtype=np.float32,
            ),
            "float32",
        )
        self.fn = _epoch_function(self.key)

    def hyper(self) -> tuple[Any, Any, Any]:
        active = tensor(np.array([m.active for m in self.members]), "bool")
        return self.is_adam, self.momentum, active

    def warm(self) -> None:
        """Compile the epoch for this stack's shapes (a call that runs zero steps) if needed."""
        with _compiled_lock:
            if self.key in _warm:
                return
        started = time.perf_counter()
        size = len(self.members)
        order = np.zeros((self.steps, size, self.batch_size), dtype=np.int32)
        mask = np.zeros((self.steps, self.batch_size), dtype=np.float32)
        lrs = np.zeros((self.steps, size), dtype=np.float32)
        x_val, y_val, val_order, val_mask, _ = self.tensors.val
        out = self.fn(
            self.state,
            self.hyper(),
            self._train_args(order, mask, lrs, 0),
            (x_val, y_val, val_order, val_mask, tensor(np.int32(0), "int32")),
        )
        keras.ops.convert_to_numpy(out[2])  # wait for the compilation to finish
        with _compiled_lock:
            _warm.add(self.key)
        log.info(
            "compiled the epoch for %d member(s), batch %d, %d train / %d val rows in %.2f s",
            size,
            self.batch_size,
            self.tensors.n_train,
            self.tensors.n_val,
            time.perf_counter() - started,
        )

    def _train_args(
        self,
        order: npt.NDArray[np.int32],
        mask: npt.NDArray[np.float32],
        lrs: npt.NDArray[np.float32],
        n_steps: int,
    ) -> tuple[Any, ...]:
        return (
            self.tensors.x_train,
            self.tensors.y_train,
            tensor(order, "int32"),
            tensor(mask, "float32"),
            tensor(lrs, "float32"),
            tensor(np.int32(n_steps), "int32"),
        )

    def run_epoch(
        self, lrs: npt.NDArray[np.float32], orders: list[npt.NDArray[np.int64]]
    ) -> dict[str, npt.NDArray[Any]]:
        """Run one compiled epoch; lrs [S, M], one permutation per member (any for inactive)."""
        batches = [padded_batches(o, self.batch_size) for o in orders]
        order = np.stack([b[0] for b in batches], axis=1)
        mask = batches[0][1]
        out = self.fn(
            self.state,
            self.hyper(),
            self._train_args(order, mask, lrs, self.steps),
            self.tensors.val,
        )
        self.state, used, loss, hits, val_loss, val_hits = out
        to_np = keras.ops.convert_to_numpy
        return {
            "used": to_np(used),
            "loss": to_np(loss),
            "hits": to_np(hits),
            "val_loss": to_np(val_loss),
            "val_hits": to_np(val_hits),
        }

    def member_arrays(self) -> tuple[list[npt.NDArray[np.float32]], npt.NDArray[np.float32]]:
        """The stacked state on the host: 12 [M, ...] arrays and iterations [M]."""
        host = [np.asarray(keras.ops.convert_to_numpy(t)) for t in self.state]
        return host[:12], host[12]
