"""Closed-form schedules: lr(t) from t and the base lr alone, one class per torch scheduler.

Semantics follow torch.optim.lr_scheduler 2.13 (docs/schedules.md). `t` is
the number of scheduler steps taken, counted in the schedule's interval (epochs or optimizer
steps); lr(t) is the learning rate used by epoch/step t+1. Schedules are relative to the run's
base lr, except `cyclic` and `one_cycle`, which set their own range. Each class checks its
parameters at construction (the Bounds on its fields, then the rules between fields).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Annotated, Literal, Protocol, Self

import numpy as np
import numpy.typing as npt

from models.schedules.parameters import (
    COUNT,
    DURATION,
    MAX_DURATION,
    NON_NEGATIVE,
    POSITIVE,
    Bound,
    check_increasing,
    check_parameters,
    fail,
)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
CyclicMode = Literal["triangular", "triangular2", "exp_range"]
AnnealStrategy = Literal["cos", "linear"]

FACTOR = Bound(gt=0, le=1)
"""A multiplier of the base lr that only lowers it, and never to 0."""


_SPLIT = 12  # k = q·2^12 + r


def _power(gamma: float, exponent: IntArray) -> FloatArray:
    """gamma^k for non-negative integer k, as pow(gamma, q·4096) · pow(gamma, r) with
    k = q·4096 + r: within 2 ulp of pow(gamma, k), and the same bits however many k at once."""
    # np.power is the slowest op in the preview: for many k, each factor is looked up in a
    # table of powers. Both factors lie on the same side of 1, so 0·inf cannot occur.
    if exponent.size == 0:
        return np.empty(0, dtype=np.float64)
    high = exponent >> _SPLIT
    low = exponent & ((1 << _SPLIT) - 1)
    with np.errstate(over="ignore", under="ignore"):
        if exponent.size <= 1 << (_SPLIT - 1):
            # Two pow calls per k beat a 4096-entry table: a bound checks 2 k, and a sweep
            # validates hundreds of bounds (the table was ~0.2 ms each).
            few: FloatArray = np.power(gamma, float(1 << _SPLIT) * high) * np.power(
                gamma, low.astype(np.float64)
            )
            return few
        low_table = np.power(gamma, np.arange(1 << _SPLIT, dtype=np.float64))
        high_table = np.power(
            gamma, float(1 << _SPLIT) * np.arange(int(high.max()) + 1, dtype=np.float64)
        )
        result: FloatArray = high_table[high] * low_table[low]
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

    def min_lr_bound(self, base_lr: float, length: int) -> float:
        """A lower bound of lr(t) over 0 <= t < length (up to rounding)."""
        ...


class _LengthFree:
    """A schedule whose curve does not depend on the length of the run."""

    def for_length(self, length: int) -> Self:
        """Independent of the run length."""
        return self


class _Monotone(_LengthFree):
    """A schedule whose lr only moves one way, so its bounds are its two ends."""

    def max_lr_bound(self: ClosedForm, base_lr: float, length: int) -> float:
        """Monotone, so the larger of both ends."""
        return float(self.lrs(np.array([0, length - 1], dtype=np.int64), base_lr).max())

    def min_lr_bound(self: ClosedForm, base_lr: float, length: int) -> float:
        """Monotone, so the smaller of both ends."""
        return float(self.lrs(np.array([0, length - 1], dtype=np.int64), base_lr).min())


@dataclass(frozen=True)
class ConstantSchedule(_LengthFree):
    """ConstantLR: lr(t) = base·factor for t < total_iters, base afterwards.

    factor=1 is the flat baseline. factor=0 is rejected: torch divides by it at t = total_iters.
    """

    factor: Annotated[float, FACTOR] = 1.0
    total_iters: Annotated[int, DURATION] = 5

    def __post_init__(self) -> None:
        check_parameters(self)

    def lrs(self, t: IntArray, base_lr: float) -> FloatArray:
        """lr(t) = base·(factor + [t >= total_iters]·(1 - factor))."""
        reached = (t >= self.total_iters).astype(np.float64)
        return base_lr * (self.factor + reached * (1.0 - self.factor))

    def max_lr_bound(self, base_lr: float, length: int) -> float:
        """Never above base."""
        return base_lr

    def min_lr_bound(self, base_lr: float, length: int) -> float:
        """base·factor at the lowest (factor <= 1)."""
        return base_lr * self.factor


@dataclass(frozen=True)
class StepSchedule(_Monotone):
    """StepLR: lr(t) = base·gamma^floor(t / step_size)."""

    step_size: Annotated[int, DURATION]
    gamma: Annotated[float, POSITIVE] = 0.1

    def __post_init__(self) -> None:
        check_parameters(self)

    def lrs(self, t: IntArray, base_lr: float) -> FloatArray:
        """lr(t) = base·gamma^floor(t / step_size)."""
        return base_lr * _power(self.gamma, t // self.step_size)


@dataclass(frozen=True)
class MultiStepSchedule(_Monotone):
    """MultiStepLR: lr(t) = base·gamma^#{m in milestones : m <= t}, counted with multiplicity."""

    milestones: Annotated[tuple[int, ...], Bound(ge=0, le=MAX_DURATION, integer=True, min_items=1)]
    gamma: Annotated[float, POSITIVE] = 0.1

    def __post_init__(self) -> None:
        check_parameters(self)
        # torch accepts any order, but a decreasing list is almost always a typo; a repeated
        # milestone is a documented way to apply gamma twice, so it stays legal.
        if list(self.milestones) != sorted(self.milestones):
            fail("milestones", f"`milestones` must be increasing, got {list(self.milestones)}")

    def lrs(self, t: IntArray, base_lr: float) -> FloatArray:
        """lr(t) = base·gamma^(number of milestones m <= t); a repeated milestone counts twice."""
        ordered = np.sort(np.asarray(self.milestones, dtype=np.int64))
        passed = np.searchsorted(ordered, t, side="right").astype(np.int64)
        return base_lr * _power(self.gamma, passed)


@dataclass(frozen=True)
class ExponentialSchedule(_Monotone):
    """ExponentialLR: lr(t) = base·gamma^t."""

    gamma: Annotated[float, POSITIVE]

    def __post_init__(self) -> None:
        check_parameters(self)

    def lrs(self, t: IntArray, base_lr: float) -> FloatArray:
        """lr(t) = base·gamma^t."""
        return base_lr * _power(self.gamma, t)


class _Cosine(_LengthFree):
    """A cosine between base and eta_min, in either direction: those are its bounds."""

    eta_min: float

    def max_lr_bound(self, base_lr: float, length: int) -> float:
        """Between eta_min and base."""
        return max(base_lr, self.eta_min)

    def min_lr_bound(self, base_lr: float, length: int) -> float:
        """Between eta_min and base."""
        return min(base_lr, self.eta_min)


@dataclass(frozen=True)
class CosineSchedule(_Cosine):
    """CosineAnnealingLR: lr(t) = eta_min + (base - eta_min)·(1 + cos(π·t / t_max))/2.

    No clamping: past t_max the curve climbs back to base at 2·t_max (period 2·t_max).
    """

    t_max: Annotated[int, DURATION]
    eta_min: Annotated[float, NON_NEGATIVE] = 0.0

    def __post_init__(self) -> None:
        check_parameters(self)

    def lrs(self, t: IntArray, base_lr: float) -> FloatArray:
        """lr(t) = eta_min + (base - eta_min)·(1 + cos(π·t / t_max))/2."""
        cos = np.cos(math.pi * t / self.t_max)
        return self.eta_min + (base_lr - self.eta_min) * (1.0 + cos) / 2.0


@dataclass(frozen=True)
class CosineWarmRestartsSchedule(_Cosine):
    """CosineAnnealingWarmRestarts: cosine from base to eta_min, restarting every cycle.

    Cycle i lasts T_i = t_0·t_mult^i and starts at S_i = Σ_{j<i} T_j; with T_cur = t - S_i,
    lr(t) = eta_min + (base - eta_min)·(1 + cos(π·T_cur / T_i))/2.
    """

    t_0: Annotated[int, DURATION]
    t_mult: Annotated[int, Bound(ge=1, le=1000, integer=True)] = 1
    eta_min: Annotated[float, NON_NEGATIVE] = 0.0

    def __post_init__(self) -> None:
        check_parameters(self)

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


@dataclass(frozen=True)
class CyclicSchedule(_LengthFree):
    """CyclicLR: a triangle between base_lr and max_lr, independent of the run's base lr.

    total = up + down, r = up/total, cycle = floor(1 + t/total), x = 1 + t/total - cycle,
    s = x/r if x <= r else (x - 1)/(r - 1), lr = base_lr + (max_lr - base_lr)·s·scale with
    scale = 1 (triangular), 2^-(cycle-1) (triangular2), gamma^t (exp_range, t global).
    """

    base_lr: Annotated[float, NON_NEGATIVE]
    max_lr: Annotated[float, POSITIVE]
    step_size_up: Annotated[int, DURATION] = 2000
    step_size_down: Annotated[int | None, COUNT] = None
    mode: CyclicMode = "triangular"
    gamma: Annotated[float, POSITIVE] = 1.0

    def __post_init__(self) -> None:
        check_parameters(self)
        if self.max_lr <= self.base_lr:
            fail(
                "max_lr",
                f"`max_lr` must be > `base_lr`, got max_lr={self.max_lr}, base_lr={self.base_lr}",
            )

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

    def max_lr_bound(self, base_lr: float, length: int) -> float:
        """max_lr, scaled by gamma^(length-1) at most for a growing exp_range."""
        growth = 1.0
        if self.mode == "exp_range" and self.gamma > 1.0:
            growth = float(_power(self.gamma, np.array([length - 1], dtype=np.int64))[0])
        return self.base_lr + (self.max_lr - self.base_lr) * growth

    def min_lr_bound(self, base_lr: float, length: int) -> float:
        """The cyclic base_lr: s and scale are never negative."""
        return self.base_lr


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

    max_lr: Annotated[float, POSITIVE]
    total_steps: Annotated[int | None, DURATION] = None
    pct_start: Annotated[float, Bound(ge=0, le=1)] = 0.3
    anneal_strategy: AnnealStrategy = "cos"
    div_factor: Annotated[float, POSITIVE] = 25.0
    final_div_factor: Annotated[float, POSITIVE] = 1e4
    three_phase: bool = False

    def __post_init__(self) -> None:
        check_parameters(self)
        if not self.three_phase and self.pct_start == 1.0:
            fail(
                "pct_start",
                "`pct_start` must be < 1 unless `three_phase` is true, got 1.0 "
                "(PyTorch divides by zero at t = total_steps)",
            )
        if self.total_steps is not None:
            self._check_phases(self.total_steps)

    def _check_phases(self, total: int) -> None:
        warmup = float(self.pct_start * total)
        # A zero-length phase that torch reaches within t <= T raises ZeroDivisionError there.
        if warmup - 1.0 == 0.0:
            fail(
                "pct_start",
                "`pct_start` * `total_steps` must not be exactly 1 (PyTorch divides by zero at "
                f"t = 0), got pct_start={self.pct_start}, total_steps={total}",
            )
        if self.three_phase and float(2 * self.pct_start * total) - 2.0 == total - 1:
            fail(
                "pct_start",
                "`pct_start` * `total_steps` must not equal (total_steps + 1)/2 with "
                "`three_phase` (PyTorch divides by zero at t = total_steps), "
                f"got pct_start={self.pct_start}, total_steps={total}",
            )

    def for_length(self, length: int) -> OneCycleSchedule:
        """Fill total_steps=None with the run length; a run longer than total_steps is rejected."""
        if self.total_steps is None:
            bound = replace(self, total_steps=length)
            return bound
        if length > self.total_steps:
            fail(
                "total_steps",
                f"`total_steps` ({self.total_steps}) is shorter than the run ({length} steps "
                "of its interval); PyTorch raises once it steps past total_steps",
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

    def min_lr_bound(self, base_lr: float, length: int) -> float:
        """Each phase moves between two of max_lr, its initial and its minimum lr."""
        initial = self.max_lr / self.div_factor
        return min(self.max_lr, initial, initial / self.final_div_factor)


@dataclass(frozen=True)
class LinearSchedule(_LengthFree):
    """LinearLR: lr(t) = base·(s + (e - s)·min(t, T)/T); the end value is reached at t = T."""

    start_factor: Annotated[float, FACTOR] = 1.0 / 3.0
    end_factor: Annotated[float, Bound(ge=0, le=1)] = 1.0
    total_iters: Annotated[int, DURATION] = 5

    def __post_init__(self) -> None:
        check_parameters(self)

    def lrs(self, t: IntArray, base_lr: float) -> FloatArray:
        """lr(t) = base·(s + (e - s)·min(t, T)/T)."""
        progress = np.minimum(t, self.total_iters) / self.total_iters
        return base_lr * (self.start_factor + (self.end_factor - self.start_factor) * progress)

    def max_lr_bound(self, base_lr: float, length: int) -> float:
        """Factors are at most 1."""
        return base_lr

    def min_lr_bound(self, base_lr: float, length: int) -> float:
        """The smaller of the start and end factors."""
        return base_lr * min(self.start_factor, self.end_factor)


@dataclass(frozen=True)
class PolynomialSchedule(_LengthFree):
    """PolynomialLR: lr(t) = base·(1 - min(t, T)/T)^power; exactly 0 from t = T on."""

    total_iters: Annotated[int, DURATION] = 5
    power: Annotated[float, NON_NEGATIVE] = 1.0

    def __post_init__(self) -> None:
        check_parameters(self)

    def lrs(self, t: IntArray, base_lr: float) -> FloatArray:
        """lr(t) = base·(1 - min(t, T)/T)^power."""
        remaining = 1.0 - np.minimum(t, self.total_iters) / self.total_iters
        return base_lr * remaining**self.power

    def max_lr_bound(self, base_lr: float, length: int) -> float:
        """Never above base."""
        return base_lr

    def min_lr_bound(self, base_lr: float, length: int) -> float:
        """Non-increasing, so its value at the run's last step."""
        return float(self.lrs(np.array([length - 1], dtype=np.int64), base_lr)[0])


@dataclass(frozen=True)
class SequentialSchedule:
    """SequentialLR: lr(t) = S_k(t - m_k), k = number of milestones <= t, m_0 = 0.

    Each child runs on its own clock from 0 and from the run's base lr. Milestones are
    strictly increasing and >= 1, one fewer than the children.
    """

    schedulers: Annotated[tuple[ClosedForm, ...], Bound(min_items=1)]
    milestones: Annotated[tuple[int, ...], Bound(ge=1, le=MAX_DURATION, integer=True)]

    def __post_init__(self) -> None:
        check_parameters(self)
        if len(self.milestones) != len(self.schedulers) - 1:
            fail(
                "milestones",
                "`milestones` must have exactly len(schedulers) - 1 = "
                f"{len(self.schedulers) - 1} values, got {len(self.milestones)}",
            )
        check_increasing("milestones", self.milestones)

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
        schedulers = tuple(
            child.for_length(max(segment, 1))
            for child, segment in zip(self.schedulers, self.segments(length), strict=True)
        )
        return SequentialSchedule(schedulers=schedulers, milestones=self.milestones)

    def lrs(self, t: IntArray, base_lr: float) -> FloatArray:
        """lr(t) = S_k(t - m_k)."""
        starts = [0, *self.milestones]
        cuts = [0, *np.searchsorted(t, self.milestones, side="left").tolist(), t.size]
        out = np.empty(t.shape, dtype=np.float64)
        for child, start, lo, hi in zip(self.schedulers, starts, cuts[:-1], cuts[1:], strict=True):
            if hi > lo:
                out[lo:hi] = child.lrs(t[lo:hi] - start, base_lr)
        return out

    def max_lr_bound(self, base_lr: float, length: int) -> float:
        """The largest child bound over its segment."""
        return max(
            child.max_lr_bound(base_lr, segment)
            for child, segment in zip(self.schedulers, self.segments(length), strict=True)
            if segment > 0
        )

    def min_lr_bound(self, base_lr: float, length: int) -> float:
        """The smallest child bound over its segment."""
        return min(
            child.min_lr_bound(base_lr, segment)
            for child, segment in zip(self.schedulers, self.segments(length), strict=True)
            if segment > 0
        )
