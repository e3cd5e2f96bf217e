"""Pydantic schemas of the public API: what comes in (`*Create`) and what goes out (`*Read`)."""

import math
import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Re-exported so that importers of the per-epoch schemas from here keep working.
from models.metrics import EpochMetrics as EpochMetrics
from models.metrics import MetricRead as MetricRead
from models.schedules import SchedulerSpec, build_run, schedule_warnings


class _Input(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class TrainingSpec(_Input):
    """How the network is trained; the defaults reproduce the seed tutorial."""

    epochs: int = Field(default=20, ge=1, le=1000, description="Number of epochs.")
    batch_size: int = Field(default=32, ge=1, le=8192, description="Mini-batch size.")
    learning_rate: float = Field(
        default=0.001, gt=0, le=10, description="Base learning rate the schedule is relative to."
    )
    optimizer: Literal["adam", "sgd"] = Field(default="adam", description="Keras optimizer.")
    momentum: float = Field(default=0.0, ge=0, lt=1, description="SGD momentum (sgd only).")
    seed: int = Field(default=0, ge=0, le=2**31 - 1, description="Seeds weights and data order.")

    @model_validator(mode="after")
    def _momentum_needs_sgd(self) -> "TrainingSpec":
        if self.optimizer != "sgd" and self.momentum != 0:
            raise ValueError(f"`momentum` applies only to optimizer `sgd`, got `{self.optimizer}`")
        return self


class DatasetSpec(_Input):
    """Which data to train on; validation always uses the dataset's test split."""

    name: Literal["mnist"] = Field(default="mnist", description="Dataset name.")
    train_samples: int = Field(
        default=10_000,
        ge=1,
        le=1_000_000,
        description="Training samples to use, capped to what the data has (the cap is recorded).",
    )


class ExperimentCreate(_Input):
    """A request to train the seed model once with one learning-rate schedule."""

    name: str | None = Field(default=None, max_length=200, description="Optional label.")
    scheduler: SchedulerSpec
    training: TrainingSpec = TrainingSpec()
    dataset: DatasetSpec = DatasetSpec()

    @model_validator(mode="after")
    def _schedule_fits_run(self) -> "ExperimentCreate":
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
        """Optimizer steps per epoch at the requested size (the worker caps to the data)."""
        return math.ceil(self.dataset.train_samples / self.training.batch_size)

    def warnings(self) -> list[str]:
        """The preview's warnings for this schedule in this run: legal but probably unintended."""
        return schedule_warnings(
            self.scheduler,
            learning_rate=self.training.learning_rate,
            epochs=self.training.epochs,
            steps_per_epoch=self.steps_per_epoch,
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


class ExperimentRead(BaseModel):
    """An experiment as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str | None
    status: str
    scheduler_type: str
    spec: dict[str, Any]
    progress: Progress
    attempt: int
    dataset: dict[str, Any] | None
    result: ExperimentResult | None
    error: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class ExperimentAccepted(ExperimentRead):
    """The answer to `POST /experiments`: the experiment and what looks unintended about it."""

    warnings: list[str] = Field(
        description="Legal but probably unintended settings (as the preview reports them), "
        "and a queue no live worker consumes."
    )


class ExperimentPage(BaseModel):
    """One page of experiments, newest first."""

    items: list[ExperimentRead]
    total: int
    limit: int
    offset: int


class MetricList(BaseModel):
    """All epochs of one experiment, ordered by epoch."""

    items: list[MetricRead]


class StepLrList(BaseModel):
    """The lr of every optimizer step actually used, epoch by epoch."""

    epochs: list[list[float]]
    steps: list[float]
