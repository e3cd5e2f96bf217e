"""The stateful run of a schedule: the lr of every optimizer step, epoch by epoch, resumable.

The worker trains with it and the preview computes curves with it, so both share one code path.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from models.schedules.closed_form import ClosedForm, FloatArray
from models.schedules.parameters import DURATION, POSITIVE, Bound
from models.schedules.plateau import PlateauSchedule, PlateauState
from models.schedules.specs import Interval, PlateauSpec, SchedulerSpec

# Keras keeps the lr in float32, so anything above its range becomes inf during training.
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_STATE_VERSION = 1
_STEPS_PER_EPOCH = Bound(ge=1, integer=True)


def _encode_float(value: float) -> float | str:
    return value if math.isfinite(value) else str(value)


def _decode_float(value: float | str) -> float:
    return float(value)


class ScheduleRun:
    """The lr of every optimizer step of one run, epoch by epoch."""

    interval: Interval
    monitor: str | None

    def __init__(
        self, spec: SchedulerSpec, *, base_lr: float, epochs: int, steps_per_epoch: int
    ) -> None:
        """Validate the run's geometry and bind the schedule to its length."""
        POSITIVE.check("base_lr", base_lr)
        DURATION.check("epochs", epochs)
        _STEPS_PER_EPOCH.check("steps_per_epoch", steps_per_epoch)
        self.spec = spec
        self.base_lr = float(base_lr)
        self.epochs = epochs
        self.steps_per_epoch = steps_per_epoch
        self.interval = spec.effective_interval
        self.length = epochs * steps_per_epoch if self.interval == "step" else epochs
        self.epochs_completed = 0
        spec.check_base_lr(self.base_lr)
        self._plateau: PlateauSchedule | None = None
        self._closed: ClosedForm | None = None
        if isinstance(spec, PlateauSpec):
            self.monitor = spec.monitor
            self._plateau = spec.schedule()
            self._state = self._plateau.initial_state(self.base_lr)
        else:
            self.monitor = None
            self._closed = spec.schedule().for_length(self.length)
            bound = self._closed.max_lr_bound(self.base_lr, self.length)
            if not bound <= _FLOAT32_MAX:
                raise ValueError(
                    "the learning rate grows past the float32 range (3.4e38) within the run; "
                    "use a smaller growth factor (`gamma`, `decay_rate`, `m_mul`) or a shorter run"
                )

    @property
    def closed_form(self) -> ClosedForm | None:
        """The bound closed-form schedule, or None for plateau."""
        return self._closed

    def _check_epoch(self, epoch: int) -> None:
        if not 0 <= epoch < self.epochs:
            raise ValueError(f"`epoch` must be in [0, {self.epochs - 1}], got {epoch}")

    def lrs_for_epochs(self, start: int, stop: int) -> FloatArray:
        """lrs of epochs start..stop-1 as a (stop-start, steps_per_epoch) array (not plateau)."""
        if self._closed is None:
            raise TypeError("plateau depends on metrics; use epoch_lrs() one epoch at a time")
        if not 0 <= start <= stop <= self.epochs:
            raise ValueError(
                f"epoch range must be within [0, {self.epochs}], got [{start}, {stop})"
            )
        spe = self.steps_per_epoch
        if self.interval == "step":
            t = np.arange(start * spe, stop * spe, dtype=np.int64)
            return self._closed.lrs(t, self.base_lr).reshape(stop - start, spe)
        per_epoch = self._closed.lrs(np.arange(start, stop, dtype=np.int64), self.base_lr)
        return np.repeat(per_epoch[:, np.newaxis], spe, axis=1)

    def epoch_lrs(self, epoch: int) -> FloatArray:
        """The lr of each optimizer step of 0-based `epoch` (float64, steps_per_epoch long)."""
        self._check_epoch(epoch)
        if self._closed is not None:
            row: FloatArray = self.lrs_for_epochs(epoch, epoch + 1)[0]
            return row
        if epoch != self.epochs_completed:
            raise ValueError(
                f"plateau knows the lr of epoch {self.epochs_completed} only "
                f"(epochs completed), got epoch {epoch}"
            )
        return np.full(self.steps_per_epoch, self._state.lr, dtype=np.float64)

    def end_epoch(self, epoch: int, metrics: Mapping[str, float]) -> None:
        """Record the end of 0-based `epoch`; plateau reads metrics[monitor]."""
        self._check_epoch(epoch)
        if epoch != self.epochs_completed:
            raise ValueError(f"expected end of epoch {self.epochs_completed}, got epoch {epoch}")
        if self._plateau is not None:
            assert self.monitor is not None
            if self.monitor not in metrics:
                raise ValueError(f"plateau monitors `{self.monitor}`, got only {sorted(metrics)}")
            self._state = self._plateau.step(self._state, float(metrics[self.monitor]))
        self.epochs_completed += 1

    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable state that resumes the run exactly after the completed epochs."""
        state: dict[str, Any] = {
            "version": _STATE_VERSION,
            "type": self.spec.type,
            "base_lr": self.base_lr,
            "epochs": self.epochs,
            "steps_per_epoch": self.steps_per_epoch,
            "epochs_completed": self.epochs_completed,
        }
        if self._plateau is not None:
            state["plateau"] = {
                "lr": self._state.lr,
                "best": _encode_float(self._state.best),
                "num_bad_epochs": self._state.num_bad_epochs,
                "cooldown_counter": self._state.cooldown_counter,
            }
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what state_dict() returned, for the same spec and run geometry."""
        if state.get("version") != _STATE_VERSION:
            raise ValueError(f"unsupported schedule state version {state.get('version')!r}")
        expected = {
            "type": self.spec.type,
            "base_lr": self.base_lr,
            "epochs": self.epochs,
            "steps_per_epoch": self.steps_per_epoch,
        }
        for key, value in expected.items():
            if state.get(key) != value:
                raise ValueError(
                    f"schedule state is for {key}={state.get(key)!r}, this run has {value!r}"
                )
        completed = state.get("epochs_completed")
        if not isinstance(completed, int) or not 0 <= completed <= self.epochs:
            raise ValueError(f"`epochs_completed` must be in [0, {self.epochs}], got {completed!r}")
        assert isinstance(completed, int)
        if self._plateau is not None:
            plateau = state["plateau"]
            self._state = PlateauState(
                lr=float(plateau["lr"]),
                best=_decode_float(plateau["best"]),
                num_bad_epochs=int(plateau["num_bad_epochs"]),
                cooldown_counter=int(plateau["cooldown_counter"]),
            )
        self.epochs_completed = completed


def build_run(
    spec: SchedulerSpec, *, base_lr: float, epochs: int, steps_per_epoch: int
) -> ScheduleRun:
    """The run of `spec` for this geometry; raises ValueError when the schedule cannot fit it."""
    return ScheduleRun(spec, base_lr=base_lr, epochs=epochs, steps_per_epoch=steps_per_epoch)
