"""The worker's ledger: claims, leases, ends of runs and the reconciler's queries.

Functions flush, never commit: the caller owns the transaction. Every write from a worker
carries the attempt number that claimed the experiment and is refused for any other attempt
(fencing). The lease, fencing and reconciler functions take `table=`: experiments and range
tests (`models.range_test_ledger`) share the same lifecycle columns. What an attempt records
epoch by epoch is `models.epoch_records`.
"""

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import and_, func, or_, select, tuple_, update
from sqlalchemy.orm import Session

from models.checkpoints import (
    checkpoint_epoch,
    delete_checkpoints,
    load_checkpoint,
)
from models.events import signal
from models.specs import ExperimentCreate, ExperimentResult
from models.tables import Checkpoint, Experiment, Job, JobTable, Metric

log = logging.getLogger("lrlab.ledger")


def mark_enqueued(
    session: Session, *, experiment_ids: Sequence[uuid.UUID], table: JobTable = Experiment
) -> None:
    """Record that a message for these jobs was handed to the broker."""
    ids = _lock_in_id_order(
        session, table.id.in_(experiment_ids), table.status == "queued", table=table
    )
    if ids:
        session.execute(
            update(table)
            .where(table.id.in_(ids))
            .values(enqueued_at=func.now())
            # Leave loaded rows alone: expiring them would reload each after the caller's
            # commit, holding a pooled connection until the request's session closes.
            .execution_options(synchronize_session=False)
        )


def mark_unpublished(
    session: Session, *, experiment_ids: Sequence[uuid.UUID], table: JobTable = Experiment
) -> None:
    """Forget a publish that did not happen: the reconciler re-publishes these first."""
    session.execute(
        update(table)
        .where(table.id.in_(experiment_ids), table.status == "queued")
        .values(enqueued_at=None)
    )


@dataclass(frozen=True)
class Claim:
    """A running experiment as one attempt owns it."""

    experiment_id: uuid.UUID
    attempt: int
    spec: ExperimentCreate
    epochs_done: int
    queue: str
    # Training seconds of the earlier attempts (the time limit counts across attempts).
    training_seconds: float = 0.0


def claim_group(
    session: Session,
    *,
    experiment_id: uuid.UUID,
    lease_seconds: int,
    group_size: int,
    max_attempts: int,
    claim_token: uuid.UUID | None = None,
) -> list[Claim]:
    """Claim this queued experiment and up to `group_size - 1` compatible queued ones.

    Compatible: same queue, dataset, batch size and epoch count, so they can train fused.
    An experiment already tried `max_attempts` times fails instead of starting again.
    `claim_token` names this claim: a retry whose first try committed (its acknowledgement
    lost) gets the claims that try made instead of nothing.
    """
    if claim_token is not None:
        mine = session.scalars(
            select(Experiment)
            .where(Experiment.claim_token == claim_token, Experiment.status == "running")
            .order_by(Experiment.id != experiment_id, Experiment.created_at)
        ).all()
        if mine:
            return [_claim_of(e) for e in mine]
    # The named experiment waits for its row lock: the holders are short transactions (a
    # publish being recorded, a cancel), and skipping would drop this delivery on the floor.
    # Companions are optional, so those locked elsewhere are skipped.
    lead = session.scalars(
        select(Experiment)
        .where(Experiment.id == experiment_id, Experiment.status == "queued")
        .with_for_update()
    ).one_or_none()
    if lead is None:
        return []
    if out_of_attempts(lead, max_attempts):
        give_up(session, lead, max_attempts)
        return []
    batch_size = lead.spec["training"]["batch_size"]
    others = session.scalars(
        select(Experiment)
        .where(
            Experiment.status == "queued",
            Experiment.id != lead.id,
            Experiment.queue == lead.queue,
            Experiment.epochs == lead.epochs,
            Experiment.attempt - Experiment.handed_back < max_attempts,
            Experiment.spec.contains(
                {"dataset": lead.spec["dataset"], "training": {"batch_size": batch_size}}
            ),
        )
        .order_by(Experiment.created_at)
        .limit(group_size - 1)
        .with_for_update(skip_locked=True)
    ).all()
    claims = []
    for experiment in (lead, *others):
        experiment.status = "running"
        experiment.attempt += 1
        experiment.lease_expires_at = func.now() + timedelta(seconds=lease_seconds)
        experiment.started_at = experiment.started_at or func.now()
        experiment.claim_token = claim_token
        _align_with_checkpoint(session, experiment)
        signal(session, experiment)
        claims.append(_claim_of(experiment))
    session.flush()
    return claims


def _claim_of(experiment: Experiment) -> Claim:
    return Claim(
        experiment_id=experiment.id,
        attempt=experiment.attempt,
        spec=ExperimentCreate.model_validate(experiment.spec),
        epochs_done=experiment.epochs_done,
        queue=experiment.queue,
        training_seconds=experiment.training_seconds or 0.0,
    )


def resume_point(session: Session, *, experiment_id: uuid.UUID) -> bytes | None:
    """The checkpoint blob a new attempt continues from, if the run has one."""
    stored = load_checkpoint(session, experiment_id=experiment_id)
    return stored[1] if stored is not None else None


def renew_leases(
    session: Session,
    *,
    claims: Sequence[tuple[uuid.UUID, int]],
    lease_seconds: int,
    table: JobTable = Experiment,
) -> set[uuid.UUID]:
    """Extend the leases this worker still holds; returns the ids it still owns."""
    if not claims:
        return set()
    renewed = _lock_in_id_order(
        session,
        tuple_(table.id, table.attempt).in_(list(claims)),
        table.status == "running",
        table=table,
    )
    if renewed:
        session.execute(
            update(table)
            .where(table.id.in_(renewed))
            .values(lease_expires_at=func.now() + timedelta(seconds=lease_seconds))
            .execution_options(synchronize_session=False)
        )
    return set(renewed)


def add_event(experiment: Experiment, *, kind: str, attempt: int, message: str) -> None:
    """Append a note to the experiment's events (shown in its read model)."""
    event = {
        "at": datetime.now(UTC).isoformat(),
        "kind": kind,
        "attempt": attempt,
        "message": message,
    }
    # A new list: JSONB columns are not mutation-tracked in place.
    experiment.events = [*(experiment.events or []), event]


def finish_experiment(session: Session, *, experiment_id: uuid.UUID, attempt: int) -> bool:
    """Mark the attempt's run succeeded with its result summary."""
    return close_owned(session, experiment_id, attempt, status="succeeded")


def fail_experiment(
    session: Session, *, experiment_id: uuid.UUID, attempt: int, error: str
) -> bool:
    """Mark the attempt's run failed with its error message."""
    return close_owned(session, experiment_id, attempt, status="failed", error=error)


def release_experiment(
    session: Session, *, experiment_id: uuid.UUID, attempt: int, table: JobTable = Experiment
) -> bool:
    """Hand a running job back to the queue (worker shutdown); a checkpoint stays."""
    experiment = owned_job(session, experiment_id, attempt, table=table)
    if experiment is None:
        return False
    experiment.handed_back += 1
    requeue_job(session, experiment)
    session.flush()
    return True


def requeue_job(session: Session, job: Job) -> None:
    """Put a locked job back in the queue: no lease, and no message until it is published."""
    job.status = "queued"
    job.lease_expires_at = None
    job.enqueued_at = None
    if isinstance(job, Experiment):
        signal(session, job)


def expire_leases(
    session: Session, *, max_attempts: int, table: JobTable = Experiment
) -> list[tuple[uuid.UUID, str]]:
    """Requeue running jobs whose lease ran out; fail those out of attempts.

    Returns (id, queue) of the jobs put back in the queue, to be enqueued after commit.
    """
    expired = cast(
        Sequence[Job],
        session.scalars(
            select(table)
            .where(table.status == "running", table.lease_expires_at < func.now())
            .with_for_update(skip_locked=True)
        ).all(),
    )
    requeued = []
    for experiment in expired:
        if out_of_attempts(experiment, max_attempts):
            give_up(session, experiment, max_attempts)
        else:
            requeue_job(session, experiment)
            requeued.append((experiment.id, experiment.queue))
    session.flush()
    return requeued


def unsignalled_queued(
    session: Session,
    *,
    stale_after_seconds: float,
    grace_seconds: float = 5.0,
    table: JobTable = Experiment,
    limit: int = 1000,
) -> dict[str, list[tuple[uuid.UUID, bool]]]:
    """Queued jobs by queue whose message may be missing, at most `limit`, oldest first.

    Each comes with whether it was never published (True) or published long ago (False).
    The rest wait for the next pass: a pass costs the same however long the queue.
    """
    now = func.now()
    rows = session.execute(
        select(table.id, table.queue, table.enqueued_at)
        .where(
            table.status == "queued",
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
    for experiment_id, queue, enqueued_at in rows:
        by_queue.setdefault(queue, []).append((experiment_id, enqueued_at is None))
    return by_queue


def queued_count(session: Session, *, queue: str, table: JobTable = Experiment) -> int:
    """How many jobs wait in `queue`."""
    return (
        session.scalar(select(func.count()).where(table.status == "queued", table.queue == queue))
        or 0
    )


def end_job(job: Job, *, status: str, error: str | None = None) -> None:
    """Stamp a locked job's end: its status, error, no lease, the finish time."""
    job.status = status
    if error is not None:
        job.error = error[:4000]
    job.lease_expires_at = None
    job.finished_at = func.now()


def close_experiment(
    session: Session, *, experiment: Experiment, status: str, error: str | None = None
) -> None:
    """End a locked experiment: stamp the end, drop its checkpoint and lease, summarise it."""
    close_experiments(session, experiments=[experiment], status=status, error=error)


def close_experiments(
    session: Session, *, experiments: Sequence[Experiment], status: str, error: str | None = None
) -> None:
    """End locked experiments together: one checkpoint delete and one metrics read for all."""
    if not experiments:
        return
    ids = [e.id for e in experiments]
    delete_checkpoints(session, experiment_ids=ids)
    summaries = _summaries(session, ids)
    for experiment in experiments:
        experiment.result = summaries.get(experiment.id)
        end_job(experiment, status=status, error=error)
        signal(session, experiment)


def close_job(session: Session, *, job: Job, status: str, error: str | None = None) -> None:
    """End a locked job of either table (an experiment also gets its summary)."""
    if isinstance(job, Experiment):
        close_experiment(session, experiment=job, status=status, error=error)
    else:
        end_job(job, status=status, error=error)


def close_owned(
    session: Session,
    job_id: uuid.UUID,
    attempt: int,
    *,
    status: str,
    error: str | None = None,
    table: JobTable = Experiment,
) -> bool:
    """End the job if this attempt still runs it; False if it does not (fencing)."""
    job = owned_job(session, job_id, attempt, table=table)
    if job is None:
        return False
    close_job(session, job=job, status=status, error=error)
    session.flush()
    return True


def out_of_attempts(job: Job, max_attempts: int) -> bool:
    """Whether the job's attempts that did not hand it back reached `max_attempts`."""
    return job.attempt - job.handed_back >= max_attempts


def give_up(session: Session, job: Job, max_attempts: int) -> None:
    """Fail a job that has used up its attempts, with the last attempt's own reason if any."""
    events = (job.events or []) if isinstance(job, Experiment) else []
    last = events[-1] if events else None
    # The last attempt's own refusal (e.g. other data) says more than "it stopped".
    reason = (
        last["message"]
        if last is not None and last.get("attempt") == job.attempt
        else "the worker running it stopped before finishing"
    )
    close_job(
        session,
        job=job,
        status="failed",
        error=(
            f"gave up after {job.attempt - job.handed_back} attempt(s) "
            f"(max_attempts={max_attempts}"
            + (f"; {job.handed_back} more handed it back" if job.handed_back else "")
            + f"): {reason}"
        ),
    )


def _align_with_checkpoint(session: Session, experiment: Experiment) -> None:
    """A new attempt resumes after the newest checkpoint, or from the start without one.

    The recorded epochs stay: the ones after the checkpoint are trained again and compared with
    their rows (`record_recomputed_epoch`). A checkpoint row whose state cannot be read (a lost
    file) is logged and noted on the experiment, never silent; one newer than the record (which
    the same-transaction write rules out) is dropped.
    """
    if experiment.epochs_done == 0:
        return
    named = session.scalar(
        select(Checkpoint.epoch).where(Checkpoint.experiment_id == experiment.id)
    )
    readable = checkpoint_epoch(session, experiment_id=experiment.id)
    if named is not None and readable is None:
        message = (
            f"attempt {experiment.attempt} found no readable checkpoint for epoch {named}: "
            f"epochs 1..{experiment.epochs_done} are trained again from the start and "
            "compared with their recorded rows"
        )
        log.warning("experiment %s: %s", experiment.id, message)
        add_event(experiment, kind="checkpoint_lost", attempt=experiment.attempt, message=message)
        delete_checkpoints(session, experiment_ids=[experiment.id])
    elif readable is not None and readable > experiment.epochs_done:
        delete_checkpoints(session, experiment_ids=[experiment.id])


def _lock_in_id_order(
    session: Session, *conditions: Any, table: JobTable = Experiment
) -> list[uuid.UUID]:
    """Lock the matching job rows in id order (one order everywhere: no deadlocks)."""
    return list(
        session.scalars(select(table.id).where(*conditions).order_by(table.id).with_for_update())
    )


def owned_experiment(session: Session, experiment_id: uuid.UUID, attempt: int) -> Experiment | None:
    """`owned_job` of an experiment."""
    experiment = owned_job(session, experiment_id, attempt)
    assert experiment is None or isinstance(experiment, Experiment)
    return experiment


def owned_job(
    session: Session, job_id: uuid.UUID, attempt: int, *, table: JobTable = Experiment
) -> Job | None:
    """Lock the row if this attempt still runs it; a cancelled or superseded attempt gets None."""
    return cast(
        Job | None,
        session.scalars(
            select(table)
            .where(table.id == job_id, table.attempt == attempt, table.status == "running")
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one_or_none(),
    )


def _summaries(session: Session, experiment_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Any]:
    rows = session.execute(
        select(Metric.experiment_id, Metric.epoch, Metric.val_accuracy, Metric.seconds)
        .where(Metric.experiment_id.in_(experiment_ids))
        .order_by(Metric.experiment_id, Metric.epoch)
    ).all()
    by_id: dict[uuid.UUID, list[Any]] = {}
    for row in rows:
        by_id.setdefault(row.experiment_id, []).append(row)
    summaries = {}
    for experiment_id, runs in by_id.items():
        best = max(runs, key=lambda r: (r.val_accuracy, -r.epoch))
        summaries[experiment_id] = ExperimentResult(
            final_val_accuracy=runs[-1].val_accuracy,
            best_val_accuracy=best.val_accuracy,
            best_epoch=best.epoch,
            train_seconds=sum(r.seconds for r in runs),
        ).model_dump()
    return summaries
