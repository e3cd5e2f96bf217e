"""Sweeps stored and read: members created from the expanded grid, progress, long metrics."""

import uuid
from collections import Counter
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.errors import ConflictError, NotFoundError
from models.experiments import cancel_experiment, create_experiment
from models.idempotency import request_hash, reserve_key
from models.metrics import MetricRead
from models.sweep_grid import SweepCreate
from models.tables import STATUSES, TERMINAL_STATUSES, Experiment, Metric, Sweep


class SweepCounts(BaseModel):
    """Members per status."""

    queued: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0


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


class SweepPage(BaseModel):
    """One page of sweeps, newest first."""

    items: list[SweepRead]
    total: int
    limit: int
    offset: int


class SweepSubmitted(BaseModel):
    """The answer to `POST /sweeps`."""

    id: uuid.UUID
    status: str
    experiments: list[uuid.UUID]


def submit_sweep(
    session: Session,
    *,
    sweep: SweepCreate,
    queue: str,
    idempotency_key: str | None,
    key_ttl_hours: int,
) -> tuple[Sweep, list[uuid.UUID], bool]:
    """Store the sweep and all its members, or return the one this key already made."""
    sweep_id = uuid.uuid4()
    if idempotency_key is not None:
        original = reserve_key(
            session,
            scope="sweep",
            key=idempotency_key,
            body_hash=request_hash(sweep.model_dump(mode="json")),
            resource_id=sweep_id,
            ttl_hours=key_ttl_hours,
        )
        if original is not None:
            existing = get_sweep(session, sweep_id=original)
            return existing, _member_ids(session, original), False
    row = Sweep(id=sweep_id, name=sweep.name, spec=sweep.model_dump(mode="json"))
    session.add(row)
    session.flush()
    members = [
        create_experiment(
            session, spec=cell.spec, queue=sweep.queue or queue, sweep_id=sweep_id, label=cell.label
        ).id
        for cell in sweep.cells
    ]
    return row, members, True


def member_warnings(
    session: Session, *, sweep: SweepCreate, sweep_id: uuid.UUID
) -> list[MemberWarnings]:
    """Each member's preview warnings; computed once per configuration (seeds share them)."""
    by_label: dict[str, list[str]] = {}
    for cell in sweep.cells:
        if cell.label not in by_label:
            by_label[cell.label] = cell.spec.warnings()
    rows = session.execute(
        select(Experiment.id, Experiment.label)
        .where(Experiment.sweep_id == sweep_id)
        .order_by(Experiment.created_at, Experiment.id)
    ).all()
    return [
        MemberWarnings(experiment=member, label=label, warnings=by_label[label])
        for member, label in rows
        if label is not None and by_label.get(label)
    ]


def get_sweep(session: Session, *, sweep_id: uuid.UUID) -> Sweep:
    """Return the sweep or raise NotFoundError."""
    sweep = session.get(Sweep, sweep_id)
    if sweep is None:
        raise NotFoundError(f"sweep {sweep_id} not found")
    return sweep


def list_sweeps(session: Session, *, limit: int, offset: int) -> tuple[list[Sweep], int]:
    """Return one page of sweeps, newest first, and the total count."""
    total = session.scalar(select(func.count()).select_from(Sweep)) or 0
    page = session.scalars(
        select(Sweep).order_by(Sweep.created_at.desc(), Sweep.id.desc()).limit(limit).offset(offset)
    )
    return list(page), total


def cancel_sweep(session: Session, *, sweep_id: uuid.UUID) -> Sweep:
    """Cancel every member that has not finished."""
    sweep = session.scalars(
        select(Sweep).where(Sweep.id == sweep_id).with_for_update()
    ).one_or_none()
    if sweep is None:
        raise NotFoundError(f"sweep {sweep_id} not found")
    pending = session.scalars(
        select(Experiment.id).where(
            Experiment.sweep_id == sweep_id, Experiment.status.in_(("queued", "running"))
        )
    ).all()
    if sweep.cancelled_at is not None or not pending:
        state = "been cancelled" if sweep.cancelled_at is not None else "finished"
        raise ConflictError(f"sweep {sweep_id} has already {state}")
    for experiment_id in pending:
        cancel_experiment(session, experiment_id=experiment_id)
    sweep.cancelled_at = func.now()
    session.flush()
    return sweep


def sweep_read(session: Session, sweep: Sweep) -> SweepRead:
    """Build the API view of a sweep from its members' current state."""
    rows = session.execute(
        select(Experiment.id, Experiment.status, Experiment.epochs_done, Experiment.epochs)
        .where(Experiment.sweep_id == sweep.id)
        .order_by(Experiment.created_at)
    ).all()
    counts = Counter(r.status for r in rows)
    done = sum(counts[s] for s in TERMINAL_STATUSES)
    if sweep.cancelled_at is not None:
        status = "cancelled"
    elif done == len(rows):
        status = "completed"
    elif counts["queued"] == len(rows):
        status = "queued"
    else:
        status = "running"
    return SweepRead(
        id=sweep.id,
        name=sweep.name,
        status=status,
        counts=SweepCounts(**{s: counts[s] for s in STATUSES}),
        progress=SweepProgress(
            experiments_done=done,
            experiments=len(rows),
            epochs_done=sum(r.epochs_done for r in rows),
            epochs=sum(r.epochs for r in rows),
        ),
        experiments=[r.id for r in rows],
        spec=sweep.spec,
        created_at=sweep.created_at,
        updated_at=sweep.updated_at,
    )


class SweepMetricRow(MetricRead):
    """One member's epoch, in the long format of `GET /sweeps/<id>/metrics`."""

    sweep: uuid.UUID
    experiment: uuid.UUID
    label: str
    seed: int
    status: str


# CSV columns: which member first, then the epoch's metrics.
SWEEP_METRIC_FIELDS = (
    *(f for f in SweepMetricRow.model_fields if f not in MetricRead.model_fields),
    *MetricRead.model_fields,
)


def sweep_metric_rows(session: Session, *, sweep_id: uuid.UUID) -> list[SweepMetricRow]:
    """Every member's per-epoch rows, by member then epoch."""
    get_sweep(session, sweep_id=sweep_id)
    rows = session.execute(
        select(Experiment, Metric)
        .join(Metric, Metric.experiment_id == Experiment.id)
        .where(Experiment.sweep_id == sweep_id)
        .order_by(Experiment.created_at, Metric.epoch)
    ).all()
    return [
        SweepMetricRow(
            sweep=sweep_id,
            experiment=e.id,
            label=e.label or e.scheduler_type,
            seed=e.spec["training"]["seed"],
            status=e.status,
            **{name: getattr(m, name) for name in MetricRead.model_fields},
        )
        for e, m in rows
    ]


def _member_ids(session: Session, sweep_id: uuid.UUID) -> list[uuid.UUID]:
    return list(
        session.scalars(
            select(Experiment.id)
            .where(Experiment.sweep_id == sweep_id)
            .order_by(Experiment.created_at)
        )
    )
