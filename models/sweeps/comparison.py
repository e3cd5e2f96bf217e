"""Sweep comparison: per-configuration statistics over seeds, and the curves to plot."""

import math
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session

from models.plots import Curve
from models.sweeps.paired_comparison import (
    TARGET_METRIC,
    PairedStats,
    paired_stats,
    pick_baseline,
)
from models.sweeps.service import get_sweep
from models.tables import Experiment, JobStatus, Metric

COMPARED = ("final_val_accuracy", "best_val_accuracy", "final_val_loss",
            "epochs_to_target", "auc_val_accuracy")  # fmt: skip


class Stat(BaseModel):
    """Mean, sample standard deviation and Student-t 95% interval over the runs that have it.

    The interval is clipped to the metric's range (accuracy in [0, 1], epochs in
    [1, epochs], loss >= 0); `small_sample` flags n < 3, where it says little.
    """

    n: int
    mean: float | None
    std: float | None
    ci95: tuple[float, float] | None
    small_sample: bool


class ComparisonRow(BaseModel):
    """One scheduler configuration of a sweep, seeds aggregated."""

    rank: int
    label: str
    scheduler: dict[str, Any]
    training: dict[str, Any]
    runs: int
    failed: int
    cancelled: int
    pending: int
    reached_target: int
    # Of the runs that ended, cancelled ones aside, the share that reached the target: a
    # failed run (e.g. diverged to NaN) did not reach it. Succeeded runs that never reached
    # it are censored and are not in `epochs_to_target`.
    reached_fraction: float | None
    final_val_accuracy: Stat
    best_val_accuracy: Stat
    final_val_loss: Stat
    epochs_to_target: Stat
    auc_val_accuracy: Stat
    pruned: int = 0
    # Against the baseline configuration, seed by seed (None for the baseline itself): on
    # final val_accuracy, and on the ranking metric, epochs to the target (epochs saved).
    paired: PairedStats | None = None
    paired_target: PairedStats | None = None


class Comparison(BaseModel):
    """The comparison table of a sweep, ranked by `RANKING`."""

    sweep_id: uuid.UUID
    target: float
    rows: list[ComparisonRow]
    baseline: str | None = None


RANKING = (
    "highest share of runs reaching the target first, then fewest mean epochs to the target "
    "among those that reached it, then highest mean final val_accuracy"
)


def describe(values: Sequence[float], *, bounds: tuple[float, float] | None = None) -> Stat:
    """Summarise values; std and the interval need at least two.

    ci95 = mean ± t(0.975, n-1) · std / √n, clipped to `bounds` (the metric's range).
    """
    n = len(values)
    if n == 0:
        return Stat(n=0, mean=None, std=None, ci95=None, small_sample=True)
    mean = float(np.mean(values))
    if n == 1:
        return Stat(n=1, mean=mean, std=None, ci95=None, small_sample=True)
    # scipy is imported here: it costs a second at API start-up and only this needs it.
    from scipy import stats

    std = float(np.std(values, ddof=1))
    half = float(stats.t.ppf(0.975, n - 1)) * std / math.sqrt(n)
    low, high = mean - half, mean + half
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return Stat(n=n, mean=mean, std=std, ci95=(low, high), small_sample=n < 3)


def summarise_runs(
    curves: Sequence[list[tuple[float, float]]], *, target: float, failed: int = 0
) -> dict[str, Any]:
    """The compared figures of one configuration from its runs' (val_accuracy, val_loss).

    reached_fraction = reached / (succeeded runs + `failed` runs): a failed run counts as
    one that did not reach the target.
    """
    per_run = [_run_figures(curve, target) for curve in curves]
    epochs = max((len(c) for c in curves), default=1)
    bounds = {
        "final_val_accuracy": (0.0, 1.0),
        "best_val_accuracy": (0.0, 1.0),
        "auc_val_accuracy": (0.0, 1.0),
        "final_val_loss": (0.0, math.inf),
        "epochs_to_target": (1.0, float(epochs)),
    }
    figures: dict[str, Any] = {
        name: describe([v for r in per_run if (v := r[name]) is not None], bounds=bounds[name])
        for name in COMPARED
    }
    reached = figures["epochs_to_target"].n
    figures["reached_target"] = reached
    ended = len(per_run) + failed
    figures["reached_fraction"] = reached / ended if ended else None
    return figures


def rank_key(figures: dict[str, Any]) -> tuple[float, float, float]:
    """Sort key of `RANKING` (smaller ranks first)."""
    return (
        -(figures["reached_fraction"] or 0.0),
        figures["epochs_to_target"].mean or math.inf,
        -(figures["final_val_accuracy"].mean or -math.inf),
    )


def compare_sweep(
    session: Session,
    *,
    project_id: uuid.UUID,
    sweep_id: uuid.UUID,
    target: float,
    baseline: str | None = None,
) -> Comparison:
    """Rank the sweep's configurations by `RANKING`; failed, pruned and unfinished members
    are counted, not used. Each row is compared with the baseline (`baseline`: a label or a
    grid index; default the best-ranked) pair by pair over seeds."""
    groups = _groups(session, project_id, sweep_id)
    curves = _val_accuracy_curves(session, [e.id for g in groups.values() for e in g])
    rows = []
    for label, members in groups.items():
        finished = [e for e in members if e.status == JobStatus.SUCCEEDED and curves.get(e.id)]
        failed = sum(e.status == JobStatus.FAILED for e in members)
        figures = summarise_runs([curves[e.id] for e in finished], target=target, failed=failed)
        first = members[0].spec
        rows.append(
            {
                "label": label,
                "scheduler": first["scheduler"],
                "training": {k: v for k, v in first["training"].items() if k != "seed"},
                "runs": len(finished),
                "failed": failed,
                "cancelled": sum(e.status == JobStatus.CANCELLED for e in members),
                "pending": sum(e.status in (JobStatus.QUEUED, JobStatus.RUNNING) for e in members),
                **figures,
            }
        )
    rows.sort(key=rank_key)
    chosen = None
    if rows:
        chosen = pick_baseline(list(groups), [r["label"] for r in rows], baseline)
        finals = {e: curve[-1][0] for e, curve in curves.items() if curve}
        succeeded = {e.id for g in groups.values() for e in g if e.status == JobStatus.SUCCEEDED}
        paired = paired_stats(
            groups, {e: v for e, v in finals.items() if e in succeeded}, baseline=chosen
        )
        # Fewer epochs to the target is better: the negated count orients it like accuracy.
        reached = {e: _epochs_to(curves[e], target) for e in succeeded if curves.get(e)}
        paired_target = paired_stats(
            groups,
            {e: -float(n) for e, n in reached.items() if n is not None},
            baseline=chosen,
            metric=TARGET_METRIC,
        )
        for row in rows:
            row["pruned"] = sum(e.status == JobStatus.PRUNED for e in groups[row["label"]])
            row["paired"] = paired.get(row["label"])
            row["paired_target"] = paired_target.get(row["label"])
    return Comparison(
        sweep_id=sweep_id,
        target=target,
        rows=[ComparisonRow(rank=i + 1, **r) for i, r in enumerate(rows)],
        baseline=chosen,
    )


def sweep_curves(
    session: Session, *, project_id: uuid.UUID, sweep_id: uuid.UUID, metric: str
) -> list[Curve]:
    """Mean and mean ± std per epoch of `metric` for each configuration (succeeded runs)."""
    groups = _groups(session, project_id, sweep_id)
    succeeded = {label: {e.id for e in members if e.status == JobStatus.SUCCEEDED}
                 for label, members in groups.items()}  # fmt: skip
    members = [i for ids in succeeded.values() for i in ids]
    values = _per_run(session, members, Metric.epoch, getattr(Metric, metric))
    curves = []
    for label, ids in succeeded.items():
        if ids:
            curves.append(_curve(label, [values[i] for i in ids if i in values], runs=len(ids)))
    return curves


def _curve(label: str, curves: Sequence[tuple[Any, ...]], *, runs: int) -> Curve:
    """Mean and mean ± sample std per epoch, over the runs that recorded the epoch."""
    epochs = sorted({epoch for run_epochs, _ in curves for epoch in run_epochs})
    column = {epoch: k for k, epoch in enumerate(epochs)}
    grid = np.full((len(curves), len(epochs)), np.nan)
    for row, (run_epochs, run_values) in enumerate(curves):
        grid[row, [column[epoch] for epoch in run_epochs]] = run_values
    present = ~np.isnan(grid)
    count = present.sum(axis=0)
    mean = np.nansum(grid, axis=0) / np.maximum(count, 1)
    squares = np.where(present, grid - mean, 0.0) ** 2
    spread = np.where(count > 1, np.sqrt(squares.sum(axis=0) / np.maximum(count - 1, 1)), 0.0)
    return Curve(
        label=label,
        epochs=epochs,
        mean=mean.tolist(),
        low=(mean - spread).tolist(),
        high=(mean + spread).tolist(),
        runs=runs,
    )


def _groups(
    session: Session, project_id: uuid.UUID, sweep_id: uuid.UUID
) -> dict[str, list[Experiment]]:
    get_sweep(session, project_id=project_id, sweep_id=sweep_id)
    members = session.scalars(
        select(Experiment).where(Experiment.sweep_id == sweep_id).order_by(Experiment.created_at)
    ).all()
    groups: dict[str, list[Experiment]] = defaultdict(list)
    for member in members:
        groups[member.label or member.scheduler_type].append(member)
    return dict(groups)


def _val_accuracy_curves(
    session: Session, experiment_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[tuple[float, float]]]:
    arrays = _per_run(session, experiment_ids, Metric.val_accuracy, Metric.val_loss)
    return {
        experiment_id: list(zip(accuracy, loss, strict=True))
        for experiment_id, (accuracy, loss) in arrays.items()
    }


def _per_run(
    session: Session, experiment_ids: Sequence[uuid.UUID], *columns: Any
) -> dict[uuid.UUID, tuple[Any, ...]]:
    """Each run's `columns` as arrays in epoch order: 500 × 100 epochs come back as 500 rows
    of arrays, not 50,000 rows."""
    rows = session.connection().execute(
        select(
            Metric.experiment_id,
            *(func.array_agg(aggregate_order_by(column, Metric.epoch)) for column in columns),
        )
        .where(Metric.experiment_id.in_(experiment_ids))
        .group_by(Metric.experiment_id)
    )
    return {row[0]: tuple(row[1:]) for row in rows}


def _epochs_to(curve: list[tuple[float, float]], target: float) -> int | None:
    """The first epoch whose val_accuracy reached `target`, or None."""
    return next((i + 1 for i, (accuracy, _) in enumerate(curve) if accuracy >= target), None)


def _run_figures(curve: list[tuple[float, float]], target: float) -> dict[str, float | None]:
    accuracy = [a for a, _ in curve]
    reached = _epochs_to(curve, target)
    return {
        "final_val_accuracy": accuracy[-1],
        "best_val_accuracy": max(accuracy),
        "final_val_loss": curve[-1][1],
        "epochs_to_target": float(reached) if reached is not None else None,
        # Each epoch spans one unit, so the area divided by the epoch count is the mean.
        "auc_val_accuracy": float(np.mean(accuracy)),
    }


def comparison_csv_rows(comparison: Comparison) -> tuple[list[str], list[dict[str, Any]]]:
    """Flatten the comparison into CSV columns and rows."""
    fields = ["rank", "label", "runs", "failed", "cancelled", "pending", "reached_target",
              "reached_fraction"]  # fmt: skip
    for name in COMPARED:
        fields += [f"{name}_mean", f"{name}_std", f"{name}_ci95_low", f"{name}_ci95_high"]
    fields += PAIRED_CSV_FIELDS
    rows = []
    for row in comparison.rows:
        flat: dict[str, Any] = {f: getattr(row, f) for f in fields[:8]}
        for name in COMPARED:
            stat: Stat = getattr(row, name)
            flat |= {
                f"{name}_mean": stat.mean,
                f"{name}_std": stat.std,
                f"{name}_ci95_low": stat.ci95[0] if stat.ci95 else None,
                f"{name}_ci95_high": stat.ci95[1] if stat.ci95 else None,
            }
        rows.append(flat | _paired_csv(row))
    return fields, rows


# Each paired comparison's CSV columns: (column, what of PairedStats it holds).
_PAIRED_COLUMNS: tuple[tuple[str, Callable[[PairedStats], Any]], ...] = (
    ("paired_n", lambda p: p.pairs),
    ("mean_difference", lambda p: p.mean_difference),
    ("difference_ci95_low", lambda p: p.ci95[0] if p.ci95 else None),
    ("difference_ci95_high", lambda p: p.ci95[1] if p.ci95 else None),
    ("p_t", lambda p: p.p_t),
    ("p_sign_flip", lambda p: p.p_sign_flip),
    ("p_t_holm", lambda p: p.p_t_holm),
    ("p_sign_flip_holm", lambda p: p.p_sign_flip_holm),
    ("verdict", lambda p: p.verdict),
)
# The ranking metric's comparison, prefixed; its mean difference is the epochs saved.
_TARGET_NAMES = {"mean_difference": "epochs_saved_to_target"}
PAIRED_CSV_FIELDS = [
    "pruned",
    "baseline",
    "paired_method",
    *(name for name, _ in _PAIRED_COLUMNS),
    *(_TARGET_NAMES.get(name, f"target_{name}") for name, _ in _PAIRED_COLUMNS),
]


def _paired_csv(row: ComparisonRow) -> dict[str, Any]:
    flat: dict[str, Any] = {"pruned": row.pruned}
    if row.paired is not None:
        flat |= {"baseline": row.paired.baseline, "paired_method": row.paired.method}
        flat |= {name: value(row.paired) for name, value in _PAIRED_COLUMNS}
    if row.paired_target is not None:
        target = row.paired_target
        flat |= {
            _TARGET_NAMES.get(name, f"target_{name}"): value(target)
            for name, value in _PAIRED_COLUMNS
        }
    return flat
