"""The lifecycle every job kind shares: claims, leases, fencing, release, requeue, give up.

Functions flush, never commit: the caller owns the transaction. Every write from a worker
carries the attempt number that claimed the job and is refused for any other attempt
(fencing). Each function takes the job's `JobKind` (`models.jobs.kinds`), whose hooks add what
only that kind keeps; nothing here knows a kind by name.
"""

import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import and_, func, or_, select, tuple_, update
from sqlalchemy.orm import Session

from models.jobs.kinds import JobKind
from models.tables import Job, JobStatus


def mark_enqueued(session: Session, *, job_ids: Sequence[uuid.UUID], kind: JobKind) -> None:
    """Record that a message for these jobs was handed to the broker."""
    table = kind.table
    ids = _lock_in_id_order(session, kind, table.id.in_(job_ids), table.status == JobStatus.QUEUED)
    if ids:
        session.execute(
            update(table)
            .where(table.id.in_(ids))
            .values(enqueued_at=func.now())
            # Leave loaded rows alone: expiring them would reload each after the caller's
            # commit, holding a pooled connection until the request's session closes.
            .execution_options(synchronize_session=False)
        )


def mark_unpublished(session: Session, *, job_ids: Sequence[uuid.UUID], kind: JobKind) -> None:
    """Forget a publish that did not happen: the reconciler re-publishes these first."""
    table = kind.table
    session.execute(
        update(table)
        .where(table.id.in_(job_ids), table.status == JobStatus.QUEUED)
        .values(enqueued_at=None)
    )


def reclaimed(session: Session, *, kind: JobKind, claim_token: uuid.UUID) -> list[Job]:
    """The jobs a claim named `claim_token` started, oldest first.

    A claim retried after its commit's acknowledgement was lost finds the jobs its first try
    started here, instead of nothing (and the attempt and lease it would otherwise burn).
    """
    table = kind.table
    return list(
        cast(
            Sequence[Job],
            session.scalars(
                select(table)
                .where(table.claim_token == claim_token, table.status == JobStatus.RUNNING)
                .order_by(table.created_at, table.id)
            ).all(),
        )
    )


def lock_queued(
    session: Session, *, kind: JobKind, job_id: uuid.UUID, max_attempts: int
) -> Job | None:
    """Lock a queued job for a claim; one out of attempts fails instead and gives None."""
    table = kind.table
    # The named job waits for its row lock: the holders are short transactions (a publish
    # being recorded, a cancel), and skipping would drop this delivery on the floor.
    job = cast(
        Job | None,
        session.scalars(
            select(table)
            .where(table.id == job_id, table.status == JobStatus.QUEUED)
            .with_for_update()
        ).one_or_none(),
    )
    if job is None:
        return None
    if out_of_attempts(job, max_attempts):
        give_up(session, kind, job, max_attempts)
        session.flush()
        return None
    return job


def start_attempt(job: Job, *, lease_seconds: int, claim_token: uuid.UUID | None) -> None:
    """Start a locked queued job's next attempt under this claim, with a fresh lease."""
    job.status = JobStatus.RUNNING
    job.attempt += 1
    job.lease_expires_at = func.now() + timedelta(seconds=lease_seconds)
    job.started_at = job.started_at or func.now()
    job.claim_token = claim_token


def renew_leases(
    session: Session,
    *,
    kind: JobKind,
    claims: Sequence[tuple[uuid.UUID, int]],
    lease_seconds: int,
) -> set[uuid.UUID]:
    """Extend the leases this worker still holds; returns the ids it still owns."""
    if not claims:
        return set()
    table = kind.table
    renewed = _lock_in_id_order(
        session,
        kind,
        tuple_(table.id, table.attempt).in_(list(claims)),
        table.status == JobStatus.RUNNING,
    )
    if renewed:
        session.execute(
            update(table)
            .where(table.id.in_(renewed))
            .values(lease_expires_at=func.now() + timedelta(seconds=lease_seconds))
            .execution_options(synchronize_session=False)
        )
    return set(renewed)


def release_job(session: Session, *, kind: JobKind, job_id: uuid.UUID, attempt: int) -> bool:
    """Hand a running job back to the queue (worker shutdown); what it saved stays."""
    job = owned_job(session, kind, job_id, attempt)
    if job is None:
        return False
    job.handed_back += 1
    requeue_job(session, kind, job)
    session.flush()
    return True


def requeue_job(session: Session, kind: JobKind, job: Job) -> None:
    """Put a locked job back in the queue: no lease, and no message until it is published."""
    job.status = JobStatus.QUEUED
    job.lease_expires_at = None
    job.enqueued_at = None
    kind.requeued(session, job)


def expire_leases(
    session: Session, *, kind: JobKind, max_attempts: int
) -> list[tuple[uuid.UUID, str]]:
    """Requeue running jobs whose lease ran out; fail those out of attempts.

    Returns (id, queue) of the jobs put back in the queue, to be enqueued after commit.
    """
    table = kind.table
    expired = cast(
        Sequence[Job],
        session.scalars(
            select(table)
            .where(table.status == JobStatus.RUNNING, table.lease_expires_at < func.now())
            .with_for_update(skip_locked=True)
        ).all(),
    )
    requeued = []
    for job in expired:
        if out_of_attempts(job, max_attempts):
            give_up(session, kind, job, max_attempts)
        else:
            requeue_job(session, kind, job)
            requeued.append((job.id, job.queue))
    session.flush()
    return requeued


def unsignalled_queued(
    session: Session,
    *,
    kind: JobKind,
    stale_after_seconds: float,
    grace_seconds: float = 5.0,
    limit: int = 1000,
) -> dict[str, list[tuple[uuid.UUID, bool]]]:
    """Queued jobs by queue whose message may be missing, at most `limit`, oldest first.

    Each comes with whether it was never published (True) or published long ago (False).
    The rest wait for the next pass: a pass costs the same however long the queue.
    """
    table = kind.table
    now = func.now()
    rows = session.execute(
        select(table.id, table.queue, table.enqueued_at)
        .where(
            table.status == JobStatus.QUEUED,
            or_(
                and_(
                    table.enqueued_at.is_(None),
                    table.updated_at < now - timedelta(seconds=grace_seconds),
                ),
                table.enqueued_at < now - timedelta(seconds=stale_after_seconds),
            ),
        )
        .order_by(table.created_at)
        .limit(limit)
    ).all()
    by_queue: dict[str, list[tuple[uuid.UUID, bool]]] = {}
    for job_id, queue, enqueued_at in rows:
        by_queue.setdefault(queue, []).append((job_id, enqueued_at is None))
    return by_queue


def queued_count(session: Session, *, kind: JobKind, queue: str) -> int:
    """How many jobs of this kind wait in `queue`."""
    table = kind.table
    return (
        session.scalar(
            select(func.count()).where(table.status == JobStatus.QUEUED, table.queue == queue)
        )
        or 0
    )


def close_owned(
    session: Session,
    kind: JobKind,
    job_id: uuid.UUID,
    attempt: int,
    *,
    status: JobStatus,
    error: str | None = None,
) -> bool:
    """End the job if this attempt still runs it; False if it does not (fencing)."""
    job = owned_job(session, kind, job_id, attempt)
    if job is None:
        return False
    kind.close(session, [job], status=status, error=error)
    session.flush()
    return True


def out_of_attempts(job: Job, max_attempts: int) -> bool:
    """Whether the job's attempts that did not hand it back reached `max_attempts`."""
    return job.attempt - job.handed_back >= max_attempts


def give_up(session: Session, kind: JobKind, job: Job, max_attempts: int) -> None:
    """Fail a job that has used up its attempts, with the last attempt's own reason if any."""
    # The last attempt's own refusal (e.g. other data) says more than "it stopped".
    reason = kind.last_note(job) or "the worker running it stopped before finishing"
    kind.close(
        session,
        [job],
        status=JobStatus.FAILED,
        error=(
            f"gave up after {job.attempt - job.handed_back} attempt(s) "
            f"(max_attempts={max_attempts}"
            + (f"; {job.handed_back} more handed it back" if job.handed_back else "")
            + f"): {reason}"
        ),
    )


def owned_job(session: Session, kind: JobKind, job_id: uuid.UUID, attempt: int) -> Job | None:
    """Lock the row if this attempt still runs it; a cancelled or superseded attempt gets None."""
    table = kind.table
    return cast(
        Job | None,
        session.scalars(
            select(table)
            .where(table.id == job_id, table.attempt == attempt, table.status == JobStatus.RUNNING)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one_or_none(),
    )


def _lock_in_id_order(session: Session, kind: JobKind, *conditions: Any) -> list[uuid.UUID]:
    """Lock the matching job rows in id order (one order everywhere: no deadlocks)."""
    table = kind.table
    return list(
        session.scalars(select(table.id).where(*conditions).order_by(table.id).with_for_update())
    )
