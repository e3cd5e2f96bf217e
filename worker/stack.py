"""The stacked compiled epoch: members' state as [M, ...] tensors, one compiled call per epoch.

`epoch_fn` trains every member of a stack one epoch and validates them, as one pure function
that the backend compiles once per shape; `Stack` holds a stack's state between calls.
"""

from __future__ import annotations

import copy
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
import numpy.typing as npt

from worker.backend import compiled, tensor, value_and_grad
from worker.checkpoint_codec import MemberArrays, ResumeState
from worker.datasets import Dataset
from worker.members import MemberState
from worker.network import (
    ModelSpec,
    cross_entropy,
    initial_weights,
    param_shapes,
    stacked_logits,
    widest_activation,
)
from worker.optimizers import KINDS, hyper_row, initial_slots, slot_count, stacked_step

log = logging.getLogger("lrlab.worker")

# Validation runs in fixed-size chunks so that XLA compiles one shape and memory stays bounded:
# at most EVAL_CHUNK rows, fewer where the stack's widest activations would pass EVAL_FLOATS.
EVAL_CHUNK = 4096
EVAL_FLOATS = 2**26


def train_step(
    spec: ModelSpec,
    kinds: tuple[str, ...],
    state: tuple[Any, Any, Any],
    hyper: tuple[Any, Any, Any, Any],
    xb: Any,
    yb: Any,
    weight: Any,
    lr: Any,
) -> tuple[tuple[Any, Any, Any], Any, Any]:
    """One optimizer step of every member on its batch xb [M, B, F], yb [M, B].

    Returns the new state, each member's loss [M] (masked mean, before the update, as
    model.fit reports it) and hits [M]. The gradients are the backend's autodiff of the summed
    member losses: member m's parameters reach only member m's loss.
    """
    ops = keras.ops
    params, slots, scalars = state
    hyper_matrix, kind, active, seeds = hyper

    def loss_fn(p: list[Any], salt: Any) -> tuple[Any, Any]:
        dropout = {"dropout_seeds": seeds, "dropout_salt": salt} if spec.dropout else {}
        logits = stacked_logits(spec, p, xb, shared_input=False, **dropout)
        per_row, hit = cross_entropy(logits, yb)
        # Mean over the batch's real rows, as model.fit; padding rows weigh 0.
        loss = ops.divide(ops.sum(ops.multiply(per_row, weight), axis=-1), ops.sum(weight))
        return ops.sum(loss), (loss, ops.sum(ops.multiply(hit, weight), axis=-1))

    # The member's step count salts its dropout masks: new masks every step, the same on rerun.
    _, (loss, hits), grads = value_and_grad(loss_fn)(list(params), ops.cast(scalars[0], "int32"))
    p, s, sc = stacked_step(params, grads, slots, scalars, lr, hyper_matrix, kind, active, kinds)
    return (tuple(p), tuple(tuple(j) for j in s), tuple(sc)), loss, hits


def epoch_fn(
    state: tuple[Any, ...],
    hyper: tuple[Any, Any, Any, Any],
    train: tuple[Any, Any, Any, Any, Any, Any],
    val: tuple[Any, Any, Any, Any, Any],
    spec: ModelSpec,
    kinds: tuple[str, ...],
) -> tuple[tuple[Any, ...], Any, Any, Any, Any, Any]:
    """Train every member one epoch, then validate; pure: state in, new state out.

    state = (params, slots, (iterations [M], u_product [M])) with params a tuple of [M, ...]
    tensors and slots a tuple of such tuples (worker.optimizers); hyper = (hyper [M, H],
    kind [M], active [M], seeds [M]); train = (x [N, F], y [N], order [S, M, B], mask [S, B],
    lrs [S, M], n_steps); val = (x [V, F], y [V], order [K, C], mask [K, C], n_chunks).
    n_steps and n_chunks bound the loops, so a call with 0 compiles the function without
    running it.
    """
    ops = keras.ops
    params, slots, scalars = state
    x, y, order, mask, lrs, n_steps = train
    x_val, y_val, val_order, val_mask, n_chunks = val
    members = lrs.shape[1]

    def step(i: Any, carry: tuple[Any, ...]) -> tuple[Any, ...]:
        p, s, sc, used, loss_sum, hit_sum = carry
        idx = order[i]
        weight = mask[i]
        lr = lrs[i]
        (p, s, sc), loss, hits = train_step(
            spec,
            kinds,
            (p, s, sc),
            hyper,
            ops.take(x, idx, axis=0),
            ops.take(y, idx, axis=0),
            weight,
            lr,
        )
        # The lr row the update applied, kept for the report.
        used = ops.slice_update(used, (i, 0), ops.expand_dims(lr, 0))
        n = ops.sum(weight)
        return (p, s, sc, used, ops.add(loss_sum, ops.multiply(loss, n)), ops.add(hit_sum, hits))

    zeros = ops.zeros((members,), dtype="float32")
    carry = (tuple(params), tuple(tuple(j) for j in slots), tuple(scalars), ops.zeros_like(lrs))
    params, slots, scalars, used, loss_sum, hit_sum = ops.fori_loop(
        0, n_steps, step, (*carry, zeros, zeros)
    )

    def evaluate(j: Any, carry: tuple[Any, Any]) -> tuple[Any, Any]:
        loss_sum, hit_sum = carry
        idx = val_order[j]
        logits = stacked_logits(spec, params, ops.take(x_val, idx, axis=0), shared_input=True)
        per_row, hit = cross_entropy(logits, ops.take(y_val, idx, axis=0))
        weight = val_mask[j]
        return (
            ops.add(loss_sum, ops.sum(ops.multiply(per_row, weight), axis=-1)),
            ops.add(hit_sum, ops.sum(ops.multiply(hit, weight), axis=-1)),
        )

    val_loss, val_hits = ops.fori_loop(0, n_chunks, evaluate, (zeros, zeros))
    return (params, slots, scalars), used, loss_sum, hit_sum, val_loss, val_hits


ShapeKey = tuple[Any, ...]

_warm_lock = threading.Lock()
# The shapes this worker has already run once (compiled by the backend, not only traced).
_warm: set[ShapeKey] = set()


def _shape_key(
    spec: ModelSpec,
    kinds: tuple[str, ...],
    slots: int,
    members: int,
    batch_size: int,
    n_train: int,
    features: int,
    n_val: int,
) -> ShapeKey:
    steps = math.ceil(n_train / batch_size)
    # M last: a key without it names the stacks that may merge (Stack.merge). The validation
    # chunk follows from the key (eval_chunk).
    return (
        keras.backend.backend(),
        spec.model_dump_json(),
        kinds,
        slots,
        batch_size,
        steps,
        n_train,
        features,
        n_val,
        members,
    )


def _epoch_function(key: ShapeKey, spec: ModelSpec, kinds: tuple[str, ...]) -> Callable[..., Any]:
    def epoch(state: Any, hyper: Any, train: Any, val: Any) -> Any:
        return epoch_fn(state, hyper, train, val, spec, kinds)

    return compiled(("epoch", *key), epoch)


def eval_chunk(spec: ModelSpec, members: int, n_val: int, features: int) -> int:
    """Validation rows per step: a power of two up to EVAL_CHUNK within EVAL_FLOATS, >= 32."""
    fits = EVAL_FLOATS // (members * widest_activation(spec, features))
    return min(EVAL_CHUNK, n_val, max(32, 1 << max(fits, 1).bit_length() - 1))


@dataclass(frozen=True, eq=False)
class Tensors:
    """The dataset as backend tensors, made once per training call and shared by its stacks."""

    x_train: Any
    y_train: Any
    x_val: Any
    y_val: Any
    n_train: int
    n_val: int
    features: int
    _chunks: dict[int, tuple[Any, Any, Any]] = field(default_factory=dict)

    def validation(self, chunk: int) -> tuple[Any, Any, Any, Any, Any]:
        """(x_val, y_val, order [K, chunk], mask [K, chunk], K): the split in padded chunks."""
        if chunk not in self._chunks:
            order, mask = padded_batches(np.arange(self.n_val), chunk)
            self._chunks[chunk] = (
                tensor(order, "int32"),
                tensor(mask, "float32"),
                tensor(np.int32(len(order)), "int32"),
            )
        return (self.x_val, self.y_val, *self._chunks[chunk])


def dataset_tensors(data: Dataset) -> Tensors:
    """The dataset's train and validation splits as backend tensors."""
    return make_tensors(data.x_train, data.y_train, data.x_val, data.y_val)


def make_tensors(x_train: Any, y_train: Any, x_val: Any, y_val: Any) -> Tensors:
    """Convert host arrays to backend tensors."""
    return Tensors(
        x_train=tensor(x_train, "float32"),
        y_train=tensor(y_train, "int32"),
        x_val=tensor(x_val, "float32"),
        y_val=tensor(y_val, "int32"),
        n_train=len(y_train),
        n_val=len(y_val),
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
    All members share `spec` (the model); their optimizers may differ.
    """

    def __init__(
        self,
        members: list[MemberState],
        checkpoints: list[ResumeState | None],
        tensors: Tensors,
        batch_size: int,
    ) -> None:
        self.members = members
        self.tensors = tensors
        self.batch_size = batch_size
        self.steps = math.ceil(tensors.n_train / batch_size)
        self.spec = members[0].config.model
        size = len(members)
        configs = [m.config for m in members]
        self.kinds = tuple(k for k in KINDS if any(c.optimizer == k for c in configs))
        self.slots = max(slot_count(c.optimizer, c.optimizer_params) for c in configs)
        self.key = _shape_key(
            self.spec,
            self.kinds,
            self.slots,
            size,
            batch_size,
            tensors.n_train,
            tensors.features,
            tensors.n_val,
        )
        n_params = len(param_shapes(self.spec, tensors.features))
        params: list[list[npt.NDArray[np.float32]]] = [[] for _ in range(n_params)]
        slots: list[list[list[npt.NDArray[np.float32]]]] = [
            [[] for _ in range(n_params)] for _ in range(self.slots)
        ]
        iterations = np.zeros(size, dtype=np.float32)
        u_product = np.ones(size, dtype=np.float32)
        for i, (member, saved) in enumerate(zip(members, checkpoints, strict=True)):
            cfg = member.config
            if saved is None:
                weights = initial_weights(
                    seed=cfg.seed, input_features=tensors.features, spec=self.spec
                )
                own = initial_slots(cfg.optimizer, weights, self.slots)
            else:
                weights = saved.params
                own = [saved.slot(j) for j in range(self.slots)]
                iterations[i] = saved.iterations
                u_product[i] = saved.u_product
            for k in range(n_params):
                params[k].append(weights[k])
                for j in range(self.slots):
                    slots[j][k].append(own[j][k])
        self.state: tuple[Any, ...] = (
            tuple(tensor(np.stack(p), "float32") for p in params),
            tuple(tuple(tensor(np.stack(p), "float32") for p in slot) for slot in slots),
            (tensor(iterations, "float32"), tensor(u_product, "float32")),
        )
        self.hyper_matrix = tensor(
            np.array([hyper_row(c.optimizer, c.optimizer_params) for c in configs], np.float32),
            "float32",
        )
        self.kind = tensor(np.array([KINDS.index(c.optimizer) for c in configs]), "int32")
        self.seeds = tensor(np.array([c.seed for c in configs], dtype=np.int32), "int32")
        self.fn = _epoch_function(self.key, self.spec, self.kinds)

    @property
    def size(self) -> int:
        """The number of members the compiled epoch computes (M)."""
        return len(self.members)

    def keep(self, indices: list[int]) -> None:
        """Shrink the stack to the members at `indices`, slicing every state array along M.

        The survivors' arrays are copied exactly, and the optimizer kinds and slot count stay,
        so their training goes on bit for bit as in the wider stack; the epoch is compiled for
        the new M (once per size and shape, as any stack).
        """
        if not indices or len(indices) == self.size:
            return
        self._gather([(self, indices)])

    @classmethod
    def merge(cls, pieces: Sequence[tuple[Stack, Sequence[int]]]) -> Stack:
        """A new stack of the members at the given indices of each stack, in that order.

        The stacks must share their compiled epoch but for M (`shape`: model, data, batch
        size, optimizer kinds, slot count): the members' arrays are copied exactly and only M
        changes, as in `keep`, so each member trains on bit for bit as in its own stack.
        """
        first = pieces[0][0]
        for stack, _ in pieces:
            if stack.shape != first.shape or stack.tensors is not first.tensors:
                raise ValueError("only stacks of one shape but for M on one dataset merge")
        merged = copy.copy(first)  # the shared attributes; _gather replaces the per-member ones
        merged._gather(pieces)
        return merged

    @property
    def shape(self) -> ShapeKey:
        """The compiled epoch's shape key without M: what stacks that merge share."""
        return self.key[:-1]

    def _gather(self, pieces: Sequence[tuple[Stack, Sequence[int]]]) -> None:
        """Take the members at the given indices of each stack (self among them, perhaps)."""
        ats = [tensor(np.asarray(indices, dtype=np.int32), "int32") for _, indices in pieces]

        def rows(*arrays: Any) -> Any:
            parts = [keras.ops.take(a, at, axis=0) for a, at in zip(arrays, ats, strict=True)]
            return parts[0] if len(parts) == 1 else keras.ops.concatenate(parts, axis=0)

        stacks = [stack for stack, _ in pieces]
        self.state = keras.tree.map_structure(rows, *(s.state for s in stacks))
        self.hyper_matrix = rows(*(s.hyper_matrix for s in stacks))
        self.kind = rows(*(s.kind for s in stacks))
        self.seeds = rows(*(s.seeds for s in stacks))
        self.members = [stack.members[i] for stack, indices in pieces for i in indices]
        self.key = (*self.shape, len(self.members))
        self.fn = _epoch_function(self.key, self.spec, self.kinds)

    def validation(self) -> tuple[Any, Any, Any, Any, Any]:
        """The validation split in this stack's chunks (epoch_fn's `val`)."""
        t = self.tensors
        return t.validation(eval_chunk(self.spec, self.size, t.n_val, t.features))

    def hyper(self) -> tuple[Any, Any, Any, Any]:
        active = tensor(np.array([m.active for m in self.members]), "bool")
        return self.hyper_matrix, self.kind, active, self.seeds

    def warm(self) -> None:
        """Compile the epoch for this stack's shapes (a call that runs zero steps) if needed."""
        with _warm_lock:
            if self.key in _warm:
                return
        started = time.perf_counter()
        size = len(self.members)
        order = np.zeros((self.steps, size, self.batch_size), dtype=np.int32)
        mask = np.zeros((self.steps, self.batch_size), dtype=np.float32)
        lrs = np.zeros((self.steps, size), dtype=np.float32)
        x_val, y_val, val_order, val_mask, _ = self.validation()
        out = self.fn(
            self.state,
            self.hyper(),
            self._train_args(order, mask, lrs, 0),
            (x_val, y_val, val_order, val_mask, tensor(np.int32(0), "int32")),
        )
        keras.ops.convert_to_numpy(out[2])  # wait for the compilation to finish
        with _warm_lock:
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
            self.validation(),
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

    def member_arrays(self) -> MemberArrays:
        """The stacked state on the host: params, slots and (iterations, u_product), [M, ...]."""
        params, slots, scalars = self.state

        def host(t: Any) -> npt.NDArray[np.float32]:
            return np.asarray(keras.ops.convert_to_numpy(t))

        return MemberArrays(
            params=[host(p) for p in params],
            slots=[[host(p) for p in slot] for slot in slots],
            iterations=host(scalars[0]),
            u_product=host(scalars[1]),
        )
