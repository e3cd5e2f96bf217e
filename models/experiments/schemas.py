"""The experiment API's schemas: what a submission holds (`*Create`) and how it reads (`*Read`)."""

import uuid
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from models.fields import SafeStr
from models.schedules import SchedulerSpec, build_run, schedule_warnings
from models.storage import Page, get_settings

# Re-exported so that importers of the per-epoch schemas from here keep working.
from models.training import (
    OPTIMIZER_FIELDS,
    DatasetName,
    MlpSpec,
    ModelSpec,
    OptimizerName,
    check_applies,
    resolve,
    steps_per_epoch,
)
from models.training import EpochMetrics as EpochMetrics
from models.training import MetricRead as MetricRead

QueueName = Annotated[SafeStr, Field(min_length=1, max_length=100)]


def allowed_queue(queue: str | None) -> str | None:
    """`queue` if the operator allows it (`LRLAB_QUEUES`), else a 422 naming the allowed ones."""
    allowed = get_settings().allowed_queues
    if queue is not None and queue not in allowed:
        raise PydanticCustomError(
            "queue_not_allowed",
            "queue must be one of {allowed}",
            {"allowed": ", ".join(allowed)},
        )
    return queue


class _Input(BaseModel):
    # Strict: JSON numbers of the right kind and real booleans; floats still take integers.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False, strict=True)


class OptimizerChoice(_Input):
    """A Keras optimizer and its parameters; one it lacks is refused by name."""

    optimizer: OptimizerName = Field(
        default="adam", description="Keras optimizer (`GET /models` lists their parameters)."
    )
    momentum: float = Field(default=0.0, ge=0, lt=1, description="Momentum (sgd, rmsprop).")
    nesterov: bool = Field(default=False, description="Nesterov momentum (sgd).")
    weight_decay: float | None = Field(
        default=None, ge=0, le=1, description="Decoupled weight decay; default: the optimizer's."
    )
    beta_1: float | None = Field(default=None, ge=0, lt=1, description="First-moment decay.")
    beta_2: float | None = Field(default=None, ge=0, lt=1, description="Second-moment decay.")
    epsilon: float | None = Field(default=None, gt=0, le=1, description="Numerical stability.")
    rho: float | None = Field(default=None, ge=0, lt=1, description="RMSprop discount.")
    centered: bool = Field(default=False, description="Centered RMSprop (rmsprop).")

    @model_validator(mode="after")
    def _parameters_apply(self) -> "OptimizerChoice":
        check_applies(self.optimizer, self.optimizer_given())
        return self

    def optimizer_given(self) -> dict[str, Any]:
        """The optimizer parameters as the spec gives them (None: the optimizer's default)."""
        return {name: getattr(self, name) for name in OPTIMIZER_FIELDS}

    def optimizer_params(self) -> dict[str, float | bool]:
        """Every parameter of the chosen optimizer, Keras' defaults filled in."""
        return resolve(self.optimizer, self.optimizer_given())


class TrainingSpec(OptimizerChoice):
    """How the network is trained; the defaults reproduce the seed tutorial."""

    epochs: int = Field(default=20, ge=1, le=1000, description="Number of epochs.")
    batch_size: int = Field(default=32, ge=1, le=8192, description="Mini-batch size.")
    learning_rate: float = Field(
        default=0.001, gt=0, le=10, description="Base learning rate the schedule is relative to."
    )
    seed: int = Field(default=0, ge=0, le=2**31 - 1, description="Seeds weights and data order.")


class DatasetSpec(_Input):
    """Which data to train on; validation always uses the dataset's test split."""

    name: DatasetName = Field(default="mnist", description="Dataset name (`GET /models`).")
    train_samples: int = Field(
        default=10_000,
        ge=1,
        le=1_000_000,
        description="Training samples to use, capped to what the data has (the cap is recorded).",
    )


class LrProvenance(_Input):
    """Where a learning rate came from: a range test's suggestion times a multiplier."""

    # Not strict: the stored spec (JSON) holds it as a string, and the worker's claim reads it.
    from_range_test: uuid.UUID = Field(strict=False)
    suggestion: Literal["valley", "slide", "minimum", "steep"]
    multiplier: float
    suggested_lr: float = Field(description="The range test's suggestion.")
    lr: float = Field(description="suggested_lr × multiplier, the value used.")


# Set by the server when it resolves `{"from_range_test": …}` (`lr_seeding`); keyed by
# the lr's path in the spec, e.g. `training.learning_rate` or `scheduler.max_lr`.
LrSources = Annotated[dict[str, LrProvenance], Field(default_factory=dict, max_length=32)]


class ExperimentCreate(_Input):
    """A request to train one model once with one learning-rate schedule."""

    name: SafeStr | None = Field(default=None, max_length=200, description="Optional label.")
    scheduler: SchedulerSpec
    # Specs stored before model families existed lack it: they read as the default MLP.
    model: ModelSpec = Field(default=MlpSpec(), description="Model family (`GET /models`).")
    training: TrainingSpec = TrainingSpec()
    dataset: DatasetSpec = DatasetSpec()
    queue: QueueName | None = Field(
        default=None,
        description="Queue to run on (one of `LRLAB_QUEUES`, e.g. `gpu`); default: the API's.",
    )

    _queue_allowed = field_validator("queue")(allowed_queue)
    lr_from: LrSources

    @model_validator(mode="after")
    def _schedule_fits_run(self) -> "ExperimentCreate":
        check_steps(epochs=self.training.epochs, steps_per_epoch=self.steps_per_epoch)
        # Checks that need the run's length (e.g. one_cycle.total_steps) use the requested size;
        # the worker checks again against the size actually loaded.
        build_run(
            self.scheduler,
            base_lr=self.training.learning_rate,
            epochs=self.training.epochs,
            steps_per_epoch=self.steps_per_epoch,
        )
        return self

    @property
    def steps_per_epoch(self) -> int:
        """Optimizer steps per epoch at the requested size capped to the dataset's."""
        return steps_per_epoch(
            dataset=self.dataset.name,
            train_samples=self.dataset.train_samples,
            batch_size=self.training.batch_size,
        )

    def warnings(self) -> list[str]:
        """The preview's warnings for this schedule in this run: legal but probably unintended."""
        return list(
            _run_warnings(
                self.scheduler.model_dump_json(),
                learning_rate=self.training.learning_rate,
                epochs=self.training.epochs,
                steps_per_epoch=self.steps_per_epoch,
            )
        )


_SCHEDULER: TypeAdapter[SchedulerSpec] = TypeAdapter(SchedulerSpec)


@lru_cache(maxsize=1024)
def _run_warnings(
    scheduler_json: str, *, learning_rate: float, epochs: int, steps_per_epoch: int
) -> tuple[str, ...]:
    # Computed once per schedule and run geometry: a scripted batch repeats its schedules
    # (other seeds, names), and each computation walks every step's lr.
    return tuple(
        schedule_warnings(
            _SCHEDULER.validate_json(scheduler_json),
            learning_rate=learning_rate,
            epochs=epochs,
            steps_per_epoch=steps_per_epoch,
        )
    )


def check_steps(*, epochs: int, steps_per_epoch: int) -> None:
    """Refuse a run of more optimizer steps than `LRLAB_MAX_STEPS_PER_EXPERIMENT`."""
    limit = get_settings().max_steps_per_experiment
    if epochs * steps_per_epoch > limit:
        raise ValueError(
            f"`training.epochs` × steps per epoch (ceil(train_samples / batch_size)) must be "
            f"<= {limit} (LRLAB_MAX_STEPS_PER_EXPERIMENT), got {epochs} × {steps_per_epoch} "
            f"= {epochs * steps_per_epoch}"
        )


class Progress(BaseModel):
    """How far a run has got."""

    epochs_done: int
    epochs: int


class ExperimentResult(BaseModel):
    """Summary of a finished run."""

    final_val_accuracy: float | None
    best_val_accuracy: float | None
    best_epoch: int | None
    train_seconds: float


class KeyRef(BaseModel):
    """Which API key did something: its id and label, never its secret."""

    id: uuid.UUID
    label: str


class ExperimentRead(BaseModel):
    """An experiment as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str | None
    status: str
    scheduler_type: str
    spec: dict[str, Any]
    sweep_id: uuid.UUID | None = Field(default=None, description="The sweep it belongs to.")
    label: str | None = Field(
        default=None, description="A sweep member's configuration (scheduler and grid point)."
    )
    progress: Progress
    attempt: int
    dataset: dict[str, Any] | None
    # Where the last attempt trained, as its worker recorded it (with the data it read).
    device: str | None = None
    versions: dict[str, str] | None = None
    result: ExperimentResult | None
    error: str | None
    # Notes on what happened to the run besides its metrics (a lost checkpoint, a refused
    # attempt), oldest first: {"at", "kind", "attempt", "message"}.
    events: list[dict[str, Any]] = []
    # Epochs trained again after a resume and any differences from their recorded rows.
    reproducibility: dict[str, Any] | None = None
    # The rung epoch at which the sweep's pruning rule stopped it (status `pruned`).
    pruned_at_epoch: int | None = None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    submitted_by: KeyRef | None = None
    cancelled_by: KeyRef | None = None


class ExperimentAccepted(ExperimentRead):
    """The answer to `POST /experiments`: the experiment and what looks unintended about it."""

    warnings: list[str] = Field(
        description="Legal but probably unintended settings (as the preview reports them), "
        "and a queue no live worker consumes."
    )


class ExperimentPage(Page[ExperimentRead]):
    """One page of experiments, newest first."""


class MetricList(BaseModel):
    """All epochs of one experiment, ordered by epoch."""

    items: list[MetricRead]


class EpochStepLrs(BaseModel):
    """The lr of every optimizer step of one epoch, in order."""

    epoch: int
    lrs: list[float]


class StepLrPage(BaseModel):
    """A page of the per-step lrs actually used, epoch by epoch."""

    items: list[EpochStepLrs]
    next_epoch_from: int | None = Field(description="`epoch_from` of the next page; null: last.")
