"""A sweep's metrics in long format (`GET /sweeps/<id>/metrics`): every member's epochs, read
and sent page by page.

A page is a run of consecutive members with about `ROWS_PER_PAGE` recorded epochs between
them (one long member alone), read in one query as plain tuples: a 500-member sweep of 100
epochs is 50,000 rows, which as ORM objects and one model each cost ~3 s of the API's CPU.
"""

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.storage import Sessions
from models.sweeps.service import get_sweep
from models.tables import Experiment, Metric
from models.training import MetricRead, float32_shortest

# Bounds one page: its query, and ~50 ms of CPU to read and encode it.
ROWS_PER_PAGE = 5_000


class SweepMetricRow(MetricRead):
    """One member's epoch, in the long format of `GET /sweeps/<id>/metrics`."""

    sweep: uuid.UUID
    experiment: uuid.UUID
    label: str
    seed: int
    status: str


# Columns of a row: which member first, then the epoch's metrics.
SWEEP_METRIC_FIELDS = (
    *(f for f in SweepMetricRow.model_fields if f not in MetricRead.model_fields),
    *MetricRead.model_fields,
)


@dataclass(frozen=True)
class Member:
    """A member as its rows name it, and how many epochs it has recorded."""

    sweep: uuid.UUID
    id: uuid.UUID
    label: str
    seed: int
    status: str
    epochs_done: int


def sweep_members(session: Session, *, project_id: uuid.UUID, sweep_id: uuid.UUID) -> list[Member]:
    """The sweep's members in submission order (NotFoundError for another project's sweep)."""
    get_sweep(session, project_id=project_id, sweep_id=sweep_id)
    rows = session.execute(
        select(
            Experiment.id,
            Experiment.label,
            Experiment.scheduler_type,
            Experiment.spec["training"]["seed"].as_integer(),
            Experiment.status,
            Experiment.epochs_done,
        )
        .where(Experiment.sweep_id == sweep_id, Experiment.project_id == project_id)
        .order_by(Experiment.created_at, Experiment.id)
    ).all()
    return [
        Member(sweep_id, id_, label or scheduler_type, seed, status, epochs_done)
        for id_, label, scheduler_type, seed, status, epochs_done in rows
    ]


def pages(members: Sequence[Member], *, rows: int) -> list[list[Member]]:
    """Consecutive members grouped to about `rows` recorded epochs a page (none left empty)."""
    grouped: list[list[Member]] = []
    current: list[Member] = []
    filled = 0
    for member in members:
        if current and filled + member.epochs_done > rows:
            grouped.append(current)
            current, filled = [], 0
        current.append(member)
        filled += member.epochs_done
    if current:
        grouped.append(current)
    return grouped


def metric_pages(
    sessions: Sessions, *, members: Sequence[Member], rows_per_page: int | None = None
) -> Iterator[list[tuple[Any, ...]]]:
    """Each page's rows (`metric_rows`), read when asked for, each in a short session."""
    for page in pages(members, rows=rows_per_page or ROWS_PER_PAGE):
        with sessions() as session:
            rows = metric_rows(session, members=page)
        yield rows


def metric_rows(session: Session, *, members: Sequence[Member]) -> list[tuple[Any, ...]]:
    """The epochs of `members`, by member then epoch, as tuples in SWEEP_METRIC_FIELDS order."""
    if not members:
        return []
    # Each member's columns made once, ids as text: not once per epoch row.
    named = {m.id: (str(m.sweep), str(m.id), m.label, m.seed, m.status) for m in members}
    found = (
        session.connection()
        .execute(
            select(
                Metric.experiment_id,
                Metric.epoch,
                Metric.lr,
                Metric.loss,
                Metric.accuracy,
                Metric.val_loss,
                Metric.val_accuracy,
                Metric.seconds,
            )
            .join(Experiment, Experiment.id == Metric.experiment_id)
            .where(Metric.experiment_id.in_(list(named)))
            # The members' order (`sweep_members`), then the epoch.
            .order_by(Experiment.created_at, Experiment.id, Metric.epoch)
        )
        .all()
    )
    # One conversion for the page: the lr as trained (float32), read out as people write it.
    lrs = float32_shortest([row[2] for row in found])
    return [(*named[row[0]], row[1], lr, *row[3:]) for row, lr in zip(found, lrs, strict=True)]
