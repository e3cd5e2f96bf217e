"""Every learning-rate schedule lrlab runs: specs, closed-form math, the worker's run, the preview.

Semantics follow torch.optim.lr_scheduler 2.13 (see shared/docs/scheduler-semantics.md). `t` is
the number of scheduler steps taken, counted in the schedule's interval (epochs or optimizer
steps); lr(t) is the learning rate used by epoch/step t+1. Schedules are relative to the run's
base lr, except `cyclic` and `one_cycle`, which set their own range.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Annotated, Any, ClassVar, Literal, Protocol, Union

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, model_validator

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
Interval = Literal["epoch", "step"]

MAX_DURATION = 10_000_000
MAX_PREVIEW_VALUES = 1_000_000
LOW_LR = 1e-8
# Keras keeps the lr in float32, so anything above its range becomes inf during training.
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_STATE_VERSION = 1


def _fail(message: str) -> None:
    raise ValueError(message)


def _require_int(name: str, value: int, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(f"`{name}` must be an integer, got {value!r}")
    if value < minimum:
        _fail(f"`{name}` must be >= {minimum}, got {value}")
    if value > MAX_DURATION:
        _fail(f"`{name}` must be <= {MAX_DURATION}, got {value}")


def _require_finite(name: str, value: float) -> None:
    if not math.isfinite(value):
        _fail(f"`{name}` must be finite, got {value}")


def _require_ge(name: str, value: float, bound: float) -> None:
    _require_finite(name, value)
    if value < bound:
        _fail(f"`{name}` must be >= {bound}, got {value}")


def _require_gt(name: str, value: float, bound: float) -> None:
    _require_finite(name, value)
    if value <= bound:
        _fail(f"`{name}` must be > {bound}, got {value}")


def _require_le(name: str, value: float, bound: float) -> None:
    if value > bound:
        _fail(f"`{name}` must be <= {bound}, got {value}")


def _power(gamma: float, exponent: IntArray) -> FloatArray:
    """gamma^k for non-negative integer k, within 2 ulp of pow(gamma, k)."""
    # np.power is the slowest op in the preview; k = q·4096 + r turns it into two lookups
    # into tables of powers. Both tables lie on the same side of 1, so 0·inf cannot occur.
    if exponent.size == 0:
        return np.empty(0, dtype=np.float64)
    high = exponent >> 12
    with np.errstate(over="ignore", under="ignore"):
        low_table = np.power(gamma, np.arange(4096, dtype=np.float64))
        high_table = np.power(gamma, 4096.0 * np.arange(int(high.max()) + 1, dtype=np.float64))
        result: FloatArray = high_table[high] * low_table[exponent & 4095]
    return result


# --------------------------------------------------------------------------------------------
# Closed-form math
# --------------------------------------------------------------------------------------------


class ClosedForm(Protocol):
    """A schedule whose lr(t) depends only on t and the base lr."""

    def lrs(self, t: IntArray, base_lr: float) -> FloatArray:
        """lr(t) for every t of a non-decreasing array of t >= 0."""
        ...

    def for_length(self, length: int) -> ClosedForm:
        """This schedule bound to a run of `length` steps of its interval (checks the fit)."""
        ...

    def max_lr_bound(self, base_lr: float, length: int) -> float:
        """An upper bound of lr(t) over 0 <= t < length."""
        ...


@dataclass(frozen=True)
class ConstantSchedule:
    """ConstantLR: lr(t) = base·factor for t < total_iters, base afterwards.

    factor=1 is the flat baseline. factor=0 is rejected: torch divides by it at t = total_iters.
    """

    factor: float = 1.0
    total_iters: int = 5

    def __post_init__(self) -> None:
        _require_gt("factor", self.factor, 0.0)
        _require_le("factor", self.factor, 1.0)
        _require_int("total_iters", self.total_iters, minimum=1)

    def lrs(self, t: IntArray, base_lr: float) -> FloatArray:
        """lr(t) = base·(factor + [t >= total_iters]·(1 - factor))."""
        reached = (t >= self.total_iters).astype(np.float64)
        return base_lr * (self.factor + reached * (1.0 - self.factor))

    def for_length(self, length: int) -> ConstantSchedule:
        """Independent of the run length."""
        return self

    def max_lr_bound(self, base_lr: float, length: int) -> float:
        """Never above base."""
        return base_lr


@dataclass(frozen=True)
class StepSchedule:
    """StepLR: lr(t) = base·gamma^floor(t / step_size)."""

    step_size: int
    gamma: float = 0.1

    def __post_init__(self) -> None:
        _require_int("step_size", self.step_size, minimum=1)
        _require_gt("gamma", self.gamma, 0.0)

    def lrs(self, t: IntArray, base_lr: float) -> FloatArray:
        """lr(t) = base·gamma^floor(t / step_size)."""
        return base_lr * _power(self.gamma, t // self.step_size)

    def for_length(self, length: int) -> StepSchedule:
        """Independent of the run length."""
        return self

    def max_lr_bound(self, base_lr: float, length: int) -> float:
        """Monotone, so the larger of both ends."""
        return float(self.lrs(np.array([0, length - 1], dtype=np.int64), base_lr).max())


@dataclass(frozen=True)
class MultiStepSchedule:
    """MultiStepLR: lr(t) = base·gamma^#{m in milestones : m <= t}, counted with multiplicity."""

    milestones: tuple[int, ...]
    gamma: float = 0.1

    def __post_init__(self) -> None:
        if len(self.milestones) == 0:
            _fail("`milestones` must not be empty")
        for milestone in self.milestones:
            _require_int("milestones", milestone, minimum=0)
        # torch accepts any order, but a decreasing list is almost always a typo; a repeated
        # milestone is a documented way to apply gamma twice, so it stays legal.
        if list(self.milestones) != sorted(self.milestones):
            _fail(f"`milestones` must be increasing, got {list(self.milestones)}")
        _require_gt("gamma", self.gamma, 0.0)

    def lrs(self, t: IntArray, base_lr: float) -> FloatArray:
        """lr(t) = base·gamma^(number of milestones m <= t); a repeated milestone counts twice."""
        ordered = np.sort(np.asarray(self.milestones, dtype=np.int64))
        passed = np.searchsorted(ordered, t, side="right").astype(np.int64)
        return base_lr * _power(self.gamma, passed)

    def for_length(self, length: int) -> MultiStepSchedule:
        """Independent of the run length."""
        return self

    def max_lr_bound(self, base_lr: float, length: int) -> float:
        """Monotone, so the larger of both ends."""
        return float(self.lrs(np.array([0, length - 1], dtype=np.int64), base_lr).max())


@dataclass(frozen=True)
class ExponentialSchedule:
    """ExponentialLR: lr(t) = base·gamma^t."""

    gamma: float

    def __post_init__(self) -> None:
        _require_gt("gamma", self.gamma, 0.0)

    def lrs(self, t: IntArray, base_lr: float) -> FloatArray:
        """lr(t) = base·gamma^t."""
        return base_lr * _power(self.gamma, t)

    def for_length(self, length: int) -> ExponentialSchedule:
        """Independent of the run length."""
        return self

    def max_lr_bound(self, base_lr: float, length: int) -> float:
        """Monotone, so the larger of both ends."""
        return float(self.lrs(np.array([0, length - 1], dtype=np.int64), base_lr).max())


@dataclass(frozen=True)
class CosineSchedule:
    """CosineAnnealingLR: lr(t) = eta_min + (base - eta_min)·(1 + cos(π·t / t_max))/2.

    No clamping: past t_max the curve climbs back to base at 2·t_max (period 2·t_max).
    """

    t_max: int
    eta_min: float = 0.0

    def __post_init__(self) -> None:
        _require_int("t_max", self.t_max, minimum=1)
        _require_ge("eta_min", self.eta_min, 0.0)

    def lrs(self, t: IntArray, base_lr: float) -> FloatArray:
        """lr(t) = eta_min + (base - eta_min)·(1 + cos(π·t / t_max))/2."""
        cos = np.cos(math.pi * t / self.t_max)
        return self.eta_min + (base_lr - self.eta_min) * (1.0 + cos) / 2.0

    def for_length(self, length: int) -> CosineSchedule:
        """Independent of the run length."""
        return self

    def max_lr_bound(self, base_lr: float, length: int) -> float:
        """Between eta_min and base."""
        return max(base_lr, self.eta_min)


@dataclass(frozen=True)
class CosineWarmRestartsSchedule:
    """CosineAnnealingWarmRestarts: cosine from base to eta_min, restarting every cycle.

    Cycle i lasts T_i = t_0·t_mult^i and starts at S_i = Σ_{j<i} T_j; with T_cur = t - S_i,
    lr(t) = eta_min + (base - eta_min)·(1 + cos(π·T_cur / T_i))/2.
    """

    t_0: int
    t_mult: int = 1
    eta_min: float = 0.0

    def __post_init__(self) -> None:
        _require_int("t_0", self.t_0, minimum=1)
        _require_int("t_mult", self.t_mult, minimum=1)
        _require_ge("eta_min", self.eta_min, 0.0)

    def lrs(self, t: IntArray, base_lr: float) -> FloatArray:
        """lr(t) = eta_min + (base - eta_min)·(1 + cos(π·T_cur / T_i))/2."""
        if self.t_mult == 1:
            t_cur = t % self.t_0
            t_i: IntArray | int = self.t_0
        else:
            # Integer cycle starts: torch's log-based lookup misplaces exact restarts.
            last = int(t.max()) if t.size else 0
            starts = [0]
            length = self.t_0
            while starts[-1] <= last:
                starts.append(starts[-1] + length)
                length *= self.t_mult
            start_arr = np.asarray(starts, dtype=np.int64)
            cycle = np.searchsorted(start_arr, t, side="right") - 1
            t_cur = t - start_arr[cycle]
            t_i = np.diff(start_arr)[cycle]
        cos = np.cos(math.pi * t_cur / t_i)
        return self.eta_min + (base_lr - self.eta_min) * (1.0 + cos) / 2.0

    def for_length(self, length: int) -> CosineWarmRestartsSchedule:
        """Independent of the run length."""
        return self

    def max_lr_bound(self, base_lr: float, length: int) -> float:
        """Between eta_min and base."""
        return max(base_lr, self.eta_min)


@dataclass(frozen=True)
class CyclicSchedule:
    """CyclicLR: a triangle between base_lr and max_lr, independent of the run's base lr.

    total = up + down, r = up/total, cycle = floor(1 + t/total), x = 1 + t/total - cycle,
    s = x/r if x <= r else (x - 1)/(r - 1), lr = base_lr + (max_lr - base_lr)·s·scale with
    scale = 1 (triangular), 2^-(cycle-1) (triangular2), gamma^t (exp_range, t global).
    """

    base_lr: float
    max_lr: float
    step_size_up: int = 2000
    step_size_down: int | None = None
    mode: Literal["triangular", "triangular2", "exp_range"] = "triangular"
    gamma: float = 1.0

    def __post_init__(self) -> None:
        _require_ge("base_lr", self.base_lr, 0.0)
        _require_finite("max_lr", self.max_lr)
        if self.max_lr <= self.base_lr:
            _fail(f"`max_lr` must be > `base_lr`, got max_lr={self.max_lr}, base_lr={self.base_lr}")
        _require_int("step_size_up", self.step_size_up, minimum=1)
        if self.step_size_down is not None:
            _require_int("step_size_down", self.step_size_down, minimum=0)
        if self.mode not in ("triangular", "triangular2", "exp_range"):
            _fail(f"`mode` must be triangular, triangular2 or exp_range, got {self.mode!r}")
        _require_gt("gamma", self.gamma, 0.0)

    @property
    def cycle_length(self) -> int:
        """Steps of the interval in one full cycle (up + down)."""
        down = self.step_size_up if self.step_size_down is None else self.step_size_down
        return self.step_size_up + down

    def lrs(self, t: IntArray, base_lr: float) -> FloatArray:
        """lr(t) = base_lr + (max_lr - base_lr)·s·scale; the run's base lr is not used."""
        up = float(self.step_size_up)
        total = float(self.cycle_length)
        ratio = up / total
        cycle = np.floor(1.0 + t / total)
        x = 1.0 + t / total - cycle
        with np.errstate(divide="ignore", invalid="ignore"):
            # Only one branch is kept per element; the other may divide by zero (ratio == 1).
            s = np.where(x <= ratio, x / ratio, (x - 1.0) / (ratio - 1.0))
        if self.mode == "triangular":
            scale: FloatArray | float = 1.0
        elif self.mode == "triangular2":
            scale = 1.0 / (2.0 ** (cycle - 1.0))
        else:
            scale = _power(self.gamma, t)
        result: FloatArray = self.base_lr + (self.max_lr - self.base_lr) * s * scale
        return result

    def for_length(self, length: int) -> CyclicSchedule:
        """Independent of the run length."""
        return self

    def max_lr_bound(self, base_lr: float, length: int) -> float:
        """max_lr, scaled by gamma^(length-1) at most for a growing exp_range."""
        growth = 1.0
        if self.mode == "exp_range" and self.gamma > 1.0:
            growth = float(_power(self.gamma, np.array([length - 1], dtype=np.int64))[0])
        return self.base_lr + (self.max_lr - self.base_lr) * growth


@dataclass(frozen=True)
class OneCycleSchedule:
    """OneCycleLR: warm up from max_lr/div_factor to max_lr, then anneal to a minimum.

    T = total_steps, init = max_lr/div_factor, min = init/final_div_factor. Phases (float ends):
    two-phase [0, pT-1] init→max, [pT-1, T-1] max→min; three-phase [0, pT-1] init→max,
    [pT-1, 2pT-2] max→init, [2pT-2, T-1] init→min. t uses the first phase with t <= end (the
    last phase catches everything beyond), pct = (t - start)/(end - start), and
    cos: B + (A - B)(1 + cos(π·pct))/2, linear: A + (B - A)·pct for a phase from A to B.
    total_steps=None means "the length of the run" (bound by `for_length`).
    """

    max_lr: float
    total_steps: int | None = None
    pct_start: float = 0.3
    anneal_strategy: Literal["cos", "linear"] = "cos"
    div_factor: float = 25.0
    final_div_factor: float = 1e4
    three_phase: bool = False

    def __post_init__(self) -> None:
        _require_gt("max_lr", self.max_lr, 0.0)
        if self.total_steps is not None:
            _require_int("total_steps", self.total_steps, minimum=1)
        _require_ge("pct_start", self.pct_start, 0.0)
        _require_le("pct_start", self.pct_start, 1.0)
        if self.anneal_strategy not in ("cos", "linear"):
            _fail(f"`anneal_strategy` must be cos or linear, got {self.anneal_strategy!r}")
        _require_gt("div_factor", self.div_factor, 0.0)
        _require_gt("final_div_factor", self.final_div_factor, 0.0)
        if not self.three_phase and self.pct_start == 1.0:
            _fail(
                "`pct_start` must be < 1 unless `three_phase` is true, got 1.0 "
                "(PyTorch divides by zero at t = total_steps)"
            )
        if self.total_steps is not None:
            self._check_phases(self.total_steps)

    def _check_phases(self, total: int) -> None:
        warmup = float(self.pct_start * total)
        # A zero-length phase that torch reaches within t <= T raises ZeroDivisionError there.
        if warmup - 1.0 == 0.0:
            _fail(
                "`pct_start` * `total_steps` must not be exactly 1 (PyTorch divides by zero at "
                f"t = 0), got pct_start={self.pct_start}, total_steps={total}"
            )
        if self.three_phase and float(2 * self.pct_start * total) - 2.0 == total - 1:
            _fail(
                "`pct_start` * `total_steps` must not equal (total_steps + 1)/2 with "
                "`three_phase` (PyTorch divides by zero at t = total_steps), "
                f"got pct_start={self.pct_start}, total_steps={total}"
            )

    def for_length(self, length: int) -> OneCycleSchedule:
        """Fill total_steps=None with the run length; a run longer than total_steps is rejected."""
        if self.total_steps is None:
            bound = replace(self, total_steps=length)
            return bound
        if length > self.total_steps:
            _fail(
                f"`total_steps` ({self.total_steps}) is shorter than the run ({length} steps "
                "of its interval); PyTorch raises once it steps past total_steps"
            )
        return self

    def _phases(self, total: int) -> list[tuple[float, float, float]]:
        initial = self.max_lr / self.div_factor
        minimum = initial / self.final_div_factor
        warmup_end = float(self.pct_start * total) - 1
        if self.three_phase:
            return [
                (warmup_end, initial, self.max_lr),
                (float(2 * self.pct_start * total) - 2, self.max_lr, initial),
                (float(total - 1), initial, minimum),
            ]
        return [(warmup_end, initial, self.max_lr), (float(total - 1), self.max_lr, minimum)]

    def lrs(self, t: IntArray, base_lr: float) -> FloatArray:
        """Phase-wise anneal (see class docstring); the run's base lr is not used."""
        if self.total_steps is None:
            raise ValueError("`total_steps` is unset; bind the schedule with for_length() first")
        phases = self._phases(self.total_steps)
        out = np.empty(t.shape, dtype=np.float64)
        # t is sorted, so each phase is a slice. "First phase with t <= end" equals "first
        # phase with t <= running max of the ends", which is monotone and so searchable.
        reach = np.maximum.accumulate([end for end, _, _ in phases])
        cuts = [0, *np.searchsorted(t, reach[:-1], side="right").tolist(), t.size]
        start = 0.0
        for (end, high, low), lo, hi in zip(phases, cuts, cuts[1:], strict=False):
            if hi > lo:
                pct = (t[lo:hi] - start) / (end - start)
                if self.anneal_strategy == "cos":
                    out[lo:hi] = low + (high - low) / 2.0 * (np.cos(math.pi * pct) + 1)
                else:
                    out[lo:hi] = (low - high) * pct + high
            start = end
        return out

    def max_lr_bound(self, base_lr: float, length: int) -> float:
        """Never above max_lr within total_steps."""
        return self.max_lr


@dataclass(frozen=True)
class LinearSchedule:
    """LinearLR: lr(t) = base·(s + (e - s)·min(t, T)/T); the end value is reached at t = T."""

    start_factor: float = 1.0 / 3.0
    end_factor: float = 1.0
    total_iters: int = 5

    def __post_init__(self) -> None:
        _require_gt("start_factor", self.start_factor, 0.0)
        _require_le("start_factor", self.start_factor, 1.0)
        _require_ge("end_factor", self.end_factor, 0.0)
        _require_le("end_factor", self.end_factor, 1.0)
        _require_int("total_iters", self.total_iters, minimum=1)

    def lrs(self, t: IntArray, base_lr: float) -> FloatArray:
        """lr(t) = base·(s + (e - s)·min(t, T)/T)."""
        progress = np.minimum(t, self.total_iters) / self.total_iters
        return base_lr * (self.start_factor + (self.end_factor - self.start_factor) * progress)

    def for_length(self, length: int) -> LinearSchedule:
        """Independent of the run length."""
        return self

    def max_lr_bound(self, base_lr: float, length: int) -> float:
        """Factors are at most 1."""
        return base_lr


@dataclass(frozen=True)
class PolynomialSchedule:
    """PolynomialLR: lr(t) = base·(1 - min(t, T)/T)^power; exactly 0 from t = T on."""

    total_iters: int = 5
    power: float = 1.0

    def __post_init__(self) -> None:
        _require_int("total_iters", self.total_iters, minimum=1)
        _require_ge("power", self.power, 0.0)

    def lrs(self, t: IntArray, base_lr: float) -> FloatArray:
        """lr(t) = base·(1 - min(t, T)/T)^power."""
        remaining = 1.0 - np.minimum(t, self.total_iters) / self.total_iters
        return base_lr * remaining**self.power

    def for_length(self, length: int) -> PolynomialSchedule:
        """Independent of the run length."""
        return self

    def max_lr_bound(self, base_lr: float, length: int) -> float:
        """Never above base."""
        return base_lr


@dataclass(frozen=True)
class SequentialSchedule:
    """SequentialLR: lr(t) = S_k(t - m_k), k = number of milestones <= t, m_0 = 0.

    Each child runs on its own clock from 0 and from the run's base lr. Milestones are
    strictly increasing and >= 1, one fewer than the children.
    """

    children: tuple[ClosedForm, ...]
    milestones: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.children) == 0:
            _fail("`schedulers` must not be empty")
        if len(self.milestones) != len(self.children) - 1:
            _fail(
                "`milestones` must have exactly len(schedulers) - 1 = "
                f"{len(self.children) - 1} values, got {len(self.milestones)}"
            )
        for milestone in self.milestones:
            _require_int("milestones", milestone, minimum=1)
        for before, after in zip(self.milestones, self.milestones[1:], strict=False):
            if after <= before:
                _fail(f"`milestones` must be strictly increasing, got {list(self.milestones)}")

    def segments(self, length: int) -> list[int]:
        """How many steps of the run each child is active for (0 when never reached)."""
        starts = [0, *self.milestones]
        ends = [*self.milestones, length]
        return [
            max(0, min(end, length) - min(start, length))
            for start, end in zip(starts, ends, strict=True)
        ]

    def for_length(self, length: int) -> SequentialSchedule:
        """Bind each child to the length of its own segment."""
        children = tuple(
            child.for_length(max(segment, 1))
            for child, segment in zip(self.children, self.segments(length), strict=True)
        )
        return SequentialSchedule(children=children, milestones=self.milestones)

    def lrs(self, t: IntArray, base_lr: float) -> FloatArray:
        """lr(t) = S_k(t - m_k)."""
        starts = [0, *self.milestones]
        cuts = [0, *np.searchsorted(t, self.milestones, side="left").tolist(), t.size]
        out = np.empty(t.shape, dtype=np.float64)
        for child, start, lo, hi in zip(self.children, starts, cuts[:-1], cuts[1:], strict=True):
            if hi > lo:
                out[lo:hi] = child.lrs(t[lo:hi] - start, base_lr)
        return out

    def max_lr_bound(self, base_lr: float, length: int) -> float:
        """The largest child bound over its segment."""
        return max(
            child.max_lr_bound(base_lr, segment)
            for child, segment in zip(self.children, self.segments(length), strict=True)
            if segment > 0
        )


@dataclass(frozen=True)
class PlateauState:
    """ReduceLROnPlateau's state between epochs."""

    lr: float
    best: float
    num_bad_epochs: int = 0
    cooldown_counter: int = 0


@dataclass(frozen=True)
class PlateauSchedule:
    """ReduceLROnPlateau: cut the lr by `factor` after more than `patience` bad epochs.

    step(m): improved = m < best·(1-threshold) (min/rel), m < best - threshold (min/abs),
    m > best·(1+threshold) (max/rel), m > best + threshold (max/abs). Improved: best = m,
    bad = 0, else bad += 1. In cooldown: cool -= 1, bad = 0. If bad > patience:
    new = max(lr·factor, min_lr), applied only if lr - new > eps; then cool = cooldown, bad = 0.
    """

    mode: Literal["min", "max"] = "min"
    factor: float = 0.1
    patience: int = 10
    threshold: float = 1e-4
    threshold_mode: Literal["rel", "abs"] = "rel"
    cooldown: int = 0
    min_lr: float = 0.0
    eps: float = 1e-8

    def __post_init__(self) -> None:
        if self.mode not in ("min", "max"):
            _fail(f"`mode` must be min or max, got {self.mode!r}")
        _require_ge("factor", self.factor, 0.0)
        if self.factor >= 1.0:
            _fail(f"`factor` must be < 1, got {self.factor}")
        _require_int("patience", self.patience, minimum=0)
        _require_ge("threshold", self.threshold, 0.0)
        if self.threshold_mode not in ("rel", "abs"):
            _fail(f"`threshold_mode` must be rel or abs, got {self.threshold_mode!r}")
        _require_int("cooldown", self.cooldown, minimum=0)
        _require_ge("min_lr", self.min_lr, 0.0)
        _require_ge("eps", self.eps, 0.0)

    def initial_state(self, base_lr: float) -> PlateauState:
        """lr = base, best = worst possible value."""
        return PlateauState(lr=base_lr, best=math.inf if self.mode == "min" else -math.inf)

    def improved(self, metric: float, best: float) -> bool:
        """Whether `metric` is a significant improvement on `best` (NaN never is)."""
        if self.mode == "min" and self.threshold_mode == "rel":
            return metric < best * (1.0 - self.threshold)
        if self.mode == "min":
            return metric < best - self.threshold
        if self.threshold_mode == "rel":
            return metric > best * (self.threshold + 1.0)
        return metric > best + self.threshold

    def step(self, state: PlateauState, metric: float) -> PlateauState:
        """The state after observing `metric` at the end of an epoch."""
        lr, best, bad, cool = state.lr, state.best, state.num_bad_epochs, state.cooldown_counter
        if self.improved(metric, best):
            best, bad = metric, 0
        else:
            bad += 1
        if cool > 0:
            cool, bad = cool - 1, 0
        if bad > self.patience:
            new_lr = max(lr * self.factor, self.min_lr)
            if lr - new_lr > self.eps:
                lr = new_lr
            cool, bad = self.cooldown, 0
        return PlateauState(lr=lr, best=best, num_bad_epochs=bad, cooldown_counter=cool)


# --------------------------------------------------------------------------------------------
# Specs (the API's input; each builds its math object once, at validation)
# --------------------------------------------------------------------------------------------

_SPEC_CONFIG = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)
_Duration = Annotated[int, Field(ge=1, le=MAX_DURATION)]


class _Spec(BaseModel):
    model_config = _SPEC_CONFIG
    default_interval: ClassVar[Interval] = "epoch"

    @property
    def effective_interval(self) -> Interval:
        """The clock durations count in: the stated interval, else the type's default."""
        stated: Interval | None = getattr(self, "interval", None)
        return stated if stated is not None else self.default_interval

    def schedule(self) -> ClosedForm:
        """The validated math object."""
        raise NotImplementedError

    @model_validator(mode="before")
    @classmethod
    def _fill_interval(cls, data: Any) -> Any:
        # The stored, normalised spec names the clock it runs on.
        missing = isinstance(data, dict) and data.get("interval") is None
        if missing and "interval" in cls.model_fields:
            data = {**data, "interval": cls.default_interval}
        return data

    @model_validator(mode="after")
    def _validate_math(self) -> _Spec:
        self.schedule()
        return self


_INTERVAL_DESCRIPTION = (
    "Clock the schedule steps on: once per epoch or once per optimizer step. "
    "Durations count in this unit. Omitted: the type's default interval."
)


class ConstantSpec(_Spec):
    """Constant lr, or base·factor for the first total_iters then base (ConstantLR)."""

    type: Literal["constant"] = "constant"
    factor: float = Field(
        default=1.0,
        gt=0,
        le=1,
        description="Multiplier of the base lr before total_iters. 1.0 (default) is the flat "
        "baseline; torch's own default is 1/3.",
    )
    total_iters: _Duration = Field(default=5, description="Steps until the lr returns to base.")
    interval: Interval | None = Field(default=None, description=_INTERVAL_DESCRIPTION)

    def schedule(self) -> ConstantSchedule:
        """The validated math object."""
        return ConstantSchedule(factor=self.factor, total_iters=self.total_iters)


class StepSpec(_Spec):
    """Multiply the lr by gamma every step_size (StepLR)."""

    type: Literal["step"] = "step"
    step_size: _Duration = Field(description="Period of the decay.")
    gamma: float = Field(default=0.1, gt=0, description="Multiplicative decay factor.")
    interval: Interval | None = Field(default=None, description=_INTERVAL_DESCRIPTION)

    def schedule(self) -> StepSchedule:
        """The validated math object."""
        return StepSchedule(step_size=self.step_size, gamma=self.gamma)


class MultiStepSpec(_Spec):
    """Multiply the lr by gamma at each milestone (MultiStepLR)."""

    type: Literal["multistep"] = "multistep"
    milestones: list[Annotated[int, Field(ge=0, le=MAX_DURATION)]] = Field(
        min_length=1,
        max_length=1000,
        description="Steps at which gamma applies; a repeated milestone applies gamma twice.",
    )
    gamma: float = Field(default=0.1, gt=0, description="Multiplicative decay factor.")
    interval: Interval | None = Field(default=None, description=_INTERVAL_DESCRIPTION)

    def schedule(self) -> MultiStepSchedule:
        """The validated math object."""
        return MultiStepSchedule(milestones=tuple(self.milestones), gamma=self.gamma)


class ExponentialSpec(_Spec):
    """Multiply the lr by gamma every step (ExponentialLR)."""

    type: Literal["exponential"] = "exponential"
    gamma: float = Field(gt=0, description="Multiplicative decay factor per step.")
    interval: Interval | None = Field(default=None, description=_INTERVAL_DESCRIPTION)

    def schedule(self) -> ExponentialSchedule:
        """The validated math object."""
        return ExponentialSchedule(gamma=self.gamma)


class CosineSpec(_Spec):
    """Cosine annealing from base to eta_min over t_max, unclamped (CosineAnnealingLR)."""

    type: Literal["cosine"] = "cosine"
    t_max: _Duration = Field(description="Half period: steps from base down to eta_min.")
    eta_min: float = Field(default=0.0, ge=0, description="Minimum lr (absolute).")
    interval: Interval | None = Field(default=None, description=_INTERVAL_DESCRIPTION)

    def schedule(self) -> CosineSchedule:
        """The validated math object."""
        return CosineSchedule(t_max=self.t_max, eta_min=self.eta_min)


class CosineWarmRestartsSpec(_Spec):
    """Cosine annealing that restarts at base, cycles growing by t_mult (SGDR)."""

    type: Literal["cosine_warm_restarts"] = "cosine_warm_restarts"
    t_0: _Duration = Field(description="Length of the first cycle.")
    t_mult: int = Field(default=1, ge=1, le=1000, description="Cycle length multiplier.")
    eta_min: float = Field(default=0.0, ge=0, description="Minimum lr (absolute).")
    interval: Interval | None = Field(default=None, description=_INTERVAL_DESCRIPTION)

    def schedule(self) -> CosineWarmRestartsSchedule:
        """The validated math object."""
        return CosineWarmRestartsSchedule(t_0=self.t_0, t_mult=self.t_mult, eta_min=self.eta_min)


class PlateauSpec(_Spec):
    """Cut the lr by factor when the monitored metric stops improving (ReduceLROnPlateau)."""

    type: Literal["plateau"] = "plateau"
    monitor: Literal["val_loss", "val_accuracy", "loss", "accuracy"] = Field(
        default="val_loss", description="Metric read at the end of every epoch."
    )
    mode: Literal["min", "max"] = Field(
        default="min", description="Whether the metric should go down (min) or up (max)."
    )
    factor: float = Field(default=0.1, ge=0, lt=1, description="Multiplier applied on a cut.")
    patience: int = Field(
        default=10, ge=0, le=MAX_DURATION, description="Bad epochs tolerated before a cut."
    )
    threshold: float = Field(default=1e-4, ge=0, description="Least change that counts.")
    threshold_mode: Literal["rel", "abs"] = Field(
        default="rel", description="Threshold relative to the best value (rel) or absolute (abs)."
    )
    cooldown: int = Field(
        default=0, ge=0, le=MAX_DURATION, description="Epochs ignored after a cut."
    )
    min_lr: float = Field(default=0.0, ge=0, description="Lower bound of the lr.")
    eps: float = Field(default=1e-8, ge=0, description="Cuts smaller than this are skipped.")

    def schedule(self) -> ClosedForm:
        """Plateau has no closed form; this validates and raises."""
        raise TypeError("plateau has no closed form; use plateau() instead")

    def plateau(self) -> PlateauSchedule:
        """The validated math object."""
        return PlateauSchedule(
            mode=self.mode,
            factor=self.factor,
            patience=self.patience,
            threshold=self.threshold,
            threshold_mode=self.threshold_mode,
            cooldown=self.cooldown,
            min_lr=self.min_lr,
            eps=self.eps,
        )

    @model_validator(mode="after")
    def _validate_math(self) -> PlateauSpec:
        self.plateau()
        return self


class CyclicSpec(_Spec):
    """Cycle between base_lr and max_lr in triangles (CyclicLR); ignores the run's lr."""

    default_interval: ClassVar[Interval] = "step"
    type: Literal["cyclic"] = "cyclic"
    base_lr: float = Field(ge=0, description="Lower lr of the cycle (absolute).")
    max_lr: float = Field(gt=0, description="Upper lr of the cycle (absolute).")
    step_size_up: _Duration = Field(default=2000, description="Steps from base_lr to max_lr.")
    step_size_down: int | None = Field(
        default=None,
        ge=0,
        le=MAX_DURATION,
        description="Steps from max_lr back to base_lr; default step_size_up.",
    )
    mode: Literal["triangular", "triangular2", "exp_range"] = Field(
        default="triangular",
        description="triangular: constant height; triangular2: halved each cycle; exp_range: "
        "height scaled by gamma^t.",
    )
    gamma: float = Field(default=1.0, gt=0, description="exp_range scale per step.")
    interval: Interval | None = Field(default=None, description=_INTERVAL_DESCRIPTION)

    def schedule(self) -> CyclicSchedule:
        """The validated math object."""
        return CyclicSchedule(
            base_lr=self.base_lr,
            max_lr=self.max_lr,
            step_size_up=self.step_size_up,
            step_size_down=self.step_size_down,
            mode=self.mode,
            gamma=self.gamma,
        )


class OneCycleSpec(_Spec):
    """Warm up to max_lr, then anneal far below the start (OneCycleLR); ignores the run's lr."""

    default_interval: ClassVar[Interval] = "step"
    type: Literal["one_cycle"] = "one_cycle"
    max_lr: float = Field(gt=0, description="Peak lr (absolute).")
    total_steps: int | None = Field(
        default=None,
        ge=1,
        le=MAX_DURATION,
        description="Length of the cycle; default: the run's length in its interval. "
        "Must not be shorter than the run.",
    )
    pct_start: float = Field(default=0.3, ge=0, le=1, description="Fraction spent warming up.")
    anneal_strategy: Literal["cos", "linear"] = Field(default="cos", description="Curve shape.")
    div_factor: float = Field(default=25.0, gt=0, description="Initial lr = max_lr/div_factor.")
    final_div_factor: float = Field(
        default=1e4, gt=0, description="Minimum lr = initial lr/final_div_factor."
    )
    three_phase: bool = Field(
        default=False, description="Anneal back to the initial lr before the final descent."
    )
    interval: Interval | None = Field(default=None, description=_INTERVAL_DESCRIPTION)

    def schedule(self) -> OneCycleSchedule:
        """The validated math object."""
        return OneCycleSchedule(
            max_lr=self.max_lr,
            total_steps=self.total_steps,
            pct_start=self.pct_start,
            anneal_strategy=self.anneal_strategy,
            div_factor=self.div_factor,
            final_div_factor=self.final_div_factor,
            three_phase=self.three_phase,
        )


class LinearSpec(_Spec):
    """Scale the lr linearly from start_factor to end_factor over total_iters (LinearLR)."""

    type: Literal["linear"] = "linear"
    start_factor: float = Field(
        default=1.0 / 3.0, gt=0, le=1, description="Multiplier of the base lr at t = 0."
    )
    end_factor: float = Field(
        default=1.0, ge=0, le=1, description="Multiplier reached at t = total_iters."
    )
    total_iters: _Duration = Field(default=5, description="Steps of the linear ramp.")
    interval: Interval | None = Field(default=None, description=_INTERVAL_DESCRIPTION)

    def schedule(self) -> LinearSchedule:
        """The validated math object."""
        return LinearSchedule(
            start_factor=self.start_factor,
            end_factor=self.end_factor,
            total_iters=self.total_iters,
        )


class PolynomialSpec(_Spec):
    """Decay the lr polynomially to 0 at total_iters (PolynomialLR)."""

    type: Literal["polynomial"] = "polynomial"
    total_iters: _Duration = Field(default=5, description="Steps until the lr reaches 0.")
    power: float = Field(default=1.0, ge=0, description="Exponent of the decay.")
    interval: Interval | None = Field(default=None, description=_INTERVAL_DESCRIPTION)

    def schedule(self) -> PolynomialSchedule:
        """The validated math object."""
        return PolynomialSchedule(total_iters=self.total_iters, power=self.power)


ChildSpec = Annotated[
    Union[  # noqa: UP007 - a discriminated union reads better spelled out
        ConstantSpec,
        StepSpec,
        MultiStepSpec,
        ExponentialSpec,
        CosineSpec,
        CosineWarmRestartsSpec,
        CyclicSpec,
        OneCycleSpec,
        LinearSpec,
        PolynomialSpec,
    ],
    Field(discriminator="type"),
]


class SequentialSpec(_Spec):
    """Run schedulers one after another, switching at milestones (SequentialLR)."""

    type: Literal["sequential"] = "sequential"
    schedulers: list[ChildSpec] = Field(
        min_length=1,
        max_length=16,
        description="Child schedules (not plateau or sequential); each starts its own clock at "
        "0 from the base lr. Children use the parent's interval; a child may only restate it.",
    )
    milestones: list[Annotated[int, Field(ge=1, le=MAX_DURATION)]] = Field(
        max_length=15,
        description="Steps at which the next child takes over: strictly increasing, >= 1, "
        "exactly len(schedulers) - 1 values.",
    )
    interval: Interval | None = Field(default=None, description=_INTERVAL_DESCRIPTION)

    @model_validator(mode="before")
    @classmethod
    def _children_follow_parent(cls, data: Any) -> Any:
        # A child that omits its interval runs on the parent's clock, not on its type's default.
        if isinstance(data, dict) and isinstance(data.get("schedulers"), list):
            interval = data.get("interval") or cls.default_interval
            data = {
                **data,
                "schedulers": [
                    {**c, "interval": interval}
                    if isinstance(c, dict) and c.get("interval") is None
                    else c
                    for c in data["schedulers"]
                ],
            }
        return data

    def schedule(self) -> SequentialSchedule:
        """The validated math object (children must share the parent's interval)."""
        for index, child in enumerate(self.schedulers):
            if child.interval is not None and child.interval != self.effective_interval:
                _fail(
                    f"`schedulers[{index}].interval` must be omitted or equal the sequential "
                    f"interval `{self.effective_interval}`, got `{child.interval}`"
                )
        return SequentialSchedule(
            children=tuple(child.schedule() for child in self.schedulers),
            milestones=tuple(self.milestones),
        )


SchedulerSpec = Annotated[
    Union[  # noqa: UP007 - a discriminated union reads better spelled out
        ConstantSpec,
        StepSpec,
        MultiStepSpec,
        ExponentialSpec,
        CosineSpec,
        CosineWarmRestartsSpec,
        PlateauSpec,
        CyclicSpec,
        OneCycleSpec,
        LinearSpec,
        PolynomialSpec,
        SequentialSpec,
    ],
    Field(discriminator="type"),
]

_SPEC_CLASSES: tuple[type[_Spec], ...] = (
    ConstantSpec,
    StepSpec,
    MultiStepSpec,
    ExponentialSpec,
    CosineSpec,
    CosineWarmRestartsSpec,
    PlateauSpec,
    CyclicSpec,
    OneCycleSpec,
    LinearSpec,
    PolynomialSpec,
    SequentialSpec,
)
SCHEDULER_TYPES: tuple[str, ...] = tuple(
    str(cls.model_fields["type"].default) for cls in _SPEC_CLASSES
)


def default_interval(spec: SchedulerSpec) -> Interval:
    """The interval the spec's durations count in (stated, else the type's default)."""
    return spec.effective_interval


def catalog() -> list[dict[str, Any]]:
    """Every scheduler type with description, parameter JSON Schema and default interval."""
    return [
        {
            "type": cls.model_fields["type"].default,
            "description": (cls.__doc__ or "").strip(),
            "parameters": cls.model_json_schema(),
            "default_interval": cls.default_interval,
        }
        for cls in _SPEC_CLASSES
    ]


# --------------------------------------------------------------------------------------------
# The run (used by the worker and by the preview)
# --------------------------------------------------------------------------------------------


def _encode_float(value: float) -> float | str:
    return value if math.isfinite(value) else str(value)


def _decode_float(value: float | str) -> float:
    return float(value)


class ScheduleRun:
    """The lr of every optimizer step of one run, epoch by epoch."""

    interval: Interval
    monitor: str | None

    def __init__(
        self, spec: SchedulerSpec, *, base_lr: float, epochs: int, steps_per_epoch: int
    ) -> None:
        """Validate the run's geometry and bind the schedule to its length."""
        _require_gt("base_lr", base_lr, 0.0)
        _require_int("epochs", epochs, minimum=1)
        if isinstance(steps_per_epoch, bool) or not isinstance(steps_per_epoch, int):
            _fail(f"`steps_per_epoch` must be an integer, got {steps_per_epoch!r}")
        if steps_per_epoch < 1:
            _fail(f"`steps_per_epoch` must be >= 1, got {steps_per_epoch}")
        self.spec = spec
        self.base_lr = float(base_lr)
        self.epochs = epochs
        self.steps_per_epoch = steps_per_epoch
        self.interval = spec.effective_interval
        self.length = epochs * steps_per_epoch if self.interval == "step" else epochs
        self.epochs_completed = 0
        self._plateau: PlateauSchedule | None = None
        self._closed: ClosedForm | None = None
        if isinstance(spec, PlateauSpec):
            self.monitor = spec.monitor
            self._plateau = spec.plateau()
            self._state = self._plateau.initial_state(self.base_lr)
        else:
            self.monitor = None
            self._closed = spec.schedule().for_length(self.length)
            bound = self._closed.max_lr_bound(self.base_lr, self.length)
            if not bound <= _FLOAT32_MAX:
                _fail(
                    "the learning rate grows past the float32 range (3.4e38) within the run; "
                    "use a smaller `gamma` or a shorter run"
                )

    @property
    def closed_form(self) -> ClosedForm | None:
        """The bound closed-form schedule, or None for plateau."""
        return self._closed

    def _check_epoch(self, epoch: int) -> None:
        if not 0 <= epoch < self.epochs:
            _fail(f"`epoch` must be in [0, {self.epochs - 1}], got {epoch}")

    def lrs_for_epochs(self, start: int, stop: int) -> FloatArray:
        """lrs of epochs start..stop-1 as a (stop-start, steps_per_epoch) array (not plateau)."""
        if self._closed is None:
            raise TypeError("plateau depends on metrics; use epoch_lrs() one epoch at a time")
        if not 0 <= start <= stop <= self.epochs:
            _fail(f"epoch range must be within [0, {self.epochs}], got [{start}, {stop})")
        spe = self.steps_per_epoch
        if self.interval == "step":
            t = np.arange(start * spe, stop * spe, dtype=np.int64)
            return self._closed.lrs(t, self.base_lr).reshape(stop - start, spe)
        per_epoch = self._closed.lrs(np.arange(start, stop, dtype=np.int64), self.base_lr)
        return np.repeat(per_epoch[:, np.newaxis], spe, axis=1)

    def epoch_lrs(self, epoch: int) -> FloatArray:
        """The lr of each optimizer step of 0-based `epoch` (float64, steps_per_epoch long)."""
        self._check_epoch(epoch)
        if self._closed is not None:
            row: FloatArray = self.lrs_for_epochs(epoch, epoch + 1)[0]
            return row
        if epoch != self.epochs_completed:
            _fail(
                f"plateau knows the lr of epoch {self.epochs_completed} only "
                f"(epochs completed), got epoch {epoch}"
            )
        return np.full(self.steps_per_epoch, self._state.lr, dtype=np.float64)

    def end_epoch(self, epoch: int, metrics: Mapping[str, float]) -> None:
        """Record the end of 0-based `epoch`; plateau reads metrics[monitor]."""
        self._check_epoch(epoch)
        if epoch != self.epochs_completed:
            _fail(f"expected end of epoch {self.epochs_completed}, got epoch {epoch}")
        if self._plateau is not None:
            assert self.monitor is not None
            if self.monitor not in metrics:
                _fail(f"plateau monitors `{self.monitor}`, got only {sorted(metrics)}")
            self._state = self._plateau.step(self._state, float(metrics[self.monitor]))
        self.epochs_completed += 1

    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable state that resumes the run exactly after the completed epochs."""
        state: dict[str, Any] = {
            "version": _STATE_VERSION,
            "type": self.spec.type,
            "base_lr": self.base_lr,
            "epochs": self.epochs,
            "steps_per_epoch": self.steps_per_epoch,
            "epochs_completed": self.epochs_completed,
        }
        if self._plateau is not None:
            state["plateau"] = {
                "lr": self._state.lr,
                "best": _encode_float(self._state.best),
                "num_bad_epochs": self._state.num_bad_epochs,
                "cooldown_counter": self._state.cooldown_counter,
            }
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what state_dict() returned, for the same spec and run geometry."""
        if state.get("version") != _STATE_VERSION:
            _fail(f"unsupported schedule state version {state.get('version')!r}")
        expected = {
            "type": self.spec.type,
            "base_lr": self.base_lr,
            "epochs": self.epochs,
            "steps_per_epoch": self.steps_per_epoch,
        }
        for key, value in expected.items():
            if state.get(key) != value:
                _fail(f"schedule state is for {key}={state.get(key)!r}, this run has {value!r}")
        completed = state.get("epochs_completed")
        if not isinstance(completed, int) or not 0 <= completed <= self.epochs:
            _fail(f"`epochs_completed` must be in [0, {self.epochs}], got {completed!r}")
        assert isinstance(completed, int)
        if self._plateau is not None:
            plateau = state["plateau"]
            self._state = PlateauState(
                lr=float(plateau["lr"]),
                best=_decode_float(plateau["best"]),
                num_bad_epochs=int(plateau["num_bad_epochs"]),
                cooldown_counter=int(plateau["cooldown_counter"]),
            )
        self.epochs_completed = completed


def build_run(
    spec: SchedulerSpec, *, base_lr: float, epochs: int, steps_per_epoch: int
) -> ScheduleRun:
    """The run of `spec` for this geometry; raises ValueError when the schedule cannot fit it."""
    return ScheduleRun(spec, base_lr=base_lr, epochs=epochs, steps_per_epoch=steps_per_epoch)


# --------------------------------------------------------------------------------------------
# Preview
# --------------------------------------------------------------------------------------------


class PreviewRequest(BaseModel):
    """A schedule and run geometry to compute the lr curve of, without training."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    scheduler: SchedulerSpec
    learning_rate: float = Field(gt=0, description="Base lr of the run.")
    epochs: int = Field(ge=1, le=100_000, description="Number of epochs.")
    steps_per_epoch: int = Field(
        default=1, ge=1, le=MAX_PREVIEW_VALUES, description="Optimizer steps per epoch."
    )
    metrics: list[float] | None = Field(
        default=None,
        max_length=100_000,
        description="plateau only: metrics[k] is the monitored value at the end of epoch k+1.",
    )

    @model_validator(mode="after")
    def _check_run(self) -> PreviewRequest:
        total = self.epochs * self.steps_per_epoch
        if total > MAX_PREVIEW_VALUES:
            _fail(
                f"`epochs` × `steps_per_epoch` must be <= {MAX_PREVIEW_VALUES}, got "
                f"{self.epochs} × {self.steps_per_epoch} = {total}"
            )
        if isinstance(self.scheduler, PlateauSpec):
            needed = self.epochs - 1
            given = len(self.metrics or [])
            if given < needed:
                _fail(f"`metrics` must have at least {needed} values for `plateau`, got {given}")
        build_run(
            self.scheduler,
            base_lr=self.learning_rate,
            epochs=self.epochs,
            steps_per_epoch=self.steps_per_epoch,
        )
        return self


class PreviewResult(BaseModel):
    """The lr of every epoch (its first step) and every step, plus legal-but-odd findings."""

    epochs: list[float]
    steps: list[float]
    warnings: list[str]


def preview(request: PreviewRequest) -> PreviewResult:
    """Run the schedule through the worker's ScheduleRun and collect the lrs."""
    epochs, steps, warnings = preview_arrays(request)
    # Built from our own float64 arrays, so revalidating a million floats would be waste.
    return PreviewResult.model_construct(
        epochs=epochs.tolist(), steps=steps.tolist(), warnings=warnings
    )


def preview_arrays(request: PreviewRequest) -> tuple[FloatArray, FloatArray, list[str]]:
    """The preview as arrays (per-epoch lrs, per-step lrs, warnings), for fast encoding."""
    run = build_run(
        request.scheduler,
        base_lr=request.learning_rate,
        epochs=request.epochs,
        steps_per_epoch=request.steps_per_epoch,
    )
    if run.closed_form is not None:
        steps = run.lrs_for_epochs(0, request.epochs).reshape(-1)
    else:
        assert run.monitor is not None
        metrics = request.metrics or []
        steps = np.empty(request.epochs * request.steps_per_epoch, dtype=np.float64)
        spe = request.steps_per_epoch
        for epoch in range(request.epochs):
            steps[epoch * spe : (epoch + 1) * spe] = run.epoch_lrs(epoch)
            if epoch < len(metrics):
                run.end_epoch(epoch, {run.monitor: metrics[epoch]})
    epochs = np.ascontiguousarray(steps[:: request.steps_per_epoch])
    return epochs, steps, _warnings(request, run, steps)


def _warnings(request: PreviewRequest, run: ScheduleRun, steps: FloatArray) -> list[str]:
    spec = request.scheduler
    unit = run.interval
    found = _spec_warnings(spec, run.length, unit, prefix="")
    if isinstance(spec, PlateauSpec):
        accuracy = spec.monitor.endswith("accuracy")
        if accuracy and spec.mode == "min":
            found.append(
                f"`plateau` monitors `{spec.monitor}` with mode `min`, so it cuts the lr "
                "while accuracy keeps rising; use mode `max`."
            )
        if not accuracy and spec.mode == "max":
            found.append(
                f"`plateau` monitors `{spec.monitor}` with mode `max`, so it cuts the lr "
                "while the loss keeps falling; use mode `min`."
            )
        if spec.threshold_mode == "rel" and any(m < 0 for m in request.metrics or []):
            found.append(
                "`threshold_mode` `rel` assumes positive metrics; with negative values the "
                "threshold works the wrong way, so use `abs`."
            )
    elif request.metrics is not None:
        found.append(f"`metrics` are ignored: only `plateau` reads them, not `{spec.type}`.")
    low = np.flatnonzero(steps < LOW_LR)
    if low.size:
        first = int(low[0])
        epoch = first // request.steps_per_epoch + 1
        where = f"epoch {epoch}"
        if request.steps_per_epoch > 1:
            where += f" (step {first + 1})"
        found.append(f"The learning rate falls below 1e-8 at {where}.")
    return found


def _spec_warnings(spec: _Spec, length: int, unit: Interval, *, prefix: str) -> list[str]:
    found: list[str] = []
    run_text = f"the run ({length} {unit}s)"
    if isinstance(spec, CyclicSpec):
        cycle = spec.schedule().cycle_length
        if cycle > length:
            found.append(
                f"{prefix}The cyclic cycle (up + down = {cycle} {unit}s) is longer than "
                f"{run_text}, so not even one cycle completes."
            )
        if spec.mode != "exp_range" and spec.gamma != 1.0:
            found.append(f"{prefix}`gamma` only affects mode `exp_range`, not `{spec.mode}`.")
    elif isinstance(spec, CosineSpec) and spec.t_max < length:
        found.append(
            f"{prefix}`t_max` ({spec.t_max}) is shorter than {run_text}: past t_max the "
            "cosine climbs back towards the base lr."
        )
    elif isinstance(spec, CosineSpec) and spec.t_max > length:
        found.append(
            f"{prefix}`t_max` ({spec.t_max}) is longer than {run_text}: the cosine never "
            "reaches eta_min."
        )
    elif isinstance(spec, StepSpec) and spec.step_size >= length:
        found.append(
            f"{prefix}`step_size` ({spec.step_size}) never fires within {run_text}; "
            "the lr stays constant."
        )
    elif isinstance(spec, MultiStepSpec):
        late = sorted({m for m in spec.milestones if m >= length})
        if late:
            found.append(f"{prefix}`milestones` {late} never fire within {run_text}.")
    elif isinstance(spec, OneCycleSpec) and spec.total_steps is not None:
        if spec.total_steps > length:
            found.append(
                f"{prefix}`total_steps` ({spec.total_steps}) is longer than {run_text}, so "
                "the run stops before the lr anneals to its minimum."
            )
    elif isinstance(spec, SequentialSpec):
        schedule = spec.schedule()
        late = [m for m in spec.milestones if m >= length]
        if late:
            found.append(f"{prefix}`milestones` {late} are never reached within {run_text}.")
        for index, (child, segment) in enumerate(
            zip(spec.schedulers, schedule.segments(length), strict=True)
        ):
            if segment > 0:
                found.extend(
                    _spec_warnings(child, segment, unit, prefix=f"`schedulers[{index}]`: ")
                )
    return found
