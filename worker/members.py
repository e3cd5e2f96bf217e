"""A training member: what the caller configures, what it gets back, and its state on the host."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from models.training import METRIC_NAMES, CnnSpec, EpochMetrics, MlpSpec, OptimizerName, resolve

__all__ = ["METRIC_NAMES"]


class Schedule(Protocol):
    """What the engine needs of a learning-rate schedule run (models.schedules.ScheduleRun)."""

    @property
    def interval(self) -> Literal["epoch", "step"]: ...

    @property
    def monitor(self) -> str | None: ...

    def epoch_lrs(self, epoch: int) -> npt.NDArray[np.float64]:
        """Return one lr per optimizer step of the 0-based epoch."""
        ...

    def end_epoch(self, epoch: int, metrics: Mapping[str, float]) -> None:
        """Take the epoch's metrics after validation."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """Return JSON-serialisable state that resumes the schedule after its completed epochs."""
        ...

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what state_dict() returned."""
        ...


@dataclass(frozen=True)
class MemberConfig:
    """One experiment to train."""

    key: str
    epochs: int
    batch_size: int
    learning_rate: float
    optimizer: OptimizerName
    momentum: float
    seed: int
    schedule: Schedule = field(compare=False)
    # A checkpoint from an earlier EpochReport: training continues after its epoch.
    resume: bytes | None = field(default=None, compare=False, repr=False)
    model: MlpSpec | CnnSpec = field(default_factory=MlpSpec)
    # The optimizer's other parameters as TrainingSpec names them (unset: Keras' defaults).
    options: Mapping[str, float | bool | None] = field(default_factory=dict)

    @property
    def optimizer_params(self) -> dict[str, float | bool]:
        """Every parameter of the optimizer, Keras' defaults filled in."""
        return resolve(self.optimizer, {**self.options, "momentum": self.momentum})


@dataclass(frozen=True)
class EpochReport:
    """One finished epoch of one member: its metrics, and the checkpoint to resume after it."""

    key: str
    # `seconds` is the wall time of the epoch (training + validation) of the stack the member
    # trained in, without one-time compilation.
    metrics: EpochMetrics
    checkpoint: bytes = field(default=b"", repr=False)


class TrainingError(Exception):
    """Training of a member cannot go on (e.g. the loss became NaN)."""

    def __init__(self, message: str, *, key: str | None = None, epoch: int | None = None) -> None:
        super().__init__(message)
        self.key = key
        self.epoch = epoch


@dataclass(eq=False)
class MemberState:
    """What evolves on the host while a member trains; its weights live in its stack."""

    config: MemberConfig
    rng: np.random.Generator  # data order only, so a checkpoint can restore it independently
    epochs_done: int
    active: bool = True
