"""The no-training preview: a schedule's lr curve for a run geometry, and odd-setting warnings."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.schedules.closed_form import FloatArray
from models.schedules.library_warnings import library_flat_warning, library_warnings
from models.schedules.run import ScheduleRun, build_run
from models.schedules.specs import (
    CosineSpec,
    CosineWarmRestartsSpec,
    CyclicSpec,
    ExponentialSpec,
    Interval,
    LinearSpec,
    MultiStepSpec,
    OneCycleSpec,
    PlateauSpec,
    PolynomialSpec,
    SchedulerSpec,
    SequentialSpec,
    StepSpec,
)

MAX_PREVIEW_VALUES = 1_000_000
LOW_LR = 1e-8


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
            raise ValueError(
                f"`epochs` × `steps_per_epoch` must be <= {MAX_PREVIEW_VALUES}, got "
                f"{self.epochs} × {self.steps_per_epoch} = {total}"
            )
        if isinstance(self.scheduler, PlateauSpec):
            needed = self.epochs - 1
            given = len(self.metrics or [])
            if given < needed:
                raise ValueError(
                    f"`metrics` must have at least {needed} values for `plateau`, got {given}"
                )
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
    warnings = _warnings(
        request.scheduler,
        request.learning_rate,
        request.steps_per_epoch,
        run,
        _first_low(steps),
        metrics=request.metrics,
    )
    return epochs, steps, warnings


def schedule_warnings(
    scheduler: SchedulerSpec, *, learning_rate: float, epochs: int, steps_per_epoch: int
) -> list[str]:
    """Warnings for a schedule in a run of this geometry: what the preview and a 202 report."""
    run = build_run(
        scheduler, base_lr=learning_rate, epochs=epochs, steps_per_epoch=steps_per_epoch
    )
    first_low = _first_low_step(run)
    return _warnings(scheduler, learning_rate, steps_per_epoch, run, first_low, metrics=None)


def _first_low_step(run: ScheduleRun) -> int | None:
    """The run's first step whose lr is below LOW_LR, or None (plateau: unknown in advance)."""
    closed = run.closed_form
    if closed is None or closed.min_lr_bound(run.base_lr, run.length) >= LOW_LR * (1 + 1e-9):
        # Never that low (the margin covers rounding): most runs, with nothing to scan, so a
        # 500-member sweep does not walk its millions of steps.
        return None
    if run.interval == "epoch":
        # Constant within an epoch: each epoch's lr stands for its steps (a 1875-step epoch
        # is scanned once, not 1875 times).
        epoch = _first_low(closed.lrs(np.arange(run.epochs, dtype=np.int64), run.base_lr))
        return None if epoch is None else epoch * run.steps_per_epoch
    if run.epochs * run.steps_per_epoch > MAX_PREVIEW_VALUES:
        return None  # every step's lr is needed: bounded like a preview, skipped beyond
    return _first_low(run.lrs_for_epochs(0, run.epochs).reshape(-1))


def _first_low(lrs: FloatArray) -> int | None:
    """The index of the first lr below LOW_LR, or None."""
    low = np.flatnonzero(lrs < LOW_LR)
    return int(low[0]) if low.size else None


def _warnings(
    spec: SchedulerSpec,
    base_lr: float,
    steps_per_epoch: int,
    run: ScheduleRun,
    first_low: int | None,
    *,
    metrics: list[float] | None,
) -> list[str]:
    unit = run.interval
    found = _spec_warnings(spec, run.length, unit, base_lr=base_lr, prefix="")
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
        if spec.threshold_mode == "rel" and any(m < 0 for m in metrics or []):
            found.append(
                "`threshold_mode` `rel` assumes positive metrics; with negative values the "
                "threshold works the wrong way, so use `abs`."
            )
    elif metrics is not None:
        found.append(f"`metrics` are ignored: only `plateau` reads them, not `{spec.type}`.")
    if first_low is not None:
        where = f"epoch {first_low // steps_per_epoch + 1}"
        if steps_per_epoch > 1:
            where += f" (step {first_low + 1})"
        found.append(f"The learning rate falls below 1e-8 at {where}.")
    return found


def _flat_warning(spec: SchedulerSpec, base_lr: float) -> str | None:
    """Why this schedule never changes the lr (a legal spec that means `constant`), or None."""
    same = "so the lr never changes"
    if isinstance(spec, StepSpec | MultiStepSpec | ExponentialSpec) and spec.gamma == 1:
        return f"`gamma` is 1, {same}."
    if isinstance(spec, CosineSpec | CosineWarmRestartsSpec) and spec.eta_min >= base_lr:
        if spec.eta_min == base_lr:
            return f"`eta_min` ({spec.eta_min:g}) equals the learning rate, {same}."
        return (
            f"`eta_min` ({spec.eta_min:g}) is above the learning rate ({base_lr:g}): the "
            "cosine climbs instead of decaying."
        )
    if isinstance(spec, LinearSpec) and spec.start_factor == spec.end_factor:
        return f"`start_factor` equals `end_factor` ({spec.start_factor:g}), {same}."
    if isinstance(spec, PolynomialSpec) and spec.power == 0:
        return f"`power` is 0, {same}."
    if isinstance(spec, OneCycleSpec) and spec.div_factor == 1 and spec.final_div_factor == 1:
        return f"`div_factor` and `final_div_factor` are 1, {same}."
    if isinstance(spec, PlateauSpec) and spec.min_lr >= base_lr:
        return f"`min_lr` ({spec.min_lr:g}) is not below the learning rate, {same}."
    return library_flat_warning(spec, base_lr)


def _spec_warnings(
    spec: SchedulerSpec, length: int, unit: Interval, *, base_lr: float, prefix: str
) -> list[str]:
    flat = _flat_warning(spec, base_lr)
    found = [f"{prefix}{flat}"] if flat else []
    run_text = f"the run ({length} {unit}s)"
    found.extend(library_warnings(spec, length, unit, prefix=prefix))
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
                    _spec_warnings(
                        child,
                        segment,
                        unit,
                        base_lr=base_lr,
                        prefix=f"`schedulers[{index}]`: ",
                    )
                )
    return found
