"""ReduceLROnPlateau: the one schedule driven by a metric, stepped once per epoch."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Literal

from models.schedules.parameters import COUNT, NON_NEGATIVE, Bound, check_parameters

PlateauMode = Literal["min", "max"]
ThresholdMode = Literal["rel", "abs"]


@dataclass(frozen=True)
class PlateauState:
    """ReduceLROnPlateau's state between epochs."""

    lr: float
    best: float
    num_bad_epochs: int = 0
    cooldown_counter: int = 0


@dataclass(frozen=True)
class PlateauSchedule:
    """ReduceLROnPlateau: cut the lr by `factor` after more than `patience` bad epochs.

    step(m): improved = m < best·(1-threshold) (min/rel), m < best - threshold (min/abs),
    m > best·(1+threshold) (max/rel), m > best + threshold (max/abs). Improved: best = m,
    bad = 0, else bad += 1. In cooldown: cool -= 1, bad = 0. If bad > patience:
    new = max(lr·factor, min_lr), applied only if lr - new > eps; then cool = cooldown, bad = 0.
    """

    mode: PlateauMode = "min"
    factor: Annotated[float, Bound(ge=0, lt=1)] = 0.1
    patience: Annotated[int, COUNT] = 10
    threshold: Annotated[float, NON_NEGATIVE] = 1e-4
    threshold_mode: ThresholdMode = "rel"
    cooldown: Annotated[int, COUNT] = 0
    min_lr: Annotated[float, NON_NEGATIVE] = 0.0
    eps: Annotated[float, NON_NEGATIVE] = 1e-8

    def __post_init__(self) -> None:
        check_parameters(self)

    def initial_state(self, base_lr: float) -> PlateauState:
        """lr = base, best = worst possible value."""
        return PlateauState(lr=base_lr, best=math.inf if self.mode == "min" else -math.inf)

    def improved(self, metric: float, best: float) -> bool:
        """Whether `metric` is a significant improvement on `best` (NaN never is)."""
        if self.mode == "min" and self.threshold_mode == "rel":
            return metric < best * (1.0 - self.threshold)
        if self.mode == "min":
            return metric < best - self.threshold
        if self.threshold_mode == "rel":
            return metric > best * (self.threshold + 1.0)
        return metric > best + self.threshold

    def step(self, state: PlateauState, metric: float) -> PlateauState:
        """The state after observing `metric` at the end of an epoch."""
        lr, best, bad, cool = state.lr, state.best, state.num_bad_epochs, state.cooldown_counter
        if self.improved(metric, best):
            best, bad = metric, 0
        else:
            bad += 1
        if cool > 0:
            cool, bad = cool - 1, 0
        if bad > self.patience:
            new_lr = max(lr * self.factor, self.min_lr)
            if lr - new_lr > self.eps:
                lr = new_lr
            cool, bad = self.cooldown, 0
        return PlateauState(lr=lr, best=best, num_bad_epochs=bad, cooldown_counter=cool)
