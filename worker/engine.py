"""Training engine: compatible members train fused as one stacked model, one compiled call per
epoch, per-member learning rates for every step, reports and checkpoints via callback."""

from __future__ import annotations

import importlib
import io
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import keras
import numpy as np
import numpy.typing as npt

from models.settings import get_settings
from worker.datasets import Dataset
from worker.network import (
    HIDDEN_UNITS,
    NUM_CLASSES,
    initial_weights,
    stacked_eval,
    stacked_loss_and_grads,
    stacked_update,
)

log = logging.getLogger("lrlab.worker")

# XLA fuses the whole epoch loop: on 2 CPU cores ~0.25 s/epoch vs ~0.65 s without it (MNIST 8k).
JIT_COMPILE = True
# Validation runs in fixed-size chunks so that XLA compiles one shape and memory stays bounded.
EVAL_CHUNK = 4096
METRIC_NAMES = ("loss", "accuracy", "val_loss", "val_accuracy")
CHECKPOINT_FORMAT = "lrlab-member-checkpoint"
CHECKPOINT_VERSION = 1
_PARAM_NAMES = ("kernel1", "bias1", "kernel2", "bias2")


class Schedule(Protocol):
    """What the engine needs of a learning-rate schedule run (models.schedules.ScheduleRun)."""

    @property
    def interval(self) -> Literal["epoch", "step"]: ...

    @property
    def monitor(self) -> str | None: ...

    def epoch_lrs(self, epoch: int) -> npt.NDArray[np.float64]:
        """Return one lr per optimizer step of the 0-based epoch."""
        ...

    def end_epoch(self, epoch: int, metrics: Mapping[str, float]) -> None:
        """Take the epoch's metrics after validation."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """Return JSON-serialisable state that resumes the schedule after its completed epochs."""
        ...

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what state_dict() returned."""
        ...


@dataclass(frozen=True)
class MemberConfig:
    """One experiment of a training group."""

    key: str
    epochs: int
    batch_size: int
    learning_rate: float
    optimizer: Literal["adam", "sgd"]
    momentum: float
    seed: int
    schedule: Schedule = field(compare=False)
    # A checkpoint from an earlier EpochReport: training continues after its epoch.
    resume: bytes | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class EpochReport:
    """Metrics of one finished epoch of one member, and the checkpoint to resume after it."""

    key: str
    epoch: int
    lr: float
    step_lrs: list[float]
    loss: float
    accuracy: float
    val_loss: float
    val_accuracy: float
    # Wall time of the epoch (training + validation) of the group the member trained in,
    # without one-time compilation.
    seconds: float
    checkpoint: bytes = field(default=b"", repr=False)


class TrainingError(Exception):
    """Training of a member cannot go on (e.g. the loss became NaN)."""

    def __init__(self, message: str, *, key: str | None = None, epoch: int | None = None) -> None:
        super().__init__(message)
        self.key = key
        self.epoch = epoch


# --------------------------------------------------------------------------------------------
# Backend: the only place that knows which framework runs the keras.ops code
# --------------------------------------------------------------------------------------------

_process_lock = threading.Lock()
_process_ready = False


def describe_device() -> str:
    """Return the device the Keras backend trains on, e.g. 'GPU:0 (NVIDIA H100)' or 'CPU'."""
    backend = keras.backend.backend()
    try:
        if backend == "tensorflow":
            return _describe_tf_device()
        if backend == "jax":
            # Imported by name: only the active backend's framework needs to be installed.
            device = importlib.import_module("jax").devices()[0]
            if device.platform == "cpu":
                return "CPU"
            return f"{device.platform.upper()}:{device.id} ({device.device_kind})"
        if backend == "torch":
            torch = importlib.import_module("torch")
            if torch.cuda.is_available():
                return f"GPU:0 ({torch.cuda.get_device_name(0)})"
    except Exception:  # the description is best-effort; training does not depend on it
        log.debug("device description failed", exc_info=True)
    return "CPU"


def _describe_tf_device() -> str:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "CPU"
    try:
        name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "")
    except Exception:  # details are best-effort; the device itself is what matters
        name = ""
    label = gpus[0].name.replace("/physical_device:", "")
    return f"{label} ({name})" if name else label


def _backend_version() -> str:
    backend = keras.backend.backend()
    try:
        module = __import__(backend)
        return f"{backend} {module.__version__}"
    except Exception:  # numpy backend, or a framework without __version__
        return backend


def _prepare_process() -> None:
    """Enable deterministic ops and log the device, once per process."""
    global _process_ready
    with _process_lock:
        if _process_ready:
            return
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            tf.config.experimental.enable_op_determinism()
        log.info(
            "training on %s (%s, Keras %s)",
            describe_device(),
            _backend_version(),
            keras.__version__,
        )
        _process_ready = True


def _compile(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap the backend-agnostic epoch function in the backend's compiler."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, jit_compile=JIT_COMPILE, autograph=False)
    if backend == "jax":
        return importlib.import_module("jax").jit(fn)
    # torch (and numpy): keras.ops run eagerly; fori_loop is a Python loop there.
    return fn


def _tensor(value: Any, dtype: str) -> Any:
    return keras.ops.convert_to_tensor(value, dtype=dtype)


# --------------------------------------------------------------------------------------------
# The compiled epoch of a stacked group
# --------------------------------------------------------------------------------------------


def _epoch_fn(
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
        # The lr row the update consumed, read back for the report.
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
        return _epoch_fn(state, hyper, train, val, kinds)

    with _compiled_lock:
        fn = _compiled.get(key)
        if fn is None:
            fn = _compiled[key] = _compile(epoch)
        return fn


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Tensors:
    """The dataset as backend tensors, made once per group and shared by its members."""

    x_train: Any
    y_train: Any
    val: tuple[Any, Any, Any, Any, Any]
    n_train: int
    n_val: int
    features: int


def _to_tensors(data: Dataset) -> _Tensors:
    return _make_tensors(data.x_train, data.y_train, data.x_val, data.y_val)


def _make_tensors(x_train: Any, y_train: Any, x_val: Any, y_val: Any) -> _Tensors:
    n_val = len(y_val)
    order, mask = _padded_batches(np.arange(n_val), min(EVAL_CHUNK, n_val))
    return _Tensors(
        x_train=_tensor(x_train, "float32"),
        y_train=_tensor(y_train, "int32"),
        val=(
            _tensor(x_val, "float32"),
            _tensor(y_val, "int32"),
            _tensor(order, "int32"),
            _tensor(mask, "float32"),
            _tensor(np.int32(len(order)), "int32"),
        ),
        n_train=len(y_train),
        n_val=n_val,
        features=int(x_train.shape[1]),
    )


def _padded_batches(
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


# --------------------------------------------------------------------------------------------
# Members, checkpoints, groups
# --------------------------------------------------------------------------------------------


@dataclass(eq=False)
class _Member:
    """What evolves on the host while a member trains; its weights live in the group's stack."""

    config: MemberConfig
    rng: np.random.Generator  # data order only, so a checkpoint can restore it independently
    epochs_done: int
    active: bool = True


@dataclass(frozen=True)
class _Restored:
    """A member's state read from a checkpoint."""

    epochs_done: int
    params: list[npt.NDArray[np.float32]]
    m: list[npt.NDArray[np.float32]]
    v: list[npt.NDArray[np.float32]]
    iterations: int
    schedule: dict[str, Any] | None
    rng: dict[str, Any]


def _encode_checkpoint(
    member: _Member, arrays: Sequence[npt.NDArray[np.float32]], iterations: float
) -> bytes:
    """Serialise one member: weights, optimizer slots and count, schedule and data-order RNG."""
    cfg = member.config
    meta = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "key": cfg.key,
        "epoch": member.epochs_done,
        "optimizer": cfg.optimizer,
        "iterations": int(iterations),
        # Test doubles may lack state_dict; such a checkpoint cannot resume a schedule.
        "schedule": cfg.schedule.state_dict() if hasattr(cfg.schedule, "state_dict") else None,
        "rng": member.rng.bit_generator.state,
    }
    blobs: dict[str, Any] = {"meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)}
    for i, name in enumerate(_PARAM_NAMES):
        blobs[name] = arrays[i]
        blobs[f"m_{name}"] = arrays[4 + i]
        if cfg.optimizer == "adam":  # SGD never touches v: it stays zero, so it is not stored
            blobs[f"v_{name}"] = arrays[8 + i]
    buffer = io.BytesIO()
    np.savez(buffer, **blobs)
    return buffer.getvalue()


def _decode_checkpoint(config: MemberConfig, blob: bytes, features: int) -> _Restored:
    """Read and check a checkpoint for this member's configuration."""
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
            meta = json.loads(npz["meta"].tobytes().decode())
            arrays = {
                name: np.asarray(npz[name], dtype=np.float32)
                for name in npz.files
                if name != "meta"
            }
    except Exception as exc:
        raise TrainingError(
            f"unreadable checkpoint ({type(exc).__name__}: {exc})", key=config.key
        ) from exc
    if meta.get("format") != CHECKPOINT_FORMAT or meta.get("version") != CHECKPOINT_VERSION:
        raise TrainingError("not an lrlab checkpoint of a supported version", key=config.key)
    if meta["optimizer"] != config.optimizer:
        raise TrainingError(
            f"checkpoint is for optimizer {meta['optimizer']!r}, not {config.optimizer!r}",
            key=config.key,
        )
    epochs_done = int(meta["epoch"])
    if not 0 <= epochs_done <= config.epochs:
        raise TrainingError(
            f"checkpoint is after epoch {epochs_done}; the run has {config.epochs}", key=config.key
        )
    shapes = [
        (features, HIDDEN_UNITS),
        (HIDDEN_UNITS,),
        (HIDDEN_UNITS, NUM_CLASSES),
        (NUM_CLASSES,),
    ]
    params, m, v = [], [], []
    for name, shape in zip(_PARAM_NAMES, shapes, strict=True):
        if arrays.get(name) is None or arrays[name].shape != shape:
            raise TrainingError(f"checkpoint lacks {name} of shape {shape}", key=config.key)
        params.append(arrays[name])
        m.append(arrays[f"m_{name}"])
        v.append(arrays.get(f"v_{name}", np.zeros(shape, dtype=np.float32)))
    return _Restored(
        epochs_done=epochs_done,
        params=params,
        m=m,
        v=v,
        iterations=int(meta["iterations"]),
        schedule=meta["schedule"],
        rng=meta["rng"],
    )


def _epoch_lrs(member: _Member, epoch: int, steps: int) -> npt.NDArray[np.float32]:
    cfg = member.config
    lrs = np.asarray(cfg.schedule.epoch_lrs(epoch), dtype=np.float64)
    if lrs.shape != (steps,):
        raise TrainingError(
            f"schedule gave {lrs.shape} learning rates for epoch {epoch + 1}, "
            f"expected {steps} (one per step)",
            key=cfg.key,
            epoch=epoch + 1,
        )
    if not np.all(np.isfinite(lrs)) or np.any(lrs < 0):
        raise TrainingError(
            f"schedule gave a non-finite or negative learning rate at epoch {epoch + 1}",
            key=cfg.key,
            epoch=epoch + 1,
        )
    return lrs.astype(np.float32)


def _check_group(members: Sequence[MemberConfig]) -> None:
    if not members:
        raise ValueError("a training group needs at least one member")
    for m in members:
        if m.epochs < 1 or m.batch_size < 1:
            raise ValueError(f"member {m.key}: epochs and batch_size must be >= 1")
        if m.optimizer not in ("adam", "sgd"):
            raise ValueError(f"member {m.key}: unknown optimizer {m.optimizer!r}")
    if len({m.key for m in members}) != len(members):
        raise ValueError("member keys must be unique within a group")


class _Group:
    """Members stacked into one model: their state as [M, ...] backend tensors."""

    def __init__(
        self,
        members: list[_Member],
        restored: list[_Restored | None],
        tensors: _Tensors,
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
        for i, (member, saved) in enumerate(zip(members, restored, strict=True)):
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
            *(_tensor(a, "float32") for a in stacked),
            _tensor(iterations, "float32"),
        )
        self.is_adam = _tensor(np.array([m.config.optimizer == "adam" for m in members]), "bool")
        self.momentum = _tensor(
            np.array(
                [m.config.momentum if m.config.optimizer == "sgd" else 0.0 for m in members],
                dtype=np.float32,
            ),
            "float32",
        )
        self.fn = _epoch_function(self.key)

    def hyper(self) -> tuple[Any, Any, Any]:
        active = _tensor(np.array([m.active for m in self.members]), "bool")
        return self.is_adam, self.momentum, active

    def warm(self) -> None:
        """Compile the epoch for this group's shapes (a call that runs zero steps) if needed."""
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
            (x_val, y_val, val_order, val_mask, _tensor(np.int32(0), "int32")),
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
            _tensor(order, "int32"),
            _tensor(mask, "float32"),
            _tensor(lrs, "float32"),
            _tensor(np.int32(n_steps), "int32"),
        )

    def run_epoch(
        self, lrs: npt.NDArray[np.float32], orders: list[npt.NDArray[np.int64]]
    ) -> dict[str, npt.NDArray[Any]]:
        """Run one compiled epoch; lrs [S, M], one permutation per member (any for inactive)."""
        batches = [_padded_batches(o, self.batch_size) for o in orders]
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


def _fail(
    member: _Member,
    error: TrainingError,
    on_failure: Callable[[str, TrainingError], None] | None,
) -> None:
    member.active = False
    if on_failure is None:
        raise error
    log.warning("member %s failed: %s", member.config.key, error)
    on_failure(member.config.key, error)


def _train_subgroup(
    configs: list[MemberConfig],
    tensors: _Tensors,
    on_epoch: Callable[[EpochReport], bool],
    on_failure: Callable[[str, TrainingError], None] | None,
) -> None:
    """Train members that share batch size, epochs and resume epoch as one stacked model."""
    members: list[_Member] = []
    restored: list[_Restored | None] = []
    for cfg in configs:
        saved = None
        rng = np.random.default_rng(cfg.seed)
        epochs_done = 0
        if cfg.resume is not None:
            saved = _decode_checkpoint(cfg, cfg.resume, tensors.features)
            if saved.schedule is not None:
                cfg.schedule.load_state_dict(saved.schedule)
            rng.bit_generator.state = saved.rng
            epochs_done = saved.epochs_done
        members.append(_Member(config=cfg, rng=rng, epochs_done=epochs_done))
        restored.append(saved)
    first = configs[0]
    stacks = [
        _Group([members[i] for i in part], [restored[i] for i in part], tensors, first.batch_size)
        for part in _split(len(members), max_stack())
    ]
    for group in stacks:
        group.warm()
    # Stacks advance epoch by epoch together, so every member's curve grows at the same pace.
    for epoch in range(members[0].epochs_done, first.epochs):
        for group in stacks:
            if any(m.active for m in group.members):
                _stack_epoch(group, epoch, on_epoch, on_failure)
        if not any(m.active for m in members):
            return


def _stack_epoch(
    group: _Group,
    epoch: int,
    on_epoch: Callable[[EpochReport], bool],
    on_failure: Callable[[str, TrainingError], None] | None,
) -> None:
    """Train one stack one epoch and report every member that is still active."""
    members, tensors = group.members, group.tensors
    started = time.perf_counter()
    lrs = np.zeros((group.steps, len(members)), dtype=np.float32)
    orders: list[npt.NDArray[np.int64]] = []
    for i, member in enumerate(members):
        if not member.active:
            orders.append(np.arange(tensors.n_train))
            continue
        # Drawn before the lrs, as before fusing: a member's order depends on its seed alone.
        orders.append(member.rng.permutation(tensors.n_train))
        try:
            lrs[:, i] = _epoch_lrs(member, epoch, group.steps)
        except TrainingError as error:
            _fail(member, error, on_failure)
    if not any(m.active for m in members):
        return
    out = group.run_epoch(lrs, orders)
    seconds = time.perf_counter() - started
    arrays: list[npt.NDArray[np.float32]] | None = None
    iterations: npt.NDArray[np.float32] | None = None
    for i, member in enumerate(members):
        if not member.active:
            continue
        cfg = member.config
        metrics = {
            "loss": float(out["loss"][i]) / tensors.n_train,
            "accuracy": float(out["hits"][i]) / tensors.n_train,
            "val_loss": float(out["val_loss"][i]) / tensors.n_val,
            "val_accuracy": float(out["val_hits"][i]) / tensors.n_val,
        }
        bad = next((n for n in ("loss", "val_loss") if not math.isfinite(metrics[n])), None)
        if bad is not None:
            _fail(
                member,
                TrainingError(
                    f"{bad} became {metrics[bad]} at epoch {epoch + 1}",
                    key=cfg.key,
                    epoch=epoch + 1,
                ),
                on_failure,
            )
            continue
        monitor = cfg.schedule.monitor
        if monitor is not None and monitor not in metrics:
            _fail(
                member,
                TrainingError(
                    f"schedule monitors unknown metric {monitor!r}; "
                    f"known: {', '.join(METRIC_NAMES)}",
                    key=cfg.key,
                    epoch=epoch + 1,
                ),
                on_failure,
            )
            continue
        cfg.schedule.end_epoch(epoch, metrics)
        member.epochs_done = epoch + 1
        if arrays is None:
            arrays, iterations = group.member_arrays()
        assert iterations is not None
        checkpoint = _encode_checkpoint(member, [a[i] for a in arrays], iterations[i])
        step_lrs = [float(v) for v in out["used"][:, i]]
        report = EpochReport(
            key=cfg.key,
            epoch=epoch + 1,
            lr=step_lrs[0],
            step_lrs=step_lrs,
            seconds=seconds,
            checkpoint=checkpoint,
            **metrics,
        )
        if not on_epoch(report):
            member.active = False
            log.info("member %s stopped after epoch %d", cfg.key, epoch + 1)


def max_stack() -> int:
    """Members per stacked model: LRLAB_MAX_STACK, else 4 on a CPU and 64 on an accelerator."""
    # On a CPU the stacked Adam state of more than ~4 members (1.2 MB each) falls out of cache
    # and the per-member cost of an epoch doubles; accelerators keep gaining with width.
    configured = get_settings().max_stack
    if configured is not None:
        return configured
    return 4 if describe_device() == "CPU" else 64


def _split(count: int, limit: int) -> list[list[int]]:
    """Split range(count) into the fewest near-equal consecutive parts of at most `limit`."""
    parts = math.ceil(count / limit)
    bounds = [round(k * count / parts) for k in range(parts + 1)]
    return [list(range(bounds[k], bounds[k + 1])) for k in range(parts)]


def train_group(
    members: Sequence[MemberConfig],
    data: Dataset,
    *,
    on_epoch: Callable[[EpochReport], bool],
    on_failure: Callable[[str, TrainingError], None] | None = None,
) -> None:
    """Train every member for its epochs, fused where possible, calling `on_epoch` after each.

    `on_epoch` returning False stops that member. A member whose training fails (NaN loss, bad
    schedule) is passed to `on_failure` and the others go on; without `on_failure` the
    TrainingError is raised. Members are fused by (batch size, epochs, resume epoch); each such
    sub-group trains as one stacked model, sub-groups one after another.
    """
    _check_group(members)
    _prepare_process()
    tensors = _to_tensors(data)
    subgroups: dict[tuple[int, int, int], list[MemberConfig]] = {}
    for cfg in members:
        start = 0
        if cfg.resume is not None:
            start = _decode_checkpoint(cfg, cfg.resume, tensors.features).epochs_done
        subgroups.setdefault((cfg.batch_size, cfg.epochs, start), []).append(cfg)
    for (_, epochs, start), configs in subgroups.items():
        if start >= epochs:
            continue  # resumed after its last epoch: nothing left to train
        _train_subgroup(configs, tensors, on_epoch, on_failure)


def warm_up(batch_size: int, n_train: int, n_val: int, group_size: int) -> None:
    """Compile the epoch for groups of 1 and `group_size` members on data of these shapes."""
    _prepare_process()
    features = 784
    tensors = _make_tensors(
        np.zeros((n_train, features), dtype=np.float32),
        np.zeros(n_train, dtype=np.int64),
        np.zeros((n_val, features), dtype=np.float32),
        np.zeros(n_val, dtype=np.int64),
    )
    sizes = {1} | {len(part) for part in _split(max(1, group_size), max_stack())}
    for size in sorted(sizes):
        configs = [
            MemberConfig(
                key=str(i),
                epochs=1,
                batch_size=batch_size,
                learning_rate=1e-3,
                optimizer="adam",
                momentum=0.0,
                seed=i,
                schedule=_NoSchedule(),
            )
            for i in range(size)
        ]
        members = [_Member(config=c, rng=np.random.default_rng(0), epochs_done=0) for c in configs]
        _Group(members, [None] * size, tensors, batch_size).warm()


class _NoSchedule:
    """A placeholder schedule for warm-up groups, which never run a step."""

    interval: Literal["epoch", "step"] = "epoch"
    monitor: str | None = None

    def epoch_lrs(self, epoch: int) -> npt.NDArray[np.float64]:
        """Never asked: warm-up runs no epoch."""
        raise AssertionError("warm-up runs no epoch")

    def end_epoch(self, epoch: int, metrics: Mapping[str, float]) -> None:
        """Never called."""

    def state_dict(self) -> dict[str, Any]:
        """Nothing to save."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Nothing to restore."""
