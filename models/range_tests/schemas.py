"""Range-test schemas: the request, the stored result and how a result is derived from curves.

The result of several seeds: each seed's own suggestions, the suggestions of the mean curve
(the seeds share the lr sequence, so their smoothed losses are averaged point by point over
the iterations every seed recorded), and the spread of each suggestion over the seeds.
"""

import math
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from models.experiments import DatasetSpec, OptimizerChoice, QueueName, allowed_queue
from models.fields import SafeStr
from models.range_tests.lr_finder import (
    MAX_NUM_ITER,
    MIN_NUM_ITER,
    Suggestions,
    check_range_test,
    suggest,
)
from models.storage import Page
from models.training import MlpSpec, ModelSpec

# Seeds train fused in one stack; this bounds the stack (and so one test's cost).
MAX_SEEDS = 16
SUGGESTION_NAMES = ("valley", "slide", "minimum", "steep")


class _Input(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False, strict=True)


class RangeTestTraining(OptimizerChoice):
    """How the network trains during the test (no epochs, no lr: the test sets the lr)."""

    batch_size: int = Field(default=32, ge=1, le=8192, description="Mini-batch size.")
    seed: int = Field(default=0, ge=0, le=2**31 - 1, description="Weights and data order.")


class RangeTestCreate(_Input):
    """A learning-rate range test: fastai `lr_find(start_lr, end_lr, num_it, stop_div)`."""

    name: SafeStr | None = Field(default=None, max_length=200, description="Optional label.")
    # Specs stored before model families existed lack it: they read as the default MLP.
    model: ModelSpec = Field(default_factory=MlpSpec, description="Model family (`GET /models`).")
    training: RangeTestTraining = RangeTestTraining()
    dataset: DatasetSpec = DatasetSpec()
    start_lr: float = Field(default=1e-7, gt=0, description="lr of the first iteration.")
    end_lr: float = Field(default=10.0, gt=0, description="lr the sequence heads for.")
    num_iter: int = Field(
        default=100,
        ge=MIN_NUM_ITER,
        le=MAX_NUM_ITER,
        description=f"Iterations to run ({MIN_NUM_ITER}..{MAX_NUM_ITER}).",
    )
    stop_div: bool = Field(default=True, description="Stop once the loss exceeds 4x its best.")
    seeds: list[int] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_SEEDS,
        description="Seeds to run fused (default: [training.seed]).",
    )
    queue: QueueName | None = Field(
        default=None,
        description="Queue to run on (one of `LRLAB_QUEUES`, e.g. `gpu`); default: the API's.",
    )

    _queue_allowed = field_validator("queue")(allowed_queue)

    @model_validator(mode="after")
    def _consistent(self) -> "RangeTestCreate":
        check_range_test(start_lr=self.start_lr, end_lr=self.end_lr, num_iter=self.num_iter)
        if self.seeds is not None:
            if len(set(self.seeds)) != len(self.seeds):
                raise ValueError("`seeds` must not repeat a seed")
            if any(not 0 <= s <= 2**31 - 1 for s in self.seeds):
                raise ValueError("`seeds` must be in 0..2147483647")
        return self

    @property
    def seed_list(self) -> list[int]:
        """The seeds to run."""
        return list(self.seeds) if self.seeds is not None else [self.training.seed]


class SuggestionRead(BaseModel):
    """A suggested lr and the smoothed loss on the curve there."""

    lr: float
    loss: float


class SuggestionsRead(BaseModel):
    """fastai's four suggestions; null where the curve is too short for the method."""

    valley: SuggestionRead | None
    slide: SuggestionRead | None
    minimum: SuggestionRead | None
    steep: SuggestionRead | None


class SeedResult(BaseModel):
    """One seed's run."""

    seed: int
    iterations: int
    stopped_early: bool
    suggestions: SuggestionsRead


class Spread(BaseModel):
    """How one suggestion varies over the seeds that have it."""

    seeds: int
    min_lr: float
    max_lr: float
    geometric_mean_lr: float
    log10_std: float


class RangeTestResult(BaseModel):
    """A finished test: the suggestions (of the mean curve with several seeds) and per seed."""

    iterations: int
    stopped_early: bool
    suggestions: SuggestionsRead
    seeds: list[SeedResult]
    spread: dict[str, Spread | None] | None
    train_seconds: float


class RangeTestProgress(BaseModel):
    """How far the running attempt has got."""

    iterations_done: int
    num_iter: int


class RangeTestRead(BaseModel):
    """A range test as the API shows it."""

    id: uuid.UUID
    name: str | None
    status: str
    spec: dict[str, Any]
    progress: RangeTestProgress
    attempt: int
    dataset: dict[str, Any] | None
    result: RangeTestResult | None
    error: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class RangeTestPage(Page[RangeTestRead]):
    """One page of range tests, newest first."""


class CurvePoint(BaseModel):
    """One recorded iteration of one seed."""

    seed: int
    iteration: int
    lr: float
    loss: float | None
    smoothed_loss: float | None


class CurveList(BaseModel):
    """Every recorded iteration, seed by seed."""

    items: list[CurvePoint]


def suggestions_read(found: Suggestions) -> SuggestionsRead:
    """The API form of lr_finder's suggestions."""
    return SuggestionsRead.model_validate(
        {
            name: None if (s := getattr(found, name)) is None else {"lr": s.lr, "loss": s.loss}
            for name in SUGGESTION_NAMES
        }
    )


def mean_curve(
    lrs: Sequence[Sequence[float]], smoothed: Sequence[Sequence[float]]
) -> tuple[np.ndarray, np.ndarray]:
    """The seeds' lrs and mean smoothed loss over the iterations every seed recorded."""
    n = min(len(s) for s in smoothed)
    return np.asarray(lrs[0][:n], dtype=np.float64), np.mean(
        np.asarray([s[:n] for s in smoothed], dtype=np.float64), axis=0
    )


def summarise_curves(
    *,
    seeds: Sequence[int],
    lrs: Sequence[Sequence[float]],
    smoothed: Sequence[Sequence[float]],
    num_iter: int,
    train_seconds: float,
) -> RangeTestResult:
    """The result of a test from each seed's recorded lrs and smoothed losses."""
    per_seed = [
        SeedResult(
            seed=seed,
            iterations=len(s),
            stopped_early=len(s) < num_iter,
            suggestions=suggestions_read(suggest(x, s, num_iter=num_iter)),
        )
        for seed, x, s in zip(seeds, lrs, smoothed, strict=True)
    ]
    x, y = mean_curve(lrs, smoothed)
    spread: dict[str, Spread | None] | None = None
    if len(per_seed) > 1:
        spread = {name: _spread(per_seed, name) for name in SUGGESTION_NAMES}
    return RangeTestResult(
        iterations=int(x.size),
        stopped_early=any(r.stopped_early for r in per_seed),
        suggestions=suggestions_read(suggest(x, y, num_iter=num_iter)),
        seeds=per_seed,
        spread=spread,
        train_seconds=train_seconds,
    )


def _spread(per_seed: Sequence[SeedResult], name: str) -> Spread | None:
    values = [s.lr for r in per_seed if (s := getattr(r.suggestions, name)) is not None]
    if not values:
        return None
    logs = np.log10(np.asarray(values, dtype=np.float64))
    return Spread(
        seeds=len(values),
        min_lr=min(values),
        max_lr=max(values),
        geometric_mean_lr=float(10 ** logs.mean()),
        log10_std=float(logs.std(ddof=1)) if len(values) > 1 else 0.0,
    )


def finite_or_none(value: float) -> float | None:
    """JSON has no NaN or inf: a diverged loss is shown as null."""
    return value if math.isfinite(value) else None
