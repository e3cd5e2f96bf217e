"""Hugging Face transformers 5.x schedules (`transformers.get_scheduler`) as closed forms.

transformers builds each schedule as a torch LambdaLR whose lambda computes a factor in Python
floats: lr(t) = base·factor(t), with t the number of optimizer steps taken. Each class here
computes the same factor in float64 with the same operations, vectorised, so the values agree
to rounding. `num_training_steps=None` means "the run's length" (bound by `for_length`);
`num_warmup_steps` is the length of the linear warm-up from 0, where the type has one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Annotated, Literal, Self

import numpy as np

from models.schedules.closed_form import FloatArray, IntArray, _LengthFree
from models.schedules.parameters import (
    COUNT,
    DURATION,
    NON_NEGATIVE,
    Bound,
    check_parameters,
    fail,
)

WarmupShape = Literal["linear", "cosine", "1-sqrt"]
RATIO = Bound(ge=0, le=1)
CYCLES = Bound(gt=0, le=1_000_000)


def _warmup(t: FloatArray, warmup: int) -> FloatArray:
    """float(t) / float(max(1, num_warmup_steps)): the shared linear warm-up factor."""
    result: FloatArray = t / float(max(1, warmup))
    return result


class _Training:
    """A schedule of `num_training_steps` steps (None: the run's length) after a warm-up."""

    num_warmup_steps: int
    num_training_steps: int | None

    def for_length(self, length: int) -> Self:
        """Fill num_training_steps=None with the run's length."""
        if self.num_training_steps is None:
            bound: Self = replace(self, num_training_steps=length)  # type: ignore[type-var]
            return bound
        return self

    @property
    def total(self) -> int:
        """num_training_steps, once bound."""
        if self.num_training_steps is None:
            raise ValueError(
                "`num_training_steps` is unset; bind the schedule with for_length() first"
            )
        return self.num_training_steps

    def _progress(self, t: FloatArray) -> FloatArray:
        """float(t - w) / float(max(1, T - w)), as transformers' cosine schedules compute it."""
        w = self.num_warmup_steps
        result: FloatArray = (t - w) / float(max(1, self.total - w))
        return result

    def _with_warmup(self, t: IntArray, after: FloatArray) -> FloatArray:
        """The warm-up factor before num_warmup_steps, `after` from there on."""
        steps = t.astype(np.float64)
        return np.where(t < self.num_warmup_steps, _warmup(steps, self.num_warmup_steps), after)

    def max_lr_bound(self, base_lr: float, length: int) -> float:
        """The factor never exceeds 1."""
        return base_lr

    def min_lr_bound(self, base_lr: float, length: int) -> float:
        """The warm-up starts at 0."""
        return 0.0


@dataclass(frozen=True)
class HfLinearSchedule(_Training):
    """get_linear_schedule_with_warmup: factor = t/max(1, w) for t < w, else
    max(0, (T - t)/max(1, T - w)). Reproduces transformers 5.x `get_scheduler("linear")`."""

    num_warmup_steps: Annotated[int, COUNT] = 0
    num_training_steps: Annotated[int | None, DURATION] = None

    def __post_init__(self) -> None:
        check_parameters(self)

    def lrs(self, t: IntArray, base_lr: float) -> FloatArray:
        """lr(t) = base·factor(t) (see the class docstring)."""
        w = self.num_warmup_steps
        decay = np.maximum(0.0, (self.total - t).astype(np.float64) / float(max(1, self.total - w)))
        return base_lr * self._with_warmup(t, decay)


@dataclass(frozen=True)
class HfCosineSchedule(_Training):
    """get_cosine_schedule_with_warmup: after the warm-up, with p = (t - w)/max(1, T - w),
    factor = max(0, (1 + cos(π·num_cycles·2·p))/2). Reproduces transformers 5.x
    `get_scheduler("cosine")` (num_cycles 0.5: one half cosine from 1 to 0 at T)."""

    num_warmup_steps: Annotated[int, COUNT] = 0
    num_training_steps: Annotated[int | None, DURATION] = None
    num_cycles: Annotated[float, CYCLES] = 0.5

    def __post_init__(self) -> None:
        check_parameters(self)

    def lrs(self, t: IntArray, base_lr: float) -> FloatArray:
        """lr(t) = base·factor(t) (see the class docstring)."""
        p = self._progress(t.astype(np.float64))
        cosine = 0.5 * (1.0 + np.cos(math.pi * float(self.num_cycles) * 2.0 * p))
        return base_lr * self._with_warmup(t, np.maximum(0.0, cosine))


@dataclass(frozen=True)
class HfCosineRestartsSchedule(_Training):
    """get_cosine_with_hard_restarts_schedule_with_warmup: after the warm-up, with
    p = (t - w)/max(1, T - w), factor = 0 once p >= 1, else (1 + cos(π·((num_cycles·p) mod 1)))/2.
    Reproduces transformers 5.x `get_scheduler("cosine_with_restarts")`."""

    num_warmup_steps: Annotated[int, COUNT] = 0
    num_training_steps: Annotated[int | None, DURATION] = None
    num_cycles: Annotated[int, Bound(ge=1, le=1_000_000, integer=True)] = 1

    def __post_init__(self) -> None:
        check_parameters(self)

    def lrs(self, t: IntArray, base_lr: float) -> FloatArray:
        """lr(t) = base·factor(t) (see the class docstring)."""
        p = self._progress(t.astype(np.float64))
        cosine = 0.5 * (1.0 + np.cos(math.pi * np.fmod(float(self.num_cycles) * p, 1.0)))
        after = np.where(p >= 1.0, 0.0, np.maximum(0.0, cosine))
        return base_lr * self._with_warmup(t, after)

    def restart_period(self) -> int:
        """Steps of one cosine cycle, rounded up."""
        return math.ceil(max(1, self.total - self.num_warmup_steps) / self.num_cycles)


@dataclass(frozen=True)
class HfPolynomialSchedule(_Training):
    """get_polynomial_decay_schedule_with_warmup: after the warm-up, with lr_init = base,
    lr = (lr_init - lr_end)·(1 - (t - w)/(T - w))^power + lr_end, and lr_end after T.
    `lr_end` is absolute and must be below the base lr. Reproduces transformers 5.x
    `get_scheduler("polynomial")`, which returns that lr divided by lr_init for LambdaLR to
    multiply back."""

    num_warmup_steps: Annotated[int, COUNT] = 0
    num_training_steps: Annotated[int | None, DURATION] = None
    lr_end: Annotated[float, NON_NEGATIVE] = 1e-7
    power: Annotated[float, NON_NEGATIVE] = 1.0

    def __post_init__(self) -> None:
        check_parameters(self)
        if self.num_training_steps is not None:
            self._check_total(self.num_training_steps)

    def _check_total(self, total: int) -> None:
        if total == self.num_warmup_steps:
            fail(
                "num_warmup_steps",
                "`num_warmup_steps` must differ from `num_training_steps` (transformers divides "
                f"by their difference), both are {total}",
            )

    def for_length(self, length: int) -> Self:
        """Fill num_training_steps=None with the run's length (and check the decay's length)."""
        if self.num_training_steps is None:
            self._check_total(length)
        return super().for_length(length)

    def check_base_lr(self, base_lr: float) -> None:
        """transformers refuses an lr_end that is not below the initial lr."""
        if not base_lr > self.lr_end:
            fail(
                "lr_end",
                f"`lr_end` ({self.lr_end:g}) must be below the learning rate ({base_lr:g})",
            )

    def lrs(self, t: IntArray, base_lr: float) -> FloatArray:
        """lr(t) = base·factor(t) (see the class docstring)."""
        lr_init = base_lr
        steps = t.astype(np.float64)
        decay_steps = self.total - self.num_warmup_steps
        remaining = 1 - (np.minimum(steps, self.total) - self.num_warmup_steps) / decay_steps
        with np.errstate(invalid="ignore"):
            # Negative `remaining` only occurs in the warm-up, which np.where drops.
            decay = (lr_init - self.lr_end) * remaining**self.power + self.lr_end
        after = np.where(t > self.total, self.lr_end / lr_init, decay / lr_init)
        return base_lr * self._with_warmup(t, after)

    def min_lr_bound(self, base_lr: float, length: int) -> float:
        """0 during a warm-up, else lr_end."""
        return 0.0 if self.num_warmup_steps > 0 else self.lr_end


@dataclass(frozen=True)
class HfConstantSchedule(_LengthFree):
    """get_constant_schedule: factor = 1; transformers 5.x `get_scheduler("constant")`."""

    def lrs(self, t: IntArray, base_lr: float) -> FloatArray:
        """lr(t) = base."""
        return np.full(t.shape, base_lr, dtype=np.float64)

    def max_lr_bound(self, base_lr: float, length: int) -> float:
        """The base lr."""
        return base_lr

    def min_lr_bound(self, base_lr: float, length: int) -> float:
        """The base lr."""
        return base_lr


@dataclass(frozen=True)
class HfConstantWarmupSchedule(_LengthFree):
    """get_constant_schedule_with_warmup: factor = t/max(1, w) for t < w, else 1. Reproduces
    transformers 5.x `get_scheduler("constant_with_warmup")`."""

    num_warmup_steps: Annotated[int, COUNT] = 0

    def __post_init__(self) -> None:
        check_parameters(self)

    def lrs(self, t: IntArray, base_lr: float) -> FloatArray:
        """lr(t) = base·factor(t)."""
        warm = _warmup(t.astype(np.float64), self.num_warmup_steps)
        return base_lr * np.where(t < self.num_warmup_steps, warm, 1.0)

    def max_lr_bound(self, base_lr: float, length: int) -> float:
        """The base lr."""
        return base_lr

    def min_lr_bound(self, base_lr: float, length: int) -> float:
        """0 at the start of a warm-up."""
        return 0.0 if self.num_warmup_steps > 0 else base_lr


@dataclass(frozen=True)
class HfInverseSqrtSchedule(_LengthFree):
    """get_inverse_sqrt_schedule: factor = t/max(1, w) for t < w, else
    1/sqrt((t + s - w)/s) with timescale s (default: w, or 10,000 when w = 0). Reproduces
    transformers 5.x `get_scheduler("inverse_sqrt")`."""

    num_warmup_steps: Annotated[int, COUNT] = 0
    timescale: Annotated[int | None, DURATION] = None

    def __post_init__(self) -> None:
        check_parameters(self)

    @property
    def effective_timescale(self) -> int:
        """timescale, or transformers' default for it."""
        return self.timescale if self.timescale is not None else self.num_warmup_steps or 10_000

    def lrs(self, t: IntArray, base_lr: float) -> FloatArray:
        """lr(t) = base·factor(t)."""
        timescale = self.effective_timescale
        shift = timescale - self.num_warmup_steps
        steps = t.astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            # Negative roots only occur in the warm-up, which np.where drops.
            decay = 1.0 / np.sqrt((steps + shift) / timescale)
        warm = _warmup(steps, self.num_warmup_steps)
        return base_lr * np.where(t < self.num_warmup_steps, warm, decay)

    def max_lr_bound(self, base_lr: float, length: int) -> float:
        """1 at the end of the warm-up, or above 1 from t = 0 when timescale > w."""
        first = max(self.num_warmup_steps, 0)
        return float(self.lrs(np.array([first], dtype=np.int64), base_lr)[0]) * (1 + 1e-12)

    def min_lr_bound(self, base_lr: float, length: int) -> float:
        """0 at the start of a warm-up, else the last step's (the decay only falls)."""
        if self.num_warmup_steps > 0:
            return 0.0
        return float(self.lrs(np.array([length - 1], dtype=np.int64), base_lr)[0]) * (1 - 1e-12)


@dataclass(frozen=True)
class HfCosineMinLrSchedule(_Training):
    """get_cosine_with_min_lr_schedule_with_warmup: the `cosine` factor c scaled into
    [r, 1]: max(0, c·(1 - r) + r), r = min_lr_rate or min_lr / base (exactly one given).
    Reproduces transformers 5.x `get_scheduler("cosine_with_min_lr")`."""

    num_warmup_steps: Annotated[int, COUNT] = 0
    num_training_steps: Annotated[int | None, DURATION] = None
    num_cycles: Annotated[float, CYCLES] = 0.5
    min_lr: Annotated[float | None, NON_NEGATIVE] = None
    min_lr_rate: Annotated[float | None, NON_NEGATIVE] = None

    def __post_init__(self) -> None:
        check_parameters(self)
        if (self.min_lr is None) == (self.min_lr_rate is None):
            fail("min_lr", "exactly one of `min_lr` and `min_lr_rate` must be set")

    def rate(self, base_lr: float) -> float:
        """min_lr_rate, from min_lr where that is given."""
        if self.min_lr is not None:
            return self.min_lr / base_lr
        assert self.min_lr_rate is not None
        return self.min_lr_rate

    def _cosine(self, p: FloatArray, rate: float) -> FloatArray:
        factor = 0.5 * (1.0 + np.cos(math.pi * float(self.num_cycles) * 2.0 * p))
        result: FloatArray = np.maximum(0, factor * (1 - rate) + rate)
        return result

    def lrs(self, t: IntArray, base_lr: float) -> FloatArray:
        """lr(t) = base·factor(t) (see the class docstring)."""
        p = self._progress(t.astype(np.float64))
        return base_lr * self._with_warmup(t, self._cosine(p, self.rate(base_lr)))

    def max_lr_bound(self, base_lr: float, length: int) -> float:
        """The factor stays within [0, max(1, r)]."""
        return base_lr * max(1.0, self.rate(base_lr))

    def min_lr_bound(self, base_lr: float, length: int) -> float:
        """0 at the start of a warm-up, else min(1, r)·base."""
        if self.num_warmup_steps > 0:
            return 0.0
        return base_lr * min(1.0, self.rate(base_lr)) * (1 - 1e-12)


@dataclass(frozen=True)
class HfCosineWarmupMinLrSchedule(HfCosineMinLrSchedule):
    """get_cosine_with_min_lr_schedule_with_warmup_lr_rate: like `cosine_with_min_lr`, shifted
    one step. For t < w: (t + 1)/max(1, w), or with warmup_lr_rate q,
    q + (1 - q)·t/max(1, w - 1); after, p = (t - w + 1)/max(1, T - w) in the min-lr cosine.
    Reproduces transformers 5.x `get_scheduler("cosine_warmup_with_min_lr")`."""

    warmup_lr_rate: Annotated[float | None, RATIO] = None

    def lrs(self, t: IntArray, base_lr: float) -> FloatArray:
        """lr(t) = base·factor(t) (see the class docstring)."""
        steps = t.astype(np.float64)
        w = float(self.num_warmup_steps)
        p = (steps - w + 1.0) / max(1.0, float(self.total) - w)
        after = self._cosine(p, self.rate(base_lr))
        if self.warmup_lr_rate is None:
            warm = (steps + 1.0) / max(1.0, w)
        else:
            q = float(self.warmup_lr_rate)
            warm = q + (1.0 - q) * steps / max(1, w - 1)
        return base_lr * np.where(steps < w, warm, after)

    def min_lr_bound(self, base_lr: float, length: int) -> float:
        """The warm-up's first factor, or the min-lr floor."""
        floor = min(1.0, self.rate(base_lr))
        if self.num_warmup_steps > 0:
            first = self.warmup_lr_rate
            if first is None:
                first = 1.0 / max(1.0, float(self.num_warmup_steps))
            floor = min(floor, first)
        return base_lr * floor * (1 - 1e-12)


@dataclass(frozen=True)
class HfWarmupStableDecaySchedule:
    """get_wsd_schedule: warm-up, a stable phase at the base lr, then a decay to min_lr_ratio.

    With w warm-up, s stable and d decay steps (s = T - w - d when not given) and r =
    min_lr_ratio: for t < w, p = t/max(1, w) and f = p (linear), (1 - cos(π·p))/2 (cosine) or
    1 - sqrt(1 - p) (1-sqrt); for w <= t < w + s, factor = 1; for w + s <= t < w + s + d,
    p = (t - w - s)/max(1, d) and f = 1 - p (linear), (1 + cos(π·num_cycles·2·p))/2 (cosine) or
    1 - sqrt(p) (1-sqrt); after that, factor = r. In the warm-up and the decay the factor is
    max(0, f·(1 - r) + r). Reproduces transformers 5.x `get_scheduler("warmup_stable_decay")`.
    """

    num_decay_steps: Annotated[int, COUNT]
    num_warmup_steps: Annotated[int, COUNT] = 0
    num_training_steps: Annotated[int | None, DURATION] = None
    num_stable_steps: Annotated[int | None, COUNT] = None
    warmup_type: WarmupShape = "linear"
    decay_type: WarmupShape = "cosine"
    min_lr_ratio: Annotated[float, RATIO] = 0.0
    num_cycles: Annotated[float, CYCLES] = 0.5

    def __post_init__(self) -> None:
        check_parameters(self)
        if self.num_training_steps is not None and self.num_stable_steps is not None:
            fail(
                "num_stable_steps",
                "give `num_stable_steps` or `num_training_steps`, not both (transformers then "
                "ignores num_training_steps)",
            )
        if self.num_training_steps is not None:
            self._check_total(self.num_training_steps)

    def _check_total(self, total: int) -> None:
        if self.num_warmup_steps + self.num_decay_steps > total:
            fail(
                "num_decay_steps",
                "`num_warmup_steps` + `num_decay_steps` must be <= `num_training_steps` (the run's "
                f"length by default), got {self.num_warmup_steps} + {self.num_decay_steps} > "
                f"{total}",
            )

    @property
    def stable(self) -> int:
        """num_stable_steps, or T - w - d."""
        if self.num_stable_steps is not None:
            return self.num_stable_steps
        if self.num_training_steps is None:
            raise ValueError(
                "`num_training_steps` is unset; bind the schedule with for_length() first"
            )
        return self.num_training_steps - self.num_warmup_steps - self.num_decay_steps

    def decay_start(self) -> int:
        """The first step of the decay."""
        return self.num_warmup_steps + self.stable

    def for_length(self, length: int) -> HfWarmupStableDecaySchedule:
        """Fill num_training_steps with the run's length unless num_stable_steps is given."""
        if self.num_training_steps is None and self.num_stable_steps is None:
            self._check_total(length)
            return replace(self, num_training_steps=length)
        return self

    def lrs(self, t: IntArray, base_lr: float) -> FloatArray:
        """lr(t) = base·factor(t) (see the class docstring)."""
        r = self.min_lr_ratio
        w = self.num_warmup_steps
        s = self.stable
        d = self.num_decay_steps
        steps = t.astype(np.float64)
        p_warm = steps / float(max(1, w))
        p_decay = (steps - w - s) / float(max(1, d))
        with np.errstate(invalid="ignore"):
            # Each shape is only kept inside its own phase, where its root is real.
            if self.warmup_type == "linear":
                warm = p_warm
            elif self.warmup_type == "cosine":
                warm = 0.5 * (1.0 - np.cos(math.pi * p_warm))
            else:
                warm = 1.0 - np.sqrt(1.0 - p_warm)
            if self.decay_type == "linear":
                decay = 1.0 - p_decay
            elif self.decay_type == "cosine":
                decay = 0.5 * (1.0 + np.cos(math.pi * float(self.num_cycles) * 2.0 * p_decay))
            else:
                decay = 1.0 - np.sqrt(p_decay)
        factor = np.select(
            [t < w, t < w + s, t < w + s + d],
            [
                np.maximum(0.0, warm * (1.0 - r) + r),
                np.ones_like(steps),
                np.maximum(0.0, decay * (1.0 - r) + r),
            ],
            default=r,
        )
        result: FloatArray = base_lr * factor
        return result

    def max_lr_bound(self, base_lr: float, length: int) -> float:
        """The factor never exceeds 1."""
        return base_lr

    def min_lr_bound(self, base_lr: float, length: int) -> float:
        """min_lr_ratio·base at the lowest (the warm-up starts there too)."""
        return base_lr * self.min_lr_ratio * (1 - 1e-12)
