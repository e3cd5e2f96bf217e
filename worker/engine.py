"""Training orchestration: members that share a shape train fused, stack by stack, epoch by epoch.

`train_members` splits its members into cohorts (same batch size, epochs and resume epoch),
each cohort into stacks of at most `max_stack(model)` members, and runs the stacks' compiled epochs
(worker.stack), reporting every member's metrics after every epoch, and its checkpoint when the
`CheckpointPolicy` says one is due. As members stop, their stacks shrink and are repacked.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from models.storage import get_settings
from models.training import CnnSpec, EpochMetrics
from worker.backend import describe_device, prepare_process
from worker.checkpoint_codec import MemberArrays, ResumeState, decode_checkpoint, encode_checkpoint
from worker.datasets import Dataset
from worker.members import (
    METRIC_NAMES,
    EpochReport,
    MemberConfig,
    MemberState,
    TrainingError,
)
from worker.network import DEFAULT_MODEL, INPUT_FEATURES, ModelSpec
from worker.optimizers import KINDS
from worker.prometheus import COMPUTED_MEMBER_EPOCHS
from worker.stack import Stack, Tensors, dataset_tensors, make_tensors

log = logging.getLogger("lrlab.worker")

OnEpoch = Callable[[EpochReport], bool]
OnFailure = Callable[[str, TrainingError], None] | None


@dataclass(frozen=True)
class CheckpointPolicy:
    """When a stack's members get a checkpoint with their epoch report.

    Due after epoch e (1-based) of an E-epoch run iff e < E and (`stop()` or at least
    `every_seconds` of the stack's training passed since its last checkpoint or its start).
    """

    every_seconds: float = 0.0
    stop: Callable[[], bool] = lambda: False

    def due(self, *, since_last: float, epoch: int, epochs: int) -> bool:
        """Whether the state after `epoch` is to be checkpointed."""
        if epoch >= epochs:
            return False  # the run is finished: its checkpoint would be deleted at once
        return self.stop() or since_last >= self.every_seconds


def train_members(
    members: Sequence[MemberConfig],
    data: Dataset,
    *,
    on_epoch: OnEpoch,
    on_failure: OnFailure = None,
    policy: CheckpointPolicy | None = None,
) -> None:
    """Train every member for its epochs, fused where possible, calling `on_epoch` after each.

    `on_epoch` returning False stops that member. A member whose training fails (NaN loss, bad
    schedule) is passed to `on_failure` and the others go on; without `on_failure` the
    TrainingError is raised. Members are fused by (batch size, epochs, resume epoch); each such
    cohort trains as stacked models, cohorts one after another. Members are fused by model
    too; their optimizers may differ. Reports carry a checkpoint
    when `policy` says so (default: after every epoch but the last).
    """
    _check_members(members)
    prepare_process()
    tensors = dataset_tensors(data)
    cohorts: dict[tuple[str, int, int, int], list[tuple[MemberConfig, ResumeState | None]]] = {}
    for cfg in members:
        saved = None
        if cfg.resume is not None:
            saved = decode_checkpoint(cfg, cfg.resume, tensors.features)
        start = saved.epochs_done if saved is not None else 0
        # Only members of one model (shape, activation, dropout) share a stack.
        shape = cfg.model.model_dump_json()
        cohorts.setdefault((shape, cfg.batch_size, cfg.epochs, start), []).append((cfg, saved))
    for (_, _, epochs, start), cohort in cohorts.items():
        if start >= epochs:
            continue  # resumed after its last epoch: nothing left to train
        _train_cohort(cohort, tensors, on_epoch, on_failure, policy or CheckpointPolicy())


def _train_cohort(
    cohort: list[tuple[MemberConfig, ResumeState | None]],
    tensors: Tensors,
    on_epoch: OnEpoch,
    on_failure: OnFailure,
    policy: CheckpointPolicy,
) -> None:
    """Train members that share model, batch size, epochs and resume epoch, stacked."""
    members: list[MemberState] = []
    for cfg, saved in cohort:
        rng = np.random.default_rng(cfg.seed)
        epochs_done = 0
        if saved is not None:
            cfg.schedule.load_state_dict(saved.schedule)
            rng.bit_generator.state = saved.rng
            epochs_done = saved.epochs_done
        members.append(MemberState(config=cfg, rng=rng, epochs_done=epochs_done))
    first = cohort[0][0]
    stacks = [
        Stack(
            [members[i] for i in part],
            [cohort[i][1] for i in part],
            tensors,
            first.batch_size,
        )
        for part in _split(len(members), max_stack(first.model))
    ]
    for stack in stacks:
        stack.warm()
    # The checkpoint clock of each stack starts after compilation: it counts training only.
    last_checkpoint = [time.monotonic()] * len(stacks)
    # Stacks advance epoch by epoch together, so every member's curve grows at the same pace.
    for epoch in range(members[0].epochs_done, first.epochs):
        stacks, last_checkpoint = _repack(stacks, last_checkpoint)
        for k, stack in enumerate(stacks):
            if any(m.active for m in stack.members):
                since_last = time.monotonic() - last_checkpoint[k]
                if _stack_epoch(stack, epoch, on_epoch, on_failure, policy, since_last):
                    last_checkpoint[k] = time.monotonic()
        if not any(m.active for m in members):
            return


def _stack_epoch(
    stack: Stack,
    epoch: int,
    on_epoch: OnEpoch,
    on_failure: OnFailure,
    policy: CheckpointPolicy,
    since_last: float,
) -> bool:
    """Train one stack one epoch and report every active member; True if it checkpointed."""
    # Members that stopped (pruned, cancelled, failed) leave before the epoch: the compiled
    # call computes only the ones still training. Compiling a new size is not training time.
    _shrink(stack)
    tensors = stack.tensors
    lrs = np.zeros((stack.steps, stack.size), dtype=np.float32)
    orders: list[npt.NDArray[np.int64]] = []
    for i, member in enumerate(stack.members):
        # Drawn before the lrs, as before fusing: a member's order depends on its seed alone.
        orders.append(member.rng.permutation(tensors.n_train))
        try:
            lrs[:, i] = _epoch_lrs(member, epoch, stack.steps)
        except TrainingError as error:
            _drop_failed(member, error, on_failure)
    kept = _shrink(stack)
    if not kept:
        return False
    lrs = lrs[:, kept]
    orders = [orders[i] for i in kept]
    members = stack.members
    stack.warm()
    started = time.perf_counter()
    log.info("epoch %d computes a stack of %d member(s)", epoch + 1, stack.size)
    out = stack.run_epoch(lrs, orders)
    COMPUTED_MEMBER_EPOCHS.inc(stack.size)
    seconds = time.perf_counter() - started
    # Decided once per stack epoch, before any report: a stop request arriving mid-way is
    # honoured at the next epoch end, never half-applied.
    checkpointing = policy.due(
        since_last=since_last + seconds, epoch=epoch + 1, epochs=members[0].config.epochs
    )
    arrays: MemberArrays | None = None
    for i, member in enumerate(members):
        if not member.active:
            continue
        cfg = member.config
        values = {
            "loss": float(out["loss"][i]) / tensors.n_train,
            "accuracy": float(out["hits"][i]) / tensors.n_train,
            "val_loss": float(out["val_loss"][i]) / tensors.n_val,
            "val_accuracy": float(out["val_hits"][i]) / tensors.n_val,
        }
        bad = next((n for n in METRIC_NAMES if not math.isfinite(values[n])), None)
        if bad is not None:
            _drop_failed(
                member,
                TrainingError(
                    f"{bad} became {values[bad]} at epoch {epoch + 1}",
                    key=cfg.key,
                    epoch=epoch + 1,
                ),
                on_failure,
            )
            continue
        monitor = cfg.schedule.monitor
        if monitor is not None and monitor not in METRIC_NAMES:
            _drop_failed(
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
        cfg.schedule.end_epoch(epoch, values)
        member.epochs_done = epoch + 1
        checkpoint = b""
        if checkpointing:
            if arrays is None:
                arrays = stack.member_arrays()
            checkpoint = encode_checkpoint(member, arrays.member(i))
        step_lrs = [float(v) for v in out["used"][:, i]]
        metrics = EpochMetrics(
            epoch=epoch + 1, lr=step_lrs[0], step_lrs=step_lrs, seconds=seconds, **values
        )
        if not on_epoch(EpochReport(key=cfg.key, metrics=metrics, checkpoint=checkpoint)):
            member.active = False
            log.info("member %s stopped after epoch %d", cfg.key, epoch + 1)
    return checkpointing


def _repack(stacks: list[Stack], clocks: list[float]) -> tuple[list[Stack], list[float]]:
    """The stacks with their active members packed into fewer stacks where they fit; clocks too.

    Only consecutive stacks of one shape but for M (same optimizer kinds and slot count) merge:
    a stack with other kinds or slots compiles other arithmetic, which need not give a member
    the same bits. Their active members, in order, go into the fewest near-equal stacks of at
    most `max_stack(model)`, so members report in the same order as before (ASHA judges in
    arrival order). A merged stack's checkpoint clock is the oldest of its sources': none of its
    members waits for a checkpoint longer than its own stack would have let it.
    """
    limit = max_stack(stacks[0].spec)
    packed: list[Stack] = []
    packed_clocks: list[float] = []
    for _, run in itertools.groupby(range(len(stacks)), key=lambda k: stacks[k].shape):
        busy = [k for k in run if any(m.active for m in stacks[k].members)]
        live = [(k, i) for k in busy for i, m in enumerate(stacks[k].members) if m.active]
        if math.ceil(len(live) / limit) >= len(busy):
            packed.extend(stacks[k] for k in busy)
            packed_clocks.extend(clocks[k] for k in busy)
            continue
        for part in _split(len(live), limit):
            pieces = [
                (k, [i for _, i in rows])
                for k, rows in itertools.groupby((live[j] for j in part), key=lambda r: r[0])
            ]
            packed.append(Stack.merge([(stacks[k], indices) for k, indices in pieces]))
            packed_clocks.append(min(clocks[k] for k, _ in pieces))
    return packed, packed_clocks


def _shrink(stack: Stack) -> list[int]:
    """Drop the stack's inactive members; the indices (in the old stack) of those kept."""
    kept = [i for i, m in enumerate(stack.members) if m.active]
    stack.keep(kept)
    return kept


def _drop_failed(member: MemberState, error: TrainingError, on_failure: OnFailure) -> None:
    """Take a failed member out of its stack and hand the error on (or raise it)."""
    member.active = False
    if on_failure is None:
        raise error
    log.warning("member %s failed: %s", member.config.key, error)
    on_failure(member.config.key, error)


def _epoch_lrs(member: MemberState, epoch: int, steps: int) -> npt.NDArray[np.float32]:
    """The schedule's lrs for one epoch as float32, checked: one per step, finite, >= 0."""
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


def _check_members(members: Sequence[MemberConfig]) -> None:
    if not members:
        raise ValueError("training needs at least one member")
    for m in members:
        if m.epochs < 1 or m.batch_size < 1:
            raise ValueError(f"member {m.key}: epochs and batch_size must be >= 1")
        if m.optimizer not in KINDS:
            raise ValueError(f"member {m.key}: unknown optimizer {m.optimizer!r}")
    if len({m.key for m in members}) != len(members):
        raise ValueError("member keys must be unique")


def max_stack(model: ModelSpec = DEFAULT_MODEL) -> int:
    """Members per stacked model: LRLAB_MAX_STACK, else 64 on an accelerator and on a CPU 4
    (MLP) or 12 (CNN)."""
    # On a CPU the stacked Adam state of more than ~4 MLP members (1.2 MB each) falls out of
    # cache and the per-member cost of an epoch doubles, while a CNN's batched convolution
    # GEMMs gain up to ~12 members (per member-step 20 ms at 4, 12 ms at 12, no better at 16);
    # accelerators keep gaining with width.
    configured = get_settings().max_stack
    if configured is not None:
        return configured
    if describe_device() != "CPU":
        return 64
    return 12 if isinstance(model, CnnSpec) else 4


def _split(count: int, limit: int) -> list[list[int]]:
    """Split range(count) into the fewest near-equal consecutive parts of at most `limit`."""
    parts = math.ceil(count / limit)
    bounds = [round(k * count / parts) for k in range(parts + 1)]
    return [list(range(bounds[k], bounds[k + 1])) for k in range(parts)]


def warm_up(batch_size: int, n_train: int, n_val: int, claim_size: int) -> None:
    """Compile the epoch for stacks of 1 member and those `claim_size` members split into."""
    prepare_process()
    features = INPUT_FEATURES
    tensors = make_tensors(
        np.zeros((n_train, features), dtype=np.float32),
        np.zeros(n_train, dtype=np.int64),
        np.zeros((n_val, features), dtype=np.float32),
        np.zeros(n_val, dtype=np.int64),
    )
    sizes = {1} | {len(part) for part in _split(max(1, claim_size), max_stack())}
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
        members = [
            MemberState(config=c, rng=np.random.default_rng(0), epochs_done=0) for c in configs
        ]
        Stack(members, [None] * size, tensors, batch_size).warm()


class _NoSchedule:
    """A placeholder schedule for warm-up stacks, which never run a step."""

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
