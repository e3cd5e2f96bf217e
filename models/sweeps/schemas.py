"""The sweep API's schemas: what a sweep request holds and how a sweep reads."""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from models.experiments import (
    DatasetSpec,
    KeyRef,
    LrSources,
    QueueName,
    TrainingSpec,
    allowed_queue,
)
from models.fields import SafeStr
from models.schedules import SchedulerSpec
from models.storage import Page
from models.sweeps.asha import AshaSpec
from models.sweeps.grid import GridValue, SweepCell, check_pruning, expand
from models.training import MlpSpec, ModelSpec


class SweepBase(BaseModel):
    """What every member of a sweep shares."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False, strict=True)

    model: ModelSpec = Field(default_factory=MlpSpec)
    training: TrainingSpec = TrainingSpec()
    dataset: DatasetSpec = DatasetSpec()


class SweepCreate(BaseModel):
    """A batch of experiments: each scheduler × each grid point × each seed."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False, strict=True)

    name: SafeStr | None = Field(default=None, max_length=200)
    base: SweepBase = SweepBase()
    schedulers: list[SchedulerSpec] = Field(min_length=1, max_length=200)
    seeds: list[int] = Field(default=[0], min_length=1, max_length=1000)
    grid: dict[Annotated[SafeStr, Field(max_length=200)], list[GridValue]] = Field(
        default_factory=dict,
        max_length=50,
        description="`<scheduler type>.<parameter>`, `training.<field>` or `model.<field>` → "
        "values to try.",
    )
    queue: QueueName | None = Field(
        default=None,
        description="Queue the members go to (one of `LRLAB_QUEUES`, e.g. `gpu`); "
        "default: the API's queue.",
    )
    lr_from: LrSources
    pruning: AshaSpec | None = Field(
        default=None,
        description="Stop members that fall behind at rungs (ASHA: Ray Tune's "
        "AsyncHyperBandScheduler with one bracket); see docs/sweeps.md.",
    )

    _cells: list[SweepCell] = PrivateAttr(default_factory=list)
    _queue_allowed = field_validator("queue")(allowed_queue)

    @model_validator(mode="after")
    def _expand(self) -> "SweepCreate":
        self._cells = expand(self)
        check_pruning(self)
        return self

    @property
    def cells(self) -> list[SweepCell]:
        """The expanded members, in submission order."""
        return self._cells


class SweepStatus(StrEnum):
    """A sweep's status, derived from its members' (`sweep_status`)."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class SweepCounts(BaseModel):
    """Members per status."""

    queued: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0
    pruned: int = 0


class SweepProgress(BaseModel):
    """How far the members have got, all together."""

    experiments_done: int
    experiments: int
    epochs_done: int
    epochs: int


class SweepRead(BaseModel):
    """A sweep as the API shows it."""

    id: uuid.UUID
    name: str | None
    status: str
    counts: SweepCounts
    progress: SweepProgress
    experiments: list[uuid.UUID]
    spec: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    submitted_by: KeyRef | None = None
    cancelled_by: KeyRef | None = None


class MemberWarnings(BaseModel):
    """The warnings of one sweep member."""

    experiment: uuid.UUID
    label: str | None
    warnings: list[str]


class SweepAccepted(SweepRead):
    """The answer to `POST /sweeps`: the sweep, warnings for the whole and per member."""

    warnings: list[str] = Field(description="About the sweep as a whole (e.g. an unserved queue).")
    member_warnings: list[MemberWarnings] = Field(
        description="Members whose schedule looks unintended, with the preview's warnings."
    )


class SweepPage(Page[SweepRead]):
    """One page of sweeps, newest first."""
