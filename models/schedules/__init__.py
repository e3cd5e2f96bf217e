"""Every learning-rate schedule lrlab runs, in four layers, each importing only those above it.

- `parameters`: the Bounds of schedule parameters, declared once (pure).
- `closed_form`, `plateau`: the math, one class per torch scheduler (pure, no pydantic);
  `keras_schedules`, `hf_schedules`: the same for Keras 3 and transformers 5.x schedules.
- `specs`: the API's pydantic specs, one per scheduler type, and the catalog.
- `run`: `ScheduleRun`, the stateful per-epoch run the worker trains with (and its saved state).
- `preview`: the no-training curve and its warnings, computed through `run`
  (`library_warnings` holds those of the Keras and transformers types).
- `preview_pages`: what a preview answers: per-step lrs downsampled past a bound, or one
  exact page of them.

Anything in `models`, `api`, `worker`, the benchmarks and tests may import from here; import the
public names from this package, not from its modules.
"""

from models.schedules.closed_form import (
    ClosedForm,
    ConstantSchedule,
    CosineSchedule,
    CosineWarmRestartsSchedule,
    CyclicSchedule,
    ExponentialSchedule,
    LinearSchedule,
    MultiStepSchedule,
    OneCycleSchedule,
    PolynomialSchedule,
    SequentialSchedule,
    StepSchedule,
)
from models.schedules.parameters import MAX_DURATION, Bound, ParameterError
from models.schedules.plateau import PlateauSchedule, PlateauState
from models.schedules.preview import (
    LOW_LR,
    MAX_PREVIEW_VALUES,
    PreviewRequest,
    PreviewResult,
    preview,
    preview_arrays,
    schedule_warnings,
)
from models.schedules.preview_pages import (
    PREVIEW_MAX_POINTS,
    PreviewAnswer,
    preview_answer,
    preview_body,
)
from models.schedules.run import ScheduleRun, build_run
from models.schedules.specs import (
    SCHEDULER_TYPES,
    SPEC_CLASSES,
    ChildSpec,
    ClosedFormSpec,
    Interval,
    PlateauSpec,
    SchedulerSpec,
    catalog,
)

__all__ = [
    "LOW_LR",
    "MAX_DURATION",
    "MAX_PREVIEW_VALUES",
    "PREVIEW_MAX_POINTS",
    "SCHEDULER_TYPES",
    "SPEC_CLASSES",
    "Bound",
    "ChildSpec",
    "ClosedForm",
    "ClosedFormSpec",
    "ConstantSchedule",
    "CosineSchedule",
    "CosineWarmRestartsSchedule",
    "CyclicSchedule",
    "ExponentialSchedule",
    "Interval",
    "LinearSchedule",
    "MultiStepSchedule",
    "OneCycleSchedule",
    "ParameterError",
    "PlateauSchedule",
    "PlateauSpec",
    "PlateauState",
    "PolynomialSchedule",
    "PreviewAnswer",
    "PreviewRequest",
    "PreviewResult",
    "ScheduleRun",
    "SchedulerSpec",
    "SequentialSchedule",
    "StepSchedule",
    "build_run",
    "catalog",
    "preview",
    "preview_answer",
    "preview_arrays",
    "preview_body",
    "schedule_warnings",
]
