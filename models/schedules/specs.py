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
from models.schedules.hf_schedules import (
    HfConstantSchedule,
    HfConstantWarmupSchedule,
    HfCosineMinLrSchedule,
    HfCosineRestartsSchedule,
    HfCosineSchedule,
    HfCosineWarmupMinLrSchedule,
    HfInverseSqrtSchedule,
    HfLinearSchedule,
    HfPolynomialSchedule,
    HfWarmupStableDecaySchedule,
    WarmupShape,
)
from models.schedules.keras_schedules import (
    CosineDecayRestartsSchedule,
    CosineDecaySchedule,
    ExponentialDecaySchedule,
    InverseTimeDecaySchedule,
    PiecewiseConstantDecaySchedule,
    PolynomialDecaySchedule,
)
from models.schedules.parameters import ParameterError, bounds
from models.schedules.plateau import PlateauMode, PlateauSchedule, ThresholdMode

Interval = Literal["epoch", "step"]

# Spec fields that say how to run the schedule, not what it computes.
_NOT_PARAMETERS = frozenset({"type", "interval", "monitor", "initial_learning_rate"})

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

    def check_base_lr(self, base_lr: float) -> None:
        """Raise ParameterError where the spec contradicts the run's learning rate."""

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


# --------------------------------------------------------------------------------------------
# Keras 3 (keras.optimizers.schedules): per optimizer step, in float32, absolute lrs.
# --------------------------------------------------------------------------------------------

_INITIAL_LR_DESCRIPTION = (
    "Keras' absolute initial lr. Omitted: the run's `training.learning_rate`, which it must "
    "equal when given."
)


class _KerasSpec(ClosedFormSpec):
    """A Keras schedule: stepped per optimizer step; its initial lr is the run's lr."""

    default_interval: ClassVar[Interval] = "step"
    initial_learning_rate: float | None = Field(
        default=None, gt=0, description=_INITIAL_LR_DESCRIPTION
    )

    def check_base_lr(self, base_lr: float) -> None:
        """Keras' initial_learning_rate is the run's lr: refuse a second, different value."""
        given = self.initial_learning_rate
        if given is not None and given != base_lr:
            raise ParameterError(
                ("initial_learning_rate",),
                f"`initial_learning_rate` ({given:g}) differs from the run's learning rate "
                f"({base_lr:g}); give the lr once (omit it here, or make them equal)",
            )


class KerasExponentialDecaySpec(_KerasSpec):
    """Keras ExponentialDecay: initial·decay_rate^(t/decay_steps), floored with staircase.
    Absolute: the initial lr is the run's learning rate (Keras' `initial_learning_rate`)."""

    type: Literal["keras.exponential_decay"] = "keras.exponential_decay"
    decay_steps: int = _param(ExponentialDecaySchedule, "decay_steps", "Steps per decay_rate.")
    decay_rate: float = _param(ExponentialDecaySchedule, "decay_rate", "Factor per decay_steps.")
    staircase: bool = _param(
        ExponentialDecaySchedule, "staircase", "Decay in whole steps of decay_steps."
    )
    interval: Interval | None = Field(default=None, description=_INTERVAL_DESCRIPTION)

    def schedule(self) -> ExponentialDecaySchedule:
        """The validated math object."""
        return ExponentialDecaySchedule(**self._parameters())


class KerasPiecewiseConstantDecaySpec(_KerasSpec):
    """Keras PiecewiseConstantDecay: values[i] between boundaries. The values are absolute
    lrs; the run's learning rate is not used (as in Keras)."""

    type: Literal["keras.piecewise_constant_decay"] = "keras.piecewise_constant_decay"
    boundaries: list[int] = _param(
        PiecewiseConstantDecaySchedule,
        "boundaries",
        "Steps after which the next value applies (values[i+1] from step boundaries[i] + 1).",
        max_length=1000,
    )
    values: list[float] = _param(
        PiecewiseConstantDecaySchedule,
        "values",
        "Absolute lrs, one more than boundaries.",
        max_length=1001,
    )
    interval: Interval | None = Field(default=None, description=_INTERVAL_DESCRIPTION)

    def check_base_lr(self, base_lr: float) -> None:
        """The values set the lr; there is no initial lr to contradict."""

    def schedule(self) -> PiecewiseConstantDecaySchedule:
        """The validated math object."""
        return PiecewiseConstantDecaySchedule(**self._parameters())


class KerasPolynomialDecaySpec(_KerasSpec):
    """Keras PolynomialDecay: from the initial lr to end_learning_rate over decay_steps, as
    (1 - t/decay_steps)^power; with cycle, the decay stretches to the next multiple.
    The initial lr is the run's learning rate; end_learning_rate is absolute."""

    type: Literal["keras.polynomial_decay"] = "keras.polynomial_decay"
    decay_steps: int = _param(PolynomialDecaySchedule, "decay_steps", "Steps of the decay.")
    end_learning_rate: float = _param(
        PolynomialDecaySchedule, "end_learning_rate", "Final lr (absolute)."
    )
    power: float = _param(PolynomialDecaySchedule, "power", "Exponent of the decay.")
    cycle: bool = _param(
        PolynomialDecaySchedule, "cycle", "Past decay_steps, decay again over a longer span."
    )
    interval: Interval | None = Field(default=None, description=_INTERVAL_DESCRIPTION)

    def schedule(self) -> PolynomialDecaySchedule:
        """The validated math object."""
        return PolynomialDecaySchedule(**self._parameters())


class KerasInverseTimeDecaySpec(_KerasSpec):
    """Keras InverseTimeDecay: initial / (1 + decay_rate·t/decay_steps), floored with
    staircase. The initial lr is the run's learning rate."""

    type: Literal["keras.inverse_time_decay"] = "keras.inverse_time_decay"
    decay_steps: int = _param(InverseTimeDecaySchedule, "decay_steps", "Steps per decay_rate.")
    decay_rate: float = _param(InverseTimeDecaySchedule, "decay_rate", "Rate of the decay.")
    staircase: bool = _param(
        InverseTimeDecaySchedule, "staircase", "Decay in whole steps of decay_steps."
    )
    interval: Interval | None = Field(default=None, description=_INTERVAL_DESCRIPTION)

    def schedule(self) -> InverseTimeDecaySchedule:
        """The validated math object."""
        return InverseTimeDecaySchedule(**self._parameters())


class KerasCosineDecaySpec(_KerasSpec):
    """Keras CosineDecay: optional linear warm-up from the initial lr to warmup_target, then a
    cosine decay over decay_steps to alpha·peak. The initial lr is the run's learning rate;
    warmup_target is absolute."""

    type: Literal["keras.cosine_decay"] = "keras.cosine_decay"
    decay_steps: int = _param(CosineDecaySchedule, "decay_steps", "Steps of the cosine decay.")
    alpha: float = _param(CosineDecaySchedule, "alpha", "Final lr as a fraction of the peak.")
    warmup_target: float | None = _param(
        CosineDecaySchedule,
        "warmup_target",
        "Peak lr after the warm-up (absolute); omitted: no warm-up, decay from the initial lr.",
    )
    warmup_steps: int = _param(CosineDecaySchedule, "warmup_steps", "Steps of the warm-up.")
    interval: Interval | None = Field(default=None, description=_INTERVAL_DESCRIPTION)

    def schedule(self) -> CosineDecaySchedule:
        """The validated math object."""
        return CosineDecaySchedule(**self._parameters())


class KerasCosineDecayRestartsSpec(_KerasSpec):
    """Keras CosineDecayRestarts (SGDR): cosine decays restarting at initial·m_mul^i, period i
    lasting first_decay_steps·t_mul^i. The initial lr is the run's learning rate."""

    type: Literal["keras.cosine_decay_restarts"] = "keras.cosine_decay_restarts"
    first_decay_steps: int = _param(
        CosineDecayRestartsSchedule, "first_decay_steps", "Steps of the first period."
    )
    t_mul: float = _param(CosineDecayRestartsSchedule, "t_mul", "Period growth per restart.")
    m_mul: float = _param(CosineDecayRestartsSchedule, "m_mul", "Peak factor per restart.")
    alpha: float = _param(
        CosineDecayRestartsSchedule, "alpha", "Minimum lr as a fraction of the initial lr."
    )
    interval: Interval | None = Field(default=None, description=_INTERVAL_DESCRIPTION)

    def schedule(self) -> CosineDecayRestartsSchedule:
        """The validated math object."""
        return CosineDecayRestartsSchedule(**self._parameters())


# --------------------------------------------------------------------------------------------
# Hugging Face transformers 5.x (get_scheduler): per optimizer step, relative to the run's lr.
# --------------------------------------------------------------------------------------------

_WARMUP = "Steps of the linear warm-up from 0 to the learning rate."
_TRAINING = "Steps the schedule spans; default: the run's length in its interval."


class _HfSpec(ClosedFormSpec):
    """A transformers schedule: stepped per optimizer step, relative to the run's lr."""

    default_interval: ClassVar[Interval] = "step"


class HfLinearSpec(_HfSpec):
    """transformers `linear`: warm-up, then linear decay to 0 at num_training_steps.
    Relative to the run's learning rate."""

    type: Literal["transformers.linear"] = "transformers.linear"
    num_warmup_steps: int = _param(HfLinearSchedule, "num_warmup_steps", _WARMUP)
    num_training_steps: int | None = _param(HfLinearSchedule, "num_training_steps", _TRAINING)
    interval: Interval | None = Field(default=None, description=_INTERVAL_DESCRIPTION)

    def schedule(self) -> HfLinearSchedule:
        """The validated math object."""
        return HfLinearSchedule(**self._parameters())


class HfCosineSpec(_HfSpec):
    """transformers `cosine`: warm-up, then a cosine decay (num_cycles 0.5: to 0 at
    num_training_steps). Relative to the run's learning rate."""

    type: Literal["transformers.cosine"] = "transformers.cosine"
    num_warmup_steps: int = _param(HfCosineSchedule, "num_warmup_steps", _WARMUP)
    num_training_steps: int | None = _param(HfCosineSchedule, "num_training_steps", _TRAINING)
    num_cycles: float = _param(HfCosineSchedule, "num_cycles", "Cosine periods over the decay.")
    interval: Interval | None = Field(default=None, description=_INTERVAL_DESCRIPTION)

    def schedule(self) -> HfCosineSchedule:
        """The validated math object."""
        return HfCosineSchedule(**self._parameters())


class HfCosineRestartsSpec(_HfSpec):
    """transformers `cosine_with_restarts`: warm-up, then num_cycles cosine decays to 0, each
    restarting at the learning rate. Relative to the run's learning rate."""

    type: Literal["transformers.cosine_with_restarts"] = "transformers.cosine_with_restarts"
    num_warmup_steps: int = _param(HfCosineRestartsSchedule, "num_warmup_steps", _WARMUP)
    num_training_steps: int | None = _param(
        HfCosineRestartsSchedule, "num_training_steps", _TRAINING
    )
    num_cycles: int = _param(HfCosineRestartsSchedule, "num_cycles", "Number of hard restarts.")
    interval: Interval | None = Field(default=None, description=_INTERVAL_DESCRIPTION)

    def schedule(self) -> HfCosineRestartsSchedule:
        """The validated math object."""
        return HfCosineRestartsSchedule(**self._parameters())


class HfPolynomialSpec(_HfSpec):
    """transformers `polynomial`: warm-up, then a polynomial decay to lr_end at
    num_training_steps. Relative to the run's learning rate; lr_end is absolute."""

    type: Literal["transformers.polynomial"] = "transformers.polynomial"
    num_warmup_steps: int = _param(HfPolynomialSchedule, "num_warmup_steps", _WARMUP)
    num_training_steps: int | None = _param(HfPolynomialSchedule, "num_training_steps", _TRAINING)
    lr_end: float = _param(
        HfPolynomialSchedule, "lr_end", "Final lr (absolute), below the learning rate."
    )
    power: float = _param(HfPolynomialSchedule, "power", "Exponent of the decay.")
    interval: Interval | None = Field(default=None, description=_INTERVAL_DESCRIPTION)

    def check_base_lr(self, base_lr: float) -> None:
        """transformers refuses an lr_end that is not below the learning rate."""
        self.schedule().check_base_lr(base_lr)

    def schedule(self) -> HfPolynomialSchedule:
        """The validated math object."""
        return HfPolynomialSchedule(**self._parameters())


class HfConstantSpec(_HfSpec):
    """transformers `constant`: the learning rate throughout."""

    type: Literal["transformers.constant"] = "transformers.constant"
    interval: Interval | None = Field(default=None, description=_INTERVAL_DESCRIPTION)

    def schedule(self) -> HfConstantSchedule:
        """The validated math object."""
        return HfConstantSchedule()


class HfConstantWarmupSpec(_HfSpec):
    """transformers `constant_with_warmup`: warm-up, then the learning rate."""

    type: Literal["transformers.constant_with_warmup"] = "transformers.constant_with_warmup"
    num_warmup_steps: int = _param(HfConstantWarmupSchedule, "num_warmup_steps", _WARMUP)
    interval: Interval | None = Field(default=None, description=_INTERVAL_DESCRIPTION)

    def schedule(self) -> HfConstantWarmupSchedule:
        """The validated math object."""
        return HfConstantWarmupSchedule(**self._parameters())


class HfInverseSqrtSpec(_HfSpec):
    """transformers `inverse_sqrt`: warm-up, then lr·1/sqrt((t + timescale - w)/timescale).
    Relative to the run's learning rate."""

    type: Literal["transformers.inverse_sqrt"] = "transformers.inverse_sqrt"
    num_warmup_steps: int = _param(HfInverseSqrtSchedule, "num_warmup_steps", _WARMUP)
    timescale: int | None = _param(
        HfInverseSqrtSchedule,
        "timescale",
        "Decay timescale; default num_warmup_steps, or 10000 without a warm-up.",
    )
    interval: Interval | None = Field(default=None, description=_INTERVAL_DESCRIPTION)

    def schedule(self) -> HfInverseSqrtSchedule:
        """The validated math object."""
        return HfInverseSqrtSchedule(**self._parameters())


class HfCosineMinLrSpec(_HfSpec):
    """transformers `cosine_with_min_lr`: warm-up, then a cosine decay to min_lr (absolute) or
    min_lr_rate·lr (exactly one). Relative to the run's learning rate."""

    type: Literal["transformers.cosine_with_min_lr"] = "transformers.cosine_with_min_lr"
    num_warmup_steps: int = _param(HfCosineMinLrSchedule, "num_warmup_steps", _WARMUP)
    num_training_steps: int | None = _param(HfCosineMinLrSchedule, "num_training_steps", _TRAINING)
    num_cycles: float = _param(HfCosineMinLrSchedule, "num_cycles", "Cosine periods.")
    min_lr: float | None = _param(HfCosineMinLrSchedule, "min_lr", "Final lr (absolute).")
    min_lr_rate: float | None = _param(
        HfCosineMinLrSchedule, "min_lr_rate", "Final lr as a fraction of the learning rate."
    )
    interval: Interval | None = Field(default=None, description=_INTERVAL_DESCRIPTION)

    def schedule(self) -> HfCosineMinLrSchedule:
        """The validated math object."""
        return HfCosineMinLrSchedule(**self._parameters())


class HfCosineWarmupMinLrSpec(_HfSpec):
    """transformers `cosine_warmup_with_min_lr`: like cosine_with_min_lr, one step ahead, with
    a warm-up from warmup_lr_rate·lr (default 1/num_warmup_steps). Relative to the run's lr."""

    type: Literal["transformers.cosine_warmup_with_min_lr"] = (
        "transformers.cosine_warmup_with_min_lr"
    )
    num_warmup_steps: int = _param(HfCosineWarmupMinLrSchedule, "num_warmup_steps", _WARMUP)
    num_training_steps: int | None = _param(
        HfCosineWarmupMinLrSchedule, "num_training_steps", _TRAINING
    )
    num_cycles: float = _param(HfCosineWarmupMinLrSchedule, "num_cycles", "Cosine periods.")
    min_lr: float | None = _param(HfCosineWarmupMinLrSchedule, "min_lr", "Final lr (absolute).")
    min_lr_rate: float | None = _param(
        HfCosineWarmupMinLrSchedule,
        "min_lr_rate",
        "Final lr as a fraction of the learning rate.",
    )
    warmup_lr_rate: float | None = _param(
        HfCosineWarmupMinLrSchedule,
        "warmup_lr_rate",
        "First warm-up lr as a fraction of the learning rate.",
    )
    interval: Interval | None = Field(default=None, description=_INTERVAL_DESCRIPTION)

    def schedule(self) -> HfCosineWarmupMinLrSchedule:
        """The validated math object."""
        return HfCosineWarmupMinLrSchedule(**self._parameters())


class HfWarmupStableDecaySpec(_HfSpec):
    """transformers `warmup_stable_decay` (WSD): warm-up, the learning rate for
    num_stable_steps (default: what num_training_steps leaves), then a decay over
    num_decay_steps to min_lr_ratio·lr. Relative to the run's learning rate."""

    type: Literal["transformers.warmup_stable_decay"] = "transformers.warmup_stable_decay"
    num_warmup_steps: int = _param(HfWarmupStableDecaySchedule, "num_warmup_steps", _WARMUP)
    num_decay_steps: int = _param(
        HfWarmupStableDecaySchedule, "num_decay_steps", "Steps of the final decay."
    )
    num_training_steps: int | None = _param(
        HfWarmupStableDecaySchedule,
        "num_training_steps",
        "Steps the schedule spans (stable = this - warm-up - decay); default: the run's "
        "length. Give it or num_stable_steps, not both.",
    )
    num_stable_steps: int | None = _param(
        HfWarmupStableDecaySchedule,
        "num_stable_steps",
        "Steps at the learning rate between warm-up and decay.",
    )
    warmup_type: WarmupShape = _param(
        HfWarmupStableDecaySchedule, "warmup_type", "Shape of the warm-up."
    )
    decay_type: WarmupShape = _param(
        HfWarmupStableDecaySchedule, "decay_type", "Shape of the decay."
    )
    min_lr_ratio: float = _param(
        HfWarmupStableDecaySchedule,
        "min_lr_ratio",
        "Floor of the warm-up and the decay, as a fraction of the learning rate.",
    )
    num_cycles: float = _param(
        HfWarmupStableDecaySchedule, "num_cycles", "Cosine periods of a cosine decay."
    )
    interval: Interval | None = Field(default=None, description=_INTERVAL_DESCRIPTION)

    def schedule(self) -> HfWarmupStableDecaySchedule:
        """The validated math object."""
        return HfWarmupStableDecaySchedule(**self._parameters())


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
    KerasExponentialDecaySpec,
    KerasPiecewiseConstantDecaySpec,
    KerasPolynomialDecaySpec,
    KerasInverseTimeDecaySpec,
    KerasCosineDecaySpec,
    KerasCosineDecayRestartsSpec,
    HfLinearSpec,
    HfCosineSpec,
    HfCosineRestartsSpec,
    HfPolynomialSpec,
    HfConstantSpec,
    HfConstantWarmupSpec,
    HfInverseSqrtSpec,
    HfCosineMinLrSpec,
    HfCosineWarmupMinLrSpec,
    HfWarmupStableDecaySpec,
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

    def check_base_lr(self, base_lr: float) -> None:
        """Each child against the run's learning rate, located at the child."""
        for index, child in enumerate(self.schedulers):
            try:
                child.check_base_lr(base_lr)
            except ParameterError as error:
                raise ParameterError(
                    ("schedulers", index, *error.loc), f"`schedulers[{index}]`: {error}"
                ) from None

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
            "description": " ".join((cls.__doc__ or "").split()),
            "parameters": cls.model_json_schema(),
            "default_interval": cls.default_interval,
        }
        for cls in SPEC_CLASSES
    ]
