"""The shapes of the API's main answers, as `TypedDict`s: what `LrlabClient` returns.

They describe the JSON as sent (ids and times are strings); the API's OpenAPI document
(`/openapi.json`) is the full reference. Fields the API may add later are not listed here, and
reading them with `answer.get("field")` keeps working.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

__all__ = [
    "EXPERIMENT_TERMINAL",
    "SWEEP_TERMINAL",
    "Comparison",
    "ComparisonRow",
    "ExperimentRead",
    "ExperimentResult",
    "KeyRef",
    "MetricRow",
    "PairedStats",
    "Progress",
    "PruningDecision",
    "RangeTestProgress",
    "RangeTestRead",
    "RangeTestResult",
    "Stat",
    "Suggestion",
    "Suggestions",
    "SweepCounts",
    "SweepProgress",
    "SweepRead",
]

# The statuses after which an experiment (or a range test) changes no more; a sweep's.
EXPERIMENT_TERMINAL = frozenset({"succeeded", "failed", "cancelled", "pruned"})
SWEEP_TERMINAL = frozenset({"completed", "failed", "cancelled"})


class KeyRef(TypedDict):
    """The key that submitted or cancelled a resource (never its secret)."""

    id: str
    label: str


class Progress(TypedDict):
    """How far an experiment has got."""

    epochs_done: int
    epochs: int


class ExperimentResult(TypedDict):
    """A finished experiment's headline figures."""

    final_val_accuracy: float | None
    best_val_accuracy: float | None
    best_epoch: int | None
    train_seconds: float


class MetricRow(TypedDict):
    """One finished epoch (`GET /experiments/{id}/metrics`, an `epoch` event)."""

    epoch: int
    lr: float
    loss: float
    accuracy: float
    val_loss: float
    val_accuracy: float
    seconds: float


class ExperimentRead(TypedDict):
    """`GET /experiments/{id}`; the 202 of `POST /experiments` adds `warnings`."""

    id: str
    name: str | None
    status: str
    scheduler_type: str
    spec: dict[str, Any]
    sweep_id: NotRequired[str | None]
    label: NotRequired[str | None]
    progress: Progress
    attempt: int
    dataset: dict[str, Any] | None
    device: NotRequired[str | None]
    versions: NotRequired[dict[str, str] | None]
    result: ExperimentResult | None
    error: str | None
    events: NotRequired[list[dict[str, Any]]]
    reproducibility: NotRequired[dict[str, Any] | None]
    pruned_at_epoch: NotRequired[int | None]
    created_at: str
    updated_at: str
    started_at: str | None
    finished_at: str | None
    submitted_by: NotRequired[KeyRef | None]
    cancelled_by: NotRequired[KeyRef | None]
    warnings: NotRequired[list[str]]
    # Set by `LrlabClient.watch` from the event stream: the member's latest epoch.
    latest_metrics: NotRequired[MetricRow]


class SweepCounts(TypedDict):
    """A sweep's members per status."""

    queued: int
    running: int
    succeeded: int
    failed: int
    cancelled: int
    pruned: NotRequired[int]


class SweepProgress(TypedDict):
    """How far a sweep's members have got, all together."""

    experiments_done: int
    experiments: int
    epochs_done: int
    epochs: int


class SweepRead(TypedDict):
    """`GET /sweeps/{id}`; `experiments` lists the member ids. The 202 of `POST /sweeps` adds
    `warnings` and `member_warnings`."""

    id: str
    name: str | None
    status: str
    counts: SweepCounts
    progress: SweepProgress
    experiments: list[str]
    spec: dict[str, Any]
    created_at: str
    updated_at: str
    submitted_by: NotRequired[KeyRef | None]
    cancelled_by: NotRequired[KeyRef | None]
    warnings: NotRequired[list[str]]
    member_warnings: NotRequired[list[dict[str, Any]]]


class Stat(TypedDict):
    """Mean, sample std and Student-t 95% interval over the runs that have the figure."""

    n: int
    mean: float | None
    std: float | None
    ci95: list[float] | None
    small_sample: bool


class PairedStats(TypedDict):
    """A configuration minus the baseline on `metric`, seed by seed (see the API's schema)."""

    baseline: str
    metric: str
    method: str
    pairs: int
    excluded_pruned: int
    excluded_failed: int
    mean_difference: float | None
    ci95: list[float] | None
    p_t: float | None
    p_sign_flip: float | None
    sign_flip_method: str | None
    p_t_holm: float | None
    p_sign_flip_holm: float | None
    verdict: str


class ComparisonRow(TypedDict):
    """One configuration of a sweep, its seeds aggregated."""

    rank: int
    label: str
    scheduler: dict[str, Any]
    training: dict[str, Any]
    runs: int
    failed: int
    cancelled: int
    pending: int
    reached_target: int
    reached_fraction: float | None
    final_val_accuracy: Stat
    best_val_accuracy: Stat
    final_val_loss: Stat
    epochs_to_target: Stat
    auc_val_accuracy: Stat
    pruned: NotRequired[int]
    paired: NotRequired[PairedStats | None]
    paired_target: NotRequired[PairedStats | None]


class Comparison(TypedDict):
    """`GET /sweeps/{id}/comparison`: rows in rank order."""

    sweep_id: str
    target: float
    rows: list[ComparisonRow]
    baseline: NotRequired[str | None]


class PruningDecision(TypedDict):
    """One decision of a sweep's pruning rule (`GET /sweeps/{id}/pruning`), in its units."""

    order: int
    experiment: str
    label: str | None
    seed: int | None
    rung: int
    epoch: int
    metric: str
    value: float
    cutoff: float | None
    compared: int
    decision: str
    at: str


class Suggestion(TypedDict):
    """A suggested lr and the smoothed loss there."""

    lr: float
    loss: float


class Suggestions(TypedDict):
    """fastai's four suggestions; None where the curve is too short for the method."""

    valley: Suggestion | None
    slide: Suggestion | None
    minimum: Suggestion | None
    steep: Suggestion | None


class RangeTestResult(TypedDict):
    """A finished range test."""

    iterations: int
    stopped_early: bool
    suggestions: Suggestions
    seeds: list[dict[str, Any]]
    spread: dict[str, Any] | None
    train_seconds: float


class RangeTestProgress(TypedDict):
    """How far a range test's running attempt has got."""

    iterations_done: int
    num_iter: int


class RangeTestRead(TypedDict):
    """`GET /range-tests/{id}` and the answer of `POST /range-tests`."""

    id: str
    name: str | None
    status: str
    spec: dict[str, Any]
    progress: RangeTestProgress
    attempt: int
    dataset: dict[str, Any] | None
    result: RangeTestResult | None
    error: str | None
    created_at: str
    updated_at: str
    started_at: str | None
    finished_at: str | None
