"""Warnings for the Keras and transformers schedules: legal specs that probably mean another."""

from __future__ import annotations

from models.schedules.specs import (
    HfConstantWarmupSpec,
    HfCosineMinLrSpec,
    HfCosineRestartsSpec,
    HfCosineSpec,
    HfCosineWarmupMinLrSpec,
    HfInverseSqrtSpec,
    HfLinearSpec,
    HfPolynomialSpec,
    HfWarmupStableDecaySpec,
    Interval,
    KerasCosineDecayRestartsSpec,
    KerasCosineDecaySpec,
    KerasExponentialDecaySpec,
    KerasInverseTimeDecaySpec,
    KerasPiecewiseConstantDecaySpec,
    KerasPolynomialDecaySpec,
    SchedulerSpec,
)

_SAME = "so the lr never changes"
_TRAINING_TYPES = (
    HfLinearSpec,
    HfCosineSpec,
    HfCosineRestartsSpec,
    HfPolynomialSpec,
    HfCosineMinLrSpec,
    HfCosineWarmupMinLrSpec,
)
_WARMUP_TYPES = (*_TRAINING_TYPES, HfConstantWarmupSpec, HfInverseSqrtSpec, HfWarmupStableDecaySpec)


def library_flat_warning(spec: SchedulerSpec, base_lr: float) -> str | None:
    """Why this Keras or transformers schedule never changes the lr, or None."""
    if isinstance(spec, KerasExponentialDecaySpec) and spec.decay_rate == 1:
        return f"`decay_rate` is 1, {_SAME}."
    if isinstance(spec, KerasInverseTimeDecaySpec) and spec.decay_rate == 0:
        return f"`decay_rate` is 0, {_SAME}."
    if isinstance(spec, KerasPolynomialDecaySpec) and spec.end_learning_rate == base_lr:
        return f"`end_learning_rate` equals the learning rate, {_SAME}."
    if isinstance(spec, KerasPiecewiseConstantDecaySpec) and len(set(spec.values)) == 1:
        return f"all `values` are equal, {_SAME}."
    if isinstance(spec, KerasCosineDecayRestartsSpec) and spec.alpha == 1:
        return f"`alpha` is 1, {_SAME}."
    if isinstance(spec, KerasCosineDecaySpec) and spec.alpha == 1 and spec.warmup_target is None:
        return f"`alpha` is 1, {_SAME}."
    if isinstance(spec, HfWarmupStableDecaySpec) and spec.min_lr_ratio == 1:
        return f"`min_lr_ratio` is 1, {_SAME}."
    if isinstance(spec, HfCosineMinLrSpec | HfCosineWarmupMinLrSpec):
        rate = spec.schedule().rate(base_lr)
        if rate >= 1:
            return (
                f"the minimum lr ({rate * base_lr:g}) is not below the learning rate "
                f"({base_lr:g}): the cosine {'never moves' if rate == 1 else 'climbs'}."
            )
    return None


def library_warnings(spec: SchedulerSpec, length: int, unit: Interval, *, prefix: str) -> list[str]:
    """Warnings that depend on the run's length (`length` steps of `unit`)."""
    run = f"the run ({length} {unit}s)"
    found: list[str] = []
    if isinstance(spec, _WARMUP_TYPES) and spec.num_warmup_steps >= max(length, 1):
        found.append(
            f"`num_warmup_steps` ({spec.num_warmup_steps}) is not shorter than {run}: the "
            "warm-up never reaches the learning rate."
        )
    if isinstance(spec, _TRAINING_TYPES) and spec.num_training_steps is not None:
        total = spec.num_training_steps
        if total < length:
            found.append(
                f"`num_training_steps` ({total}) is shorter than {run}: the schedule ends at "
                f"{unit} {total + 1} and the run goes on past it."
            )
        elif total > length:
            found.append(
                f"`num_training_steps` ({total}) is longer than {run}, so the run stops before "
                "the decay ends."
            )
    if isinstance(spec, HfCosineRestartsSpec) and spec.num_cycles > 1:
        period = spec.schedule().for_length(length).restart_period()
        if period >= length:
            found.append(
                f"the restart period ({period} {unit}s) is not shorter than {run}, so the lr "
                "never restarts."
            )
    if isinstance(spec, HfWarmupStableDecaySpec):
        bound = spec.schedule().for_length(length)
        start = bound.decay_start()
        if start >= length:
            found.append(
                f"the decay starts at {unit} {start + 1} (warm-up + stable), after {run} ends: "
                "the lr never decays."
            )
        elif start + spec.num_decay_steps > length:
            found.append(
                f"the decay ends at {unit} {start + spec.num_decay_steps}, after {run}: it never "
                "reaches its minimum."
            )
    found.extend(_keras_warnings(spec, length, unit, run))
    return [prefix + warning[:1].upper() + warning[1:] for warning in found]


def _keras_warnings(spec: SchedulerSpec, length: int, unit: Interval, run: str) -> list[str]:
    found: list[str] = []
    decaying = (KerasExponentialDecaySpec, KerasInverseTimeDecaySpec)
    if isinstance(spec, decaying) and spec.staircase and spec.decay_steps >= length:
        found.append(
            f"`decay_steps` ({spec.decay_steps}) with `staircase` never fires within {run}; "
            "the lr stays constant."
        )
    if isinstance(spec, KerasPiecewiseConstantDecaySpec):
        late = [b for b in spec.boundaries if b >= length - 1]
        if late:
            found.append(f"`boundaries` {late} are never passed within {run}.")
    if isinstance(spec, KerasPolynomialDecaySpec) and not spec.cycle and spec.decay_steps >= length:
        found.append(
            f"`decay_steps` ({spec.decay_steps}) is not shorter than {run}: the lr never "
            "reaches end_learning_rate."
        )
    if isinstance(spec, KerasCosineDecaySpec):
        warmup = spec.warmup_steps if spec.warmup_target is not None else 0
        if warmup >= length:
            found.append(
                f"`warmup_steps` ({warmup}) is not shorter than {run}: the warm-up never "
                "reaches warmup_target."
            )
        elif warmup + spec.decay_steps >= length:
            found.append(
                f"the cosine ends at {unit} {warmup + spec.decay_steps + 1} (warm-up + "
                f"decay_steps), after {run}: the lr never reaches alpha times its peak."
            )
    if isinstance(spec, KerasCosineDecayRestartsSpec) and spec.first_decay_steps >= length:
        found.append(
            f"`first_decay_steps` ({spec.first_decay_steps}) is not shorter than {run}, so the "
            "lr never restarts."
        )
    return found
