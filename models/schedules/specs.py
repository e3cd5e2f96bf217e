"""The API's scheduler specs: one pydantic class per scheduler type, and the catalog of them.

A spec is the validated input; it builds its math object (closed_form, plateau) once, at
validation, and that object checks the parameters. Defaults and bounds come from the math
object's fields, so each rule is declared once and still shows in the published JSON Schema.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import MISSING, fields
from typing import Annotated, Any, ClassVar, Literal, Union, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError, PydanticUndefined

from models.schedules.closed_form import (
    AnnealStrategy,
    ClosedForm,
    ConstantSchedule,
    CosineSchedule,
    CosineWarmRestartsSchedule,
    CyclicMode,
    CyclicSchedule,
    ExponentialSchedule,
    LinearSchedule,
    MultiStepSchedule,
    OneCycleSchedule,
    PolynomialSchedule,
    SequentialSchedule,
    StepSchedule,
)
from models.schedules.parameters import ParameterError, bounds
from models.schedules.plateau import PlateauMode, PlateauSchedule, ThresholdMode

Interval = Literal["epoch", "step"]

# Spec fields that say how to run the schedule, not what it computes.
_NOT_PARAMETERS = frozenset({"type", "interval", "monitor"})

_INTERVAL_DESCRIPTION = (
    "Clock the schedule steps on: once per epoch or once per optimizer step. "
    "Durations count in this unit. Omitted: the type's default interval."
)


def _param(schedule: type, name: str, description: str, **limits: Any) -> Any:
    """A spec field for parameter `name` of `schedule`: its default, and its Bound in the schema.

    The Bound is checked when the spec builds `schedule`; `limits` only caps collection sizes,
    which bound the request's cost before any work.
    """
    field = next(f for f in fields(schedule) if f.name == name)
    bound = bounds(schedule).get(name)
    return Field(
        default=PydanticUndefined if field.default is MISSING else field.default,
        description=description,
        json_schema_extra=bound.json_schema() if bound is not None else None,
        **limits,
    )


def _field_error(spec: BaseModel, error: ParameterError) -> ValidationError:
    """`error` as a validation error located at the parameter it names."""
    value: Any = spec
    for part in error.loc:
        value = value[part] if isinstance(part, int) else getattr(value, part, None)
    detail = InitErrorDetails(
        type=PydanticCustomError("parameter", "{message}", {"message": str(error)}),
        loc=error.loc,
        input=value,
    )
    return ValidationError.from_exception_data(type(spec).__name__, [detail])


class _Spec(BaseModel):
    """What every scheduler spec shares: strict input and the clock its durations count in."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False, strict=True)
    default_interval: ClassVar[Interval] = "epoch"
    type: str

    @property
    def effective_interval(self) -> Interval:
        """The clock durations count in: the stated interval, else the type's default."""
        stated: Interval | None = getattr(self, "interval", None)
        return stated if stated is not None else self.default_interval

    @abstractmethod
    def schedule(self) -> ClosedForm | PlateauSchedule:
        """The validated math object."""

    def _parameters(self) -> dict[str, Any]:
        # Spec fields are named after the math object's; lists become its tuples.
        return {
            name: tuple(value) if isinstance(value, list) else value
            for name, value in self
            if name not in _NOT_PARAMETERS
        }

    @model_validator(mode="after")
    def _build_schedule(self) -> _Spec:
        try:
            self.schedule()
        except ParameterError as error:
            raise _field_error(self, error) from None
        return self


class ClosedFormSpec(_Spec):
    """A schedule whose lr depends only on the step count, on an epoch or step clock."""

    @abstractmethod
    def schedule(self) -> ClosedForm:
        """The validated math object."""

    @model_validator(mode="before")
    @classmethod
    def _fill_interval(cls, data: Any) -> Any:
        # The stored, normalised spec names the clock it runs on.
        if isinstance(data, dict) and data.get("interval") is None:
            data = {**data, "interval": cls.default_interval}
        return data


class ConstantSpec(ClosedFormSpec):
    """Constant lr, or base·factor for the first total_iters then base (ConstantLR)."""

    type: Literal["constant"] = "constant"
    factor: float = _param(
        ConstantSchedule,
        "factor",
        "Multiplier of the base lr before total_iters. 1.0 (default) is the flat baseline; "
        "torch's own default is 1/3.",
    )
    total_iters: int = _param(
        ConstantSchedule, "total_iters", "Steps until the lr returns to base."
    )
    interval: Interval | None = Field(default=None, description=_INTERVAL_DESCRIPTION)

    def schedule(self) -> ConstantSchedule:
        """The validated math object."""
        return ConstantSchedule(**self._parameters())


class StepSpec(ClosedFormSpec):
    """Multiply the lr by gamma every step_size (StepLR)."""

    type: Literal["step"] = "step"
    step_size: int = _param(StepSchedule, "step_size", "Period of the decay.")
    gamma: float = _param(StepSchedule, "gamma", "Multiplicative decay factor.")
    interval: Interval | None = Field(default=None, description=_INTERVAL_DESCRIPTION)

    def schedule(self) -> StepSchedule:
        """The validated math object."""
        return StepSchedule(**self._parameters())


class MultiStepSpec(ClosedFormSpec):
    """Multiply the lr by gamma at each milestone (MultiStepLR)."""

    type: Literal["multistep"] = "multistep"
    milestones: list[int] = _param(
        MultiStepSchedule,
        "milestones",
        "Steps at which gamma applies; a repeated milestone applies gamma twice.",
        max_length=1000,
    )
    gamma: float = _param(MultiStepSchedule, "gamma", "Multiplicative decay factor.")
    interval: Interval | None = Field(default=None, description=_INTERVAL_DESCRIPTION)

    def schedule(self) -> MultiStepSchedule:
        """The validated math object."""
        return MultiStepSchedule(**self._parameters())


class ExponentialSpec(ClosedFormSpec):
    """Multiply the lr by gamma every step (ExponentialLR)."""

    type: Literal["exponential"] = "exponential"
    gamma: float = _param(ExponentialSchedule, "gamma", "Multiplicative decay factor per step.")
    interval: Interval | None = Field(default=None, description=_INTERVAL_DESCRIPTION)

    def schedule(self) -> ExponentialSchedule:
        """The validated math object."""
        return ExponentialSchedule(**self._parameters())


class CosineSpec(ClosedFormSpec):
    """Cosine annealing from base to eta_min over t_max, unclamped (CosineAnnealingLR)."""

    type: Literal["cosine"] = "cosine"
    t_max: int = _param(CosineSchedule, "t_max", "Half period: steps from base down to eta_min.")
    eta_min: float = _param(CosineSchedule, "eta_min", "Minimum lr (absolute).")
    interval: Interval | None = Field(default=None, description=_INTERVAL_DESCRIPTION)

    def schedule(self) -> CosineSchedule:
        """The validated math object."""
        return CosineSchedule(**self._parameters())


class CosineWarmRestartsSpec(ClosedFormSpec):
    """Cosine annealing that restarts at base, cycles growing by t_mult (SGDR)."""

    type: Literal["cosine_warm_restarts"] = "cosine_warm_restarts"
    t_0: int = _param(CosineWarmRestartsSchedule, "t_0", "Length of the first cycle.")
    t_mult: int = _param(CosineWarmRestartsSchedule, "t_mult", "Cycle length multiplier.")
    eta_min: float = _param(CosineWarmRestartsSchedule, "eta_min", "Minimum lr (absolute).")
    interval: Interval | None = Field(default=None, description=_INTERVAL_DESCRIPTION)

    def schedule(self) -> CosineWarmRestartsSchedule:
        """The validated math object."""
        return CosineWarmRestartsSchedule(**self._parameters())


class CyclicSpec(ClosedFormSpec):
    """Cycle between base_lr and max_lr in triangles (CyclicLR); ignores the run's lr."""

    default_interval: ClassVar[Interval] = "step"
    type: Literal["cyclic"] = "cyclic"
    base_lr: float = _param(CyclicSchedule, "base_lr", "Lower lr of the cycle (absolute).")
    max_lr: float = _param(CyclicSchedule, "max_lr", "Upper lr of the cycle (absolute).")
    step_size_up: int = _param(CyclicSchedule, "step_size_up", "Steps from base_lr to max_lr.")
    step_size_down: int | None = _param(
        CyclicSchedule,
        "step_size_down",
        "Steps from max_lr back to base_lr; default step_size_up.",
    )
    mode: CyclicMode = _param(
        CyclicSchedule,
        "mode",
        "triangular: constant height; triangular2: halved each cycle; exp_range: "
        "height scaled by gamma^t.",
    )
    gamma: float = _param(CyclicSchedule, "gamma", "exp_range scale per step.")
    interval: Interval | None = Field(default=None, description=_INTERVAL_DESCRIPTION)

    def schedule(self) -> CyclicSchedule:
        """The validated math object."""
        return CyclicSchedule(**self._parameters())


class OneCycleSpec(ClosedFormSpec):
    """Warm up to max_lr, then anneal far below the start (OneCycleLR); ignores the run's lr."""

    default_interval: ClassVar[Interval] = "step"
    type: Literal["one_cycle"] = "one_cycle"
    max_lr: float = _param(OneCycleSchedule, "max_lr", "Peak lr (absolute).")
    total_steps: int | None = _param(
        OneCycleSchedule,
        "total_steps",
        "Length of the cycle; default: the run's length in its interval. "
        "Must not be shorter than the run.",
    )
    pct_start: float = _param(OneCycleSchedule, "pct_start", "Fraction spent warming up.")
    anneal_strategy: AnnealStrategy = _param(OneCycleSchedule, "anneal_strategy", "Curve shape.")
    div_factor: float = _param(OneCycleSchedule, "div_factor", "Initial lr = max_lr/div_factor.")
    final_div_factor: float = _param(
        OneCycleSchedule, "final_div_factor", "Minimum lr = initial lr/final_div_factor."
    )
    three_phase: bool = _param(
        OneCycleSchedule,
        "three_phase",
        "Anneal back to the initial lr before the final descent.",
    )
    interval: Interval | None = Field(default=None, description=_INTERVAL_DESCRIPTION)

    def schedule(self) -> OneCycleSchedule:
        """The validated math object."""
        return OneCycleSchedule(**self._parameters())


class LinearSpec(ClosedFormSpec):
    """Scale the lr linearly from start_factor to end_factor over total_iters (LinearLR)."""

    type: Literal["linear"] = "linear"
    start_factor: float = _param(
        LinearSchedule, "start_factor", "Multiplier of the base lr at t = 0."
    )
    end_factor: float = _param(
        LinearSchedule, "end_factor", "Multiplier reached at t = total_iters."
    )
    total_iters: int = _param(LinearSchedule, "total_iters", "Steps of the linear ramp.")
    interval: Interval | None = Field(default=None, description=_INTERVAL_DESCRIPTION)

    def schedule(self) -> LinearSchedule:
        """The validated math object."""
        return LinearSchedule(**self._parameters())


class PolynomialSpec(ClosedFormSpec):
    """Decay the lr polynomially to 0 at total_iters (PolynomialLR)."""

    type: Literal["polynomial"] = "polynomial"
    total_iters: int = _param(PolynomialSchedule, "total_iters", "Steps until the lr reaches 0.")
    power: float = _param(PolynomialSchedule, "power", "Exponent of the decay.")
    interval: Interval | None = Field(default=None, description=_INTERVAL_DESCRIPTION)

    def schedule(self) -> PolynomialSchedule:
        """The validated math object."""
        return PolynomialSchedule(**self._parameters())


_Child = Union[  # noqa: UP007 - a discriminated union reads better spelled out
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
]
ChildSpec = Annotated[_Child, Field(discriminator="type")]


class SequentialSpec(ClosedFormSpec):
    """Run schedulers one after another, switching at milestones (SequentialLR)."""

    type: Literal["sequential"] = "sequential"
    schedulers: list[ChildSpec] = _param(
        SequentialSchedule,
        "schedulers",
        "Child schedules (not plateau or sequential); each starts its own clock at "
        "0 from the base lr. Children use the parent's interval; a child may only restate it.",
        max_length=16,
    )
    milestones: list[int] = _param(
        SequentialSchedule,
        "milestones",
        "Steps at which the next child takes over: strictly increasing, >= 1, "
        "exactly len(schedulers) - 1 values.",
        max_length=15,
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
                raise ParameterError(
                    ("schedulers", index, "interval"),
                    f"`schedulers[{index}].interval` must be omitted or equal the sequential "
                    f"interval `{self.effective_interval}`, got `{child.interval}`",
                )
        return SequentialSchedule(
            schedulers=tuple(child.schedule() for child in self.schedulers),
            milestones=tuple(self.milestones),
        )


class PlateauSpec(_Spec):
    """Cut the lr by factor when the monitored metric stops improving (ReduceLROnPlateau)."""

    type: Literal["plateau"] = "plateau"
    monitor: Literal["val_loss", "val_accuracy", "loss", "accuracy"] = Field(
        default="val_loss", description="Metric read at the end of every epoch."
    )
    mode: PlateauMode = _param(
        PlateauSchedule, "mode", "Whether the metric should go down (min) or up (max)."
    )
    factor: float = _param(PlateauSchedule, "factor", "Multiplier applied on a cut.")
    patience: int = _param(PlateauSchedule, "patience", "Bad epochs tolerated before a cut.")
    threshold: float = _param(PlateauSchedule, "threshold", "Least change that counts.")
    threshold_mode: ThresholdMode = _param(
        PlateauSchedule,
        "threshold_mode",
        "Threshold relative to the best value (rel) or absolute (abs).",
    )
    cooldown: int = _param(PlateauSchedule, "cooldown", "Epochs ignored after a cut.")
    min_lr: float = _param(PlateauSchedule, "min_lr", "Lower bound of the lr.")
    eps: float = _param(PlateauSchedule, "eps", "Cuts smaller than this are skipped.")

    def schedule(self) -> PlateauSchedule:
        """The validated math object."""
        return PlateauSchedule(**self._parameters())


SchedulerSpec = Annotated[
    Union[_Child, SequentialSpec, PlateauSpec],  # noqa: UP007 - as for _Child
    Field(discriminator="type"),
]
SPEC_CLASSES: tuple[type[_Spec], ...] = get_args(get_args(SchedulerSpec)[0])
SCHEDULER_TYPES: tuple[str, ...] = tuple(
    str(cls.model_fields["type"].default) for cls in SPEC_CLASSES
)


def catalog() -> list[dict[str, Any]]:
    """Every scheduler type with description, parameter JSON Schema and default interval."""
    return [
        {
            "type": cls.model_fields["type"].default,
            "description": (cls.__doc__ or "").strip(),
            "parameters": cls.model_json_schema(),
            "default_interval": cls.default_interval,
        }
        for cls in SPEC_CLASSES
    ]
