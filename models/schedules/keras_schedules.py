"""Keras 3 schedules (`keras.optimizers.schedules`) as closed forms, computed as Keras does.

Keras evaluates a schedule in the dtype of `initial_learning_rate`, float32: each class here
repeats Keras' operations in the same order on float32 arrays (cast, divide, floor, power,
cos, log), so the values are Keras' own up to the last bit of a transcendental function, and
returns them as float64. `t` is the optimizer step (Keras' `step`), and `base_lr` is Keras'
`initial_learning_rate` (absolute in Keras; lrlab takes it from the run's learning rate).
`keras.piecewise_constant_decay` sets its own absolute `values` and ignores the base lr.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated

import numpy as np
import numpy.typing as npt

from models.schedules.closed_form import FloatArray, IntArray, _LengthFree
from models.schedules.parameters import (
    DURATION,
    MAX_DURATION,
    NON_NEGATIVE,
    POSITIVE,
    Bound,
    check_increasing,
    check_parameters,
    fail,
)

F32 = np.float32
Float32Array = npt.NDArray[np.float32]
UNIT = Bound(ge=0, le=1)
"""A fraction of the peak lr (Keras' `alpha`)."""


def _f32(value: float) -> np.float32:
    """A Python float as Keras converts it to a float32 tensor."""
    return F32(value)


def _steps(t: IntArray) -> Float32Array:
    """Keras' `ops.cast(step, float32)`."""
    return t.astype(F32)


def _decay_power(t: IntArray, decay_steps: int, *, staircase: bool) -> Float32Array:
    """Keras' `p = step / decay_steps` in float32, floored with `staircase`."""
    p = _steps(t) / _f32(decay_steps)
    return np.floor(p) if staircase else p


def _below(value: float, scale: float) -> float:
    """`value` lowered by a few float32 ulps of `scale`: float32 rounding stays within."""
    return value - 4 * float(np.spacing(F32(abs(scale))))


def _above(value: float, scale: float) -> float:
    """`value` raised by a few float32 ulps of `scale`."""
    return value + 4 * float(np.spacing(F32(abs(scale))))


class _KerasMonotone(_LengthFree):
    """A Keras schedule that only moves one way: bounded by its ends, up to float32 rounding."""

    def _ends(self, base_lr: float, length: int) -> FloatArray:
        lrs = getattr(self, "lrs")  # noqa: B009 - every subclass defines lrs
        ends: FloatArray = lrs(np.array([0, length - 1], dtype=np.int64), base_lr)
        return ends

    def max_lr_bound(self, base_lr: float, length: int) -> float:
        """The larger end."""
        high = float(self._ends(base_lr, length).max())
        return _above(high, high)

    def min_lr_bound(self, base_lr: float, length: int) -> float:
        """The smaller end."""
        ends = self._ends(base_lr, length)
        return _below(float(ends.min()), float(ends.max()))


def _out(values: Float32Array) -> FloatArray:
    result: FloatArray = np.asarray(values, dtype=np.float64)
    return result


@dataclass(frozen=True)
class ExponentialDecaySchedule(_KerasMonotone):
    """ExponentialDecay: lr(t) = initial·decay_rate^(t / decay_steps), floored with `staircase`.

    Reproduces keras.optimizers.schedules.ExponentialDecay (Keras 3) in float32.
    """

    decay_steps: Annotated[int, DURATION]
    decay_rate: Annotated[float, POSITIVE]
    staircase: bool = False

    def __post_init__(self) -> None:
        check_parameters(self)

    def lrs(self, t: IntArray, base_lr: float) -> FloatArray:
        """lr(t) = initial·decay_rate^p, p = t/decay_steps (floor(p) with staircase)."""
        p = _decay_power(t, self.decay_steps, staircase=self.staircase)
        with np.errstate(over="ignore", under="ignore"):
            return _out(_f32(base_lr) * np.power(_f32(self.decay_rate), p))


@dataclass(frozen=True)
class PiecewiseConstantDecaySchedule(_LengthFree):
    """PiecewiseConstantDecay: values[0] while t <= boundaries[0], values[i] while
    boundaries[i-1] < t <= boundaries[i], values[-1] after the last boundary.

    Reproduces keras.optimizers.schedules.PiecewiseConstantDecay (Keras 3); the values are
    absolute learning rates (float32), so the run's learning rate is not used.
    """

    boundaries: Annotated[tuple[int, ...], Bound(ge=0, le=MAX_DURATION, integer=True, min_items=1)]
    values: Annotated[tuple[float, ...], Bound(gt=0, min_items=2)]

    def __post_init__(self) -> None:
        check_parameters(self)
        if len(self.values) != len(self.boundaries) + 1:
            fail(
                "values",
                "`values` must have exactly len(boundaries) + 1 = "
                f"{len(self.boundaries) + 1} values, got {len(self.values)}",
            )
        check_increasing("boundaries", self.boundaries)

    def lrs(self, t: IntArray, base_lr: float) -> FloatArray:
        """values[k], k = the number of boundaries b with b < t."""
        index = np.searchsorted(np.asarray(self.boundaries, dtype=np.int64), t, side="left")
        return _out(np.asarray(self.values, dtype=F32)[index])

    def max_lr_bound(self, base_lr: float, length: int) -> float:
        """The largest value."""
        return float(F32(max(self.values)))

    def min_lr_bound(self, base_lr: float, length: int) -> float:
        """The smallest value."""
        return float(F32(min(self.values)))


@dataclass(frozen=True)
class PolynomialDecaySchedule(_LengthFree):
    """PolynomialDecay: lr(t) = (initial - end)·(1 - t'/d)^power + end.

    Without `cycle`, t' = min(t, decay_steps) and d = decay_steps; with `cycle`, t' = t and
    d = decay_steps·max(1, ceil(t/decay_steps)): the lr reaches the end lr at each multiple of
    decay_steps and jumps back up the step after (to about (initial - end)/2^power + end after
    the first, as Keras stretches the decay rather than restarting it).
    Reproduces keras.optimizers.schedules.PolynomialDecay (Keras 3) in float32.
    """

    decay_steps: Annotated[int, DURATION]
    end_learning_rate: Annotated[float, NON_NEGATIVE] = 0.0001
    power: Annotated[float, NON_NEGATIVE] = 1.0
    cycle: bool = False

    def __post_init__(self) -> None:
        check_parameters(self)

    def lrs(self, t: IntArray, base_lr: float) -> FloatArray:
        """lr(t) = (initial - end)·(1 - t'/d)^power + end (see the class docstring)."""
        initial = _f32(base_lr)
        end = _f32(self.end_learning_rate)
        step = _steps(t)
        decay_steps = np.full(t.shape, _f32(self.decay_steps), dtype=F32)
        if self.cycle:
            # Keras divides by the Python int, which TensorFlow converts to float32.
            multiplier = np.where(step == 0, F32(1.0), np.ceil(step / _f32(self.decay_steps)))
            decay_steps = decay_steps * multiplier.astype(F32)
        else:
            step = np.minimum(step, decay_steps)
        p = step / decay_steps
        return _out((initial - end) * np.power(F32(1) - p, _f32(self.power)) + end)

    def max_lr_bound(self, base_lr: float, length: int) -> float:
        """Between the end lr and the initial lr."""
        high = max(base_lr, self.end_learning_rate)
        return _above(high, high)

    def min_lr_bound(self, base_lr: float, length: int) -> float:
        """Between the end lr and the initial lr."""
        high = max(base_lr, self.end_learning_rate)
        return _below(min(base_lr, self.end_learning_rate), high)


@dataclass(frozen=True)
class InverseTimeDecaySchedule(_KerasMonotone):
    """InverseTimeDecay: lr(t) = initial / (1 + decay_rate·t/decay_steps), floored with
    `staircase`. Reproduces keras.optimizers.schedules.InverseTimeDecay (Keras 3) in float32."""

    decay_steps: Annotated[int, DURATION]
    decay_rate: Annotated[float, NON_NEGATIVE]
    staircase: bool = False

    def __post_init__(self) -> None:
        check_parameters(self)

    def lrs(self, t: IntArray, base_lr: float) -> FloatArray:
        """lr(t) = initial / (1 + decay_rate·p), p = t/decay_steps (floor(p) with staircase)."""
        p = _decay_power(t, self.decay_steps, staircase=self.staircase)
        return _out(_f32(base_lr) / (F32(1) + _f32(self.decay_rate) * p))


def _cosine_decayed(fraction: Float32Array) -> Float32Array:
    """Keras' 0.5·(1 + cos(π·fraction)) in float32."""
    result: Float32Array = F32(0.5) * (F32(1) + np.cos(F32(math.pi) * fraction))
    return result


@dataclass(frozen=True)
class CosineDecaySchedule(_LengthFree):
    """CosineDecay: an optional linear warm-up, then a cosine decay to alpha·peak.

    Without `warmup_target`: lr(t) = initial·((1 - alpha)·c(min(t, d)/d) + alpha), where
    c(x) = (1 + cos(π·x))/2 and d = decay_steps. With it: for t < warmup_steps,
    lr(t) = initial + (warmup_target - initial)·t/warmup_steps; afterwards
    lr(t) = warmup_target·((1 - alpha)·c(min(t - w, d)/d) + alpha), w = warmup_steps (so with
    warmup_steps = 0 the decay starts at warmup_target). Reproduces
    keras.optimizers.schedules.CosineDecay (Keras 3) in float32.
    """

    decay_steps: Annotated[int, DURATION]
    alpha: Annotated[float, UNIT] = 0.0
    warmup_target: Annotated[float | None, POSITIVE] = None
    warmup_steps: Annotated[int, Bound(ge=0, le=MAX_DURATION, integer=True)] = 0

    def __post_init__(self) -> None:
        check_parameters(self)
        if self.warmup_target is None and self.warmup_steps != 0:
            fail(
                "warmup_steps",
                f"`warmup_steps` needs `warmup_target`, got warmup_steps={self.warmup_steps} "
                "without it (Keras then ignores the warm-up)",
            )

    def _decay(self, step: Float32Array, peak: np.float32) -> Float32Array:
        decayed = _f32(1 - self.alpha) * _cosine_decayed(step / _f32(self.decay_steps))
        result: Float32Array = peak * (decayed + _f32(self.alpha))
        return result

    def lrs(self, t: IntArray, base_lr: float) -> FloatArray:
        """Warm-up, then cosine decay (see the class docstring)."""
        initial = _f32(base_lr)
        decay_steps = _f32(self.decay_steps)
        step = _steps(t)
        if self.warmup_target is None:
            return _out(self._decay(np.minimum(step, decay_steps), initial))
        target = _f32(self.warmup_target)
        warmup = _f32(self.warmup_steps)
        step = np.minimum(step, decay_steps + warmup)
        warming = step < warmup
        out = np.empty(step.shape, dtype=F32)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[warming] = (target - initial) * (step[warming] / warmup) + initial
        out[~warming] = self._decay(step[~warming] - warmup, target)
        return _out(out)

    def max_lr_bound(self, base_lr: float, length: int) -> float:
        """The warm-up's ends and the decay's start."""
        peak = base_lr if self.warmup_target is None else max(base_lr, self.warmup_target)
        return _above(peak, peak)

    def min_lr_bound(self, base_lr: float, length: int) -> float:
        """alpha·peak at the lowest, or the initial lr during a warm-up."""
        target = base_lr if self.warmup_target is None else self.warmup_target
        low = self.alpha * target
        if self.warmup_steps > 0:
            low = min(low, base_lr)
        return _below(low, max(base_lr, target))


@dataclass(frozen=True)
class CosineDecayRestartsSchedule(_LengthFree):
    """CosineDecayRestarts (SGDR): cosine decays that restart, period i lasting
    first_decay_steps·t_mul^i, restart i peaking at initial·m_mul^i.

    f = t/first_decay_steps; with t_mul = 1, i = floor(f) and x = f - i; otherwise
    i = floor(log(1 - f·(1 - t_mul))/log(t_mul)), x = (f - (1 - t_mul^i)/(1 - t_mul))/t_mul^i;
    lr(t) = initial·((1 - alpha)·m_mul^i·(1 + cos(π·x))/2 + alpha). Reproduces
    keras.optimizers.schedules.CosineDecayRestarts (Keras 3) in float32, including where its
    float32 logarithm places a restart one step late.
    """

    first_decay_steps: Annotated[int, DURATION]
    t_mul: Annotated[float, Bound(ge=1, le=1000)] = 2.0
    m_mul: Annotated[float, Bound(gt=0, le=1000)] = 1.0
    alpha: Annotated[float, UNIT] = 0.0

    def __post_init__(self) -> None:
        check_parameters(self)

    def _restarts(self, t: IntArray) -> tuple[Float32Array, Float32Array]:
        fraction = _steps(t) / _f32(self.first_decay_steps)
        t_mul = _f32(self.t_mul)
        if t_mul == F32(1):
            restart = np.floor(fraction)
            return restart, fraction - restart
        restart = np.floor(np.log(F32(1) - fraction * (F32(1) - t_mul)) / np.log(t_mul))
        with np.errstate(over="ignore"):
            grown = np.power(t_mul, restart)
        total = (F32(1) - grown) / (F32(1) - t_mul)
        return restart, (fraction - total) / grown

    def lrs(self, t: IntArray, base_lr: float) -> FloatArray:
        """lr(t) = initial·((1 - alpha)·m_mul^i·(1 + cos(π·x))/2 + alpha)."""
        restart, fraction = self._restarts(t)
        alpha = _f32(self.alpha)
        with np.errstate(over="ignore", under="ignore"):
            factor = np.power(_f32(self.m_mul), restart)
        cosine = F32(0.5) * factor * (F32(1) + np.cos(F32(math.pi) * fraction))
        return _out(_f32(base_lr) * ((F32(1) - alpha) * cosine + alpha))

    def restart_period(self) -> int:
        """Steps of the first period (the shortest, as t_mul >= 1)."""
        return self.first_decay_steps

    def max_lr_bound(self, base_lr: float, length: int) -> float:
        """The peak of the first or of the last restart reached within the run."""
        last, _ = self._restarts(np.array([length - 1], dtype=np.int64))
        with np.errstate(over="ignore"):
            growth = float(np.power(np.float64(self.m_mul), np.float64(last[0])))
        peak = base_lr * max(1.0, growth)
        return _above(peak, peak)

    def min_lr_bound(self, base_lr: float, length: int) -> float:
        """alpha·initial at the lowest."""
        return _below(base_lr * self.alpha, self.max_lr_bound(base_lr, length))
