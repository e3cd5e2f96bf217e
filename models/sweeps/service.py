"""Sweeps stored and read: members created from the expanded grid, progress, long metrics."""

import uuid
from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.errors import NotFoundError, already_finished
from models.experiments import (
    check_quotas,
    close_experiments,
    experiment_values,
    insert_experiments,
    key_ref,
    resolve_lr_references,
)
from models.jobs import request_hash, reserve_key
from models.storage import newest_first
from models.sweeps.schemas import (
    MemberWarnings,
    SweepCounts,
    SweepCreate,
    SweepProgress,
    SweepRead,
    SweepStatus,
)
from models.tables import STATUSES, TERMINAL_STATUSES, Experiment, JobStatus, Sweep, finished_phrase


def accept_sweep_spec(
    session: Session, *, project_id: uuid.UUID, document: dict[str, Any]
) -> SweepCreate:
    """Validate a sweep body, its range-test lr references resolved first (provenance kept).

    The sweep's spec keeps the provenance; its members' specs hold the resolved numbers.
    """
    resolved, sources = resolve_lr_references(
        session, project_id=project_id, document=document, title="SweepCreate"
    )
    return SweepCreate.model_validate({**resolved, "lr_from": sources})


def submit_sweep(
    session: Session,
    *,
    project_id: uuid.UUID,
    key_id: uuid.UUID | None,
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
            project_id=project_id,
            scope="sweep",
            key=idempotency_key,
            body_hash=request_hash(sweep.model_dump(mode="json")),
            resource_id=sweep_id,
            ttl_hours=key_ttl_hours,
        )
        if original is not None:
            existing = get_sweep(session, project_id=project_id, sweep_id=original)
            return existing, _member_ids(session, original), False
    cells = sweep.cells
    check_quotas(session, project_id=project_id, specs=[c.spec for c in cells], sweep=True)
    row = Sweep(
        id=sweep_id,
        project_id=project_id,
        submitted_by_key_id=key_id,
        name=sweep.name,
        spec=sweep.model_dump(mode="json"),
    )
    session.add(row)
    session.flush()
    members = [
        experiment_values(
            project_id=project_id,
            key_id=key_id,
            spec=cell.spec,
            queue=sweep.queue or queue,
            sweep_id=sweep_id,
            label=cell.label,
        )
        for cell in cells
    ]
    # One INSERT for all of them (a flush per member cost ~4 ms each). Rows go in grid order
    # and clock_timestamp() is read per row, so created_at keeps that order.
    insert_experiments(session, members)
    return row, [m["id"] for m in members], True


def member_warnings(
    session: Session, *, project_id: uuid.UUID, sweep: SweepCreate, sweep_id: uuid.UUID
) -> list[MemberWarnings]:
    """Each member's preview warnings; computed once per configuration (seeds share them)."""
    by_label: dict[str, list[str]] = {}
    for cell in sweep.cells:
        if cell.label not in by_label:
            by_label[cell.label] = cell.spec.warnings()
    rows = session.execute(
        select(Experiment.id, Experiment.label)
        .where(Experiment.sweep_id == sweep_id, Experiment.project_id == project_id)
        .order_by(Experiment.created_at, Experiment.id)
    ).all()
    return [
        MemberWarnings(experiment=member, label=label, warnings=by_label[label])
        for member, label in rows
        if label is not None and by_label.get(label)
    ]


def get_sweep(session: Session, *, project_id: uuid.UUID, sweep_id: uuid.UUID) -> Sweep:
    """Return the project's sweep, or NotFoundError (also when another project owns it)."""
    sweep = session.get(Sweep, sweep_id)
    if sweep is None or sweep.project_id != project_id:
        raise NotFoundError(f"sweep {sweep_id} not found")
    return sweep


def list_sweeps(
    session: Session,
    *,
    project_id: uuid.UUID,
    limit: int,
    offset: int = 0,
    after: str | None = None,
) -> tuple[list[Sweep], int, bool, str | None]:
    """One page of the project's sweeps, newest first: (items, total, exact, next cursor)."""
    query = select(Sweep).where(Sweep.project_id == project_id)
    return newest_first(session, query, Sweep, limit=limit, offset=offset, after=after)


def cancel_sweep(
    session: Session, *, project_id: uuid.UUID, key_id: uuid.UUID | None, sweep_id: uuid.UUID
) -> Sweep:
    """Cancel every member that has not finished."""
    sweep = session.scalars(
        select(Sweep).where(Sweep.id == sweep_id, Sweep.project_id == project_id).with_for_update()
    ).one_or_none()
    if sweep is None:
        raise NotFoundError(f"sweep {sweep_id} not found")
    # Locked in id order, like every multi-row lock: no deadlock with a lease renewal.
    pending = session.scalars(
        select(Experiment)
        .where(
            Experiment.sweep_id == sweep_id,
            Experiment.status.in_((JobStatus.QUEUED, JobStatus.RUNNING)),
        )
        .order_by(Experiment.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    if not pending:
        counts = Counter(
            session.scalars(select(Experiment.status).where(Experiment.sweep_id == sweep_id))
        )
        raise already_finished(f"sweep {sweep_id}", finished_phrase(sweep_status(counts)))
    close_experiments(session, experiments=pending, status=JobStatus.CANCELLED)
    for experiment in pending:
        experiment.cancelled_by_key_id = key_id
    sweep.cancelled_at = func.now()
    sweep.cancelled_by_key_id = key_id
    session.flush()
    return sweep


def sweep_status(counts: Counter[str]) -> SweepStatus:
    """A sweep's status from its members' (docs/api.md, "Sweep status").

    `queued` while no member has left the queue, `running` while any member is queued or
    running, then `completed` if at least one succeeded, `failed` if none succeeded and some
    failed, `cancelled` otherwise (every member cancelled or pruned; pruning always lets a
    member through, so a sweep with no member left was cancelled).
    """
    total = sum(counts.values())
    if counts[JobStatus.QUEUED] + counts[JobStatus.RUNNING]:
        return SweepStatus.QUEUED if counts[JobStatus.QUEUED] == total else SweepStatus.RUNNING
    if counts[JobStatus.SUCCEEDED]:
        return SweepStatus.COMPLETED
    return SweepStatus.FAILED if counts[JobStatus.FAILED] else SweepStatus.CANCELLED


def sweep_read(session: Session, sweep: Sweep) -> SweepRead:
    """Build the API view of a sweep from its members' current state."""
    return sweep_reads(session, [sweep])[0]


def sweep_reads(session: Session, sweeps: Sequence[Sweep]) -> list[SweepRead]:
    """Build the API views of sweeps from one query over all their members."""
    rows = session.execute(
        select(
            Experiment.sweep_id,
            Experiment.id,
            Experiment.status,
            Experiment.epochs_done,
            Experiment.epochs,
        )
        .where(Experiment.sweep_id.in_([s.id for s in sweeps]))
        .order_by(Experiment.created_at)
    ).all()
    members: dict[uuid.UUID, list[Any]] = {s.id: [] for s in sweeps}
    for row in rows:
        members[row.sweep_id].append(row)
    return [_sweep_read(sweep, members[sweep.id]) for sweep in sweeps]


def _sweep_read(sweep: Sweep, rows: Sequence[Any]) -> SweepRead:
    counts = Counter(r.status for r in rows)
    done = sum(counts[s] for s in TERMINAL_STATUSES)
    return SweepRead(
        id=sweep.id,
        name=sweep.name,
        status=sweep_status(counts),
        counts=SweepCounts(**{s: counts[s] for s in STATUSES}),
        progress=SweepProgress(
            experiments_done=done,
            experiments=len(rows),
            epochs_done=sum(r.epochs_done for r in rows),
            # A pruned member's budget ends where it was stopped: a finished sweep shows 100%.
            epochs=sum(r.epochs_done if r.status == JobStatus.PRUNED else r.epochs for r in rows),
        ),
        experiments=[r.id for r in rows],
        spec=sweep.spec,
        created_at=sweep.created_at,
        updated_at=sweep.updated_at,
        submitted_by=key_ref(sweep.submitted_by),
        cancelled_by=key_ref(sweep.cancelled_by),
    )


def _member_ids(session: Session, sweep_id: uuid.UUID) -> list[uuid.UUID]:
    return list(
        session.scalars(
            select(Experiment.id)
            .where(Experiment.sweep_id == sweep_id)
            .order_by(Experiment.created_at)
        )
    )
