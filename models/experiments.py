"""The experiment lifecycle: every state change goes through these functions.

They may flush, never commit: the caller owns the transaction. Worker-side writes carry the
attempt number that claimed the experiment and are refused for any other attempt (fencing).
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, tuple_, update
from sqlalchemy.orm import Session

from models.checkpoints import delete_checkpoint, load_checkpoint, save_checkpoint
from models.errors import ConflictError, NotFoundError
from models.idempotency import request_hash, reserve_key
from models.specs import EpochMetrics, ExperimentCreate, ExperimentRead, ExperimentResult, Progress
from models.tables import TERMINAL_STATUSES, Experiment, Metric


def submit_experiment(
    session: Session,
    *,
    spec: ExperimentCreate,
    queue: str,
    idempotency_key: str | None,
    key_ttl_hours: int,
) -> tuple[Experiment, bool]:
    """Create a queued experiment, or return the one this idempotency key already made.

    The boolean says whether a new experiment was created (and so needs enqueuing).
    """
    experiment_id = uuid.uuid4()
    if idempotency_key is not None:
        original = reserve_key(
            session,
            scope="experiment",
            key=idempotency_key,
            body_hash=request_hash(spec.model_dump(mode="json")),
            resource_id=experiment_id,
            ttl_hours=key_ttl_hours,
        )
        if original is not None:
            return get_experiment(session, experiment_id=original), False
    return create_experiment(session, spec=spec, queue=queue, experiment_id=experiment_id), True


def create_experiment(
    session: Session,
    *,
    spec: ExperimentCreate,
    queue: str,
    experiment_id: uuid.UUID | None = None,
    sweep_id: uuid.UUID | None = None,
    label: str | None = None,
) -> Experiment:
    """Store a validated spec as a queued experiment."""
    experiment = Experiment(
        id=experiment_id or uuid.uuid4(),
        sweep_id=sweep_id,
        label=label,
        name=spec.name,
        status="queued",
        scheduler_type=spec.scheduler.type,
        spec=spec.model_dump(mode="json"),
        queue=queue,
        epochs=spec.training.epochs,
        epochs_done=0,
        attempt=0,
    )
    session.add(experiment)
    session.flush()
    return experiment


def get_experiment(session: Session, *, experiment_id: uuid.UUID) -> Experiment:
    """Return the experiment or raise NotFoundError."""
    experiment = session.get(Experiment, experiment_id)
    if experiment is None:
        raise NotFoundError(f"experiment {experiment_id} not found")
    return experiment


def list_experiments(
    session: Session,
    *,
    status: str | None = None,
    scheduler_type: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Experiment], int]:
    """Return one page of experiments, newest first, and the total matching count."""
    query = select(Experiment)
    if status is not None:
        query = query.where(Experiment.status == status)
    if scheduler_type is not None:
        query = query.where(Experiment.scheduler_type == scheduler_type)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = session.scalars(
        query.order_by(Experiment.created_at.desc(), Experiment.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(page), total


def cancel_experiment(session: Session, *, experiment_id: uuid.UUID) -> Experiment:
    """Cancel a queued or running experiment; a running one stops at its next epoch end."""
    experiment = _locked(session, experiment_id)
    if experiment.status in TERMINAL_STATUSES:
        raise ConflictError(f"experiment {experiment_id} is already {experiment.status}")
    experiment.status = "cancelled"
    delete_checkpoint(session, experiment_id=experiment.id)
    experiment.lease_expires_at = None
    experiment.finished_at = func.now()
    experiment.result = _summarise(session, experiment_id)
    session.flush()
    return experiment


def list_metrics(session: Session, *, experiment_id: uuid.UUID) -> Sequence[Metric]:
    """Return the experiment's metrics ordered by epoch."""
    get_experiment(session, experiment_id=experiment_id)
    return session.scalars(
        select(Metric).where(Metric.experiment_id == experiment_id).order_by(Metric.epoch)
    ).all()


def list_step_lrs(session: Session, *, experiment_id: uuid.UUID) -> list[list[float]]:
    """Return the lr of every optimizer step, one list per epoch, in one query."""
    get_experiment(session, experiment_id=experiment_id)
    return [
        list(lrs)
        for lrs in session.scalars(
            select(Metric.step_lrs)
            .where(Metric.experiment_id == experiment_id)
            .order_by(Metric.epoch)
        )
    ]


def mark_enqueued(session: Session, *, experiment_ids: Sequence[uuid.UUID]) -> None:
    """Record that a message for these experiments was handed to the broker."""
    session.execute(
        update(Experiment)
        .where(Experiment.id.in_(experiment_ids), Experiment.status == "queued")
        .values(enqueued_at=func.now())
    )


@dataclass(frozen=True)
class Claim:
    """A running experiment as one attempt owns it."""

    experiment_id: uuid.UUID
    attempt: int
    spec: ExperimentCreate
    epochs_done: int
    queue: str


def claim_group(
    session: Session,
    *,
    experiment_id: uuid.UUID,
    lease_seconds: int,
    group_size: int,
    max_attempts: int,
) -> list[Claim]:
    """Claim this queued experiment and up to `group_size - 1` compatible queued ones.

    Compatible: same queue, dataset, batch size and epoch count, so they can train fused.
    An experiment already tried `max_attempts` times fails instead of starting again.
    """
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
    if lead.attempt >= max_attempts:
        _give_up(session, lead, max_attempts)
        return []
    batch_size = lead.spec["training"]["batch_size"]
    others = session.scalars(
        select(Experiment)
        .where(
            Experiment.status == "queued",
            Experiment.id != lead.id,
            Experiment.queue == lead.queue,
            Experiment.epochs == lead.epochs,
            Experiment.attempt < max_attempts,
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
        _align_with_checkpoint(session, experiment)
        claims.append(
            Claim(
                experiment_id=experiment.id,
                attempt=experiment.attempt,
                spec=ExperimentCreate.model_validate(experiment.spec),
                epochs_done=experiment.epochs_done,
                queue=experiment.queue,
            )
        )
    session.flush()
    return claims


def resume_point(session: Session, *, experiment_id: uuid.UUID) -> bytes | None:
    """The checkpoint blob a new attempt continues from, if the run has one."""
    stored = load_checkpoint(session, experiment_id=experiment_id)
    return stored[1] if stored is not None else None


def renew_leases(
    session: Session, *, claims: Sequence[tuple[uuid.UUID, int]], lease_seconds: int
) -> set[uuid.UUID]:
    """Extend the leases this worker still holds; returns the ids it still owns."""
    if not claims:
        return set()
    renewed = session.scalars(
        update(Experiment)
        .where(
            tuple_(Experiment.id, Experiment.attempt).in_(list(claims)),
            Experiment.status == "running",
        )
        .values(lease_expires_at=func.now() + timedelta(seconds=lease_seconds))
        .returning(Experiment.id)
    ).all()
    return set(renewed)


def release_experiment(session: Session, *, experiment_id: uuid.UUID, attempt: int) -> bool:
    """Hand a running experiment back to the queue (worker shutdown); its checkpoint stays."""
    experiment = _owned(session, experiment_id, attempt)
    if experiment is None:
        return False
    experiment.status = "queued"
    experiment.lease_expires_at = None
    experiment.enqueued_at = None
    session.flush()
    return True


def expire_leases(session: Session, *, max_attempts: int) -> list[tuple[uuid.UUID, str]]:
    """Requeue running experiments whose lease ran out; fail those out of attempts.

    Returns (id, queue) of the experiments put back in the queue, to be enqueued after commit.
    """
    expired = session.scalars(
        select(Experiment)
        .where(Experiment.status == "running", Experiment.lease_expires_at < func.now())
        .with_for_update(skip_locked=True)
    ).all()
    requeued = []
    for experiment in expired:
        if experiment.attempt >= max_attempts:
            _give_up(session, experiment, max_attempts)
        else:
            experiment.status = "queued"
            experiment.lease_expires_at = None
            experiment.enqueued_at = None
            requeued.append((experiment.id, experiment.queue))
    session.flush()
    return requeued


def unsignalled_queued(
    session: Session, *, stale_after_seconds: float, grace_seconds: float = 5.0
) -> dict[str, list[tuple[uuid.UUID, bool]]]:
    """Queued experiments by queue whose message may be missing.

    Each comes with whether it was never published (True) or published long ago (False).
    """
    now = func.now()
    rows = session.execute(
        select(Experiment.id, Experiment.queue, Experiment.enqueued_at)
        .where(
            Experiment.status == "queued",
            or_(
                and_(
                    Experiment.enqueued_at.is_(None),
                    Experiment.updated_at < now - timedelta(seconds=grace_seconds),
                ),
                Experiment.enqueued_at < now - timedelta(seconds=stale_after_seconds),
            ),
        )
        .order_by(Experiment.created_at)
    ).all()
    by_queue: dict[str, list[tuple[uuid.UUID, bool]]] = {}
    for experiment_id, queue, enqueued_at in rows:
        by_queue.setdefault(queue, []).append((experiment_id, enqueued_at is None))
    return by_queue


def queued_count(session: Session, *, queue: str) -> int:
    """How many experiments wait in `queue`."""
    return (
        session.scalar(
            select(func.count()).where(Experiment.status == "queued", Experiment.queue == queue)
        )
        or 0
    )


def _give_up(session: Session, experiment: Experiment, max_attempts: int) -> None:
    experiment.status = "failed"
    experiment.error = (
        f"gave up after {experiment.attempt} attempt(s) (max_attempts={max_attempts}): "
        "the worker running it stopped before finishing"
    )
    experiment.lease_expires_at = None
    experiment.finished_at = func.now()
    experiment.result = _summarise(session, experiment.id)
    delete_checkpoint(session, experiment_id=experiment.id)


def _align_with_checkpoint(session: Session, experiment: Experiment) -> None:
    """A new attempt resumes after the checkpointed epoch, or starts over without one."""
    if experiment.epochs_done == 0:
        return
    stored = load_checkpoint(session, experiment_id=experiment.id)
    if stored is not None and stored[0] == experiment.epochs_done:
        return
    session.execute(delete(Metric).where(Metric.experiment_id == experiment.id))
    delete_checkpoint(session, experiment_id=experiment.id)
    experiment.epochs_done = 0


def record_dataset(
    session: Session, *, experiment_id: uuid.UUID, attempt: int, dataset: dict[str, Any]
) -> bool:
    """Record which data the attempt trains on; False if the attempt no longer owns the run."""
    experiment = _owned(session, experiment_id, attempt)
    if experiment is None:
        return False
    experiment.dataset = dataset
    session.flush()
    return True


def record_epoch(
    session: Session,
    *,
    experiment_id: uuid.UUID,
    attempt: int,
    metrics: EpochMetrics,
    lease_seconds: int,
    checkpoint: bytes | None = None,
) -> bool:
    """Store one finished epoch (and its checkpoint) and renew the lease.

    False means stop: the run was cancelled, or another attempt owns it now (fencing).
    """
    experiment = _owned(session, experiment_id, attempt)
    if experiment is None:
        return False
    session.add(Metric(experiment_id=experiment_id, attempt=attempt, **metrics.model_dump()))
    if checkpoint is not None:
        save_checkpoint(
            session,
            experiment_id=experiment_id,
            attempt=attempt,
            epoch=metrics.epoch,
            blob=checkpoint,
        )
    experiment.epochs_done = metrics.epoch
    experiment.lease_expires_at = func.now() + timedelta(seconds=lease_seconds)
    session.flush()
    return True


def finish_experiment(session: Session, *, experiment_id: uuid.UUID, attempt: int) -> bool:
    """Mark the attempt's run succeeded with its result summary."""
    experiment = _owned(session, experiment_id, attempt)
    if experiment is None:
        return False
    experiment.status = "succeeded"
    delete_checkpoint(session, experiment_id=experiment.id)
    experiment.result = _summarise(session, experiment_id)
    experiment.lease_expires_at = None
    experiment.finished_at = func.now()
    session.flush()
    return True


def fail_experiment(
    session: Session, *, experiment_id: uuid.UUID, attempt: int, error: str
) -> bool:
    """Mark the attempt's run failed with its error message."""
    experiment = _owned(session, experiment_id, attempt)
    if experiment is None:
        return False
    experiment.status = "failed"
    delete_checkpoint(session, experiment_id=experiment.id)
    experiment.error = error[:4000]
    experiment.result = _summarise(session, experiment_id)
    experiment.lease_expires_at = None
    experiment.finished_at = func.now()
    session.flush()
    return True


def experiment_read(experiment: Experiment) -> ExperimentRead:
    """Build the API view of an experiment row."""
    return ExperimentRead(
        id=experiment.id,
        name=experiment.name,
        status=experiment.status,
        scheduler_type=experiment.scheduler_type,
        spec=experiment.spec,
        progress=Progress(epochs_done=experiment.epochs_done, epochs=experiment.epochs),
        attempt=experiment.attempt,
        dataset=experiment.dataset,
        result=ExperimentResult.model_validate(experiment.result) if experiment.result else None,
        error=experiment.error,
        created_at=experiment.created_at,
        updated_at=experiment.updated_at,
        started_at=experiment.started_at,
        finished_at=experiment.finished_at,
    )


def _locked(session: Session, experiment_id: uuid.UUID) -> Experiment:
    experiment = session.scalars(
        select(Experiment)
        .where(Experiment.id == experiment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if experiment is None:
        raise NotFoundError(f"experiment {experiment_id} not found")
    return experiment


def _owned(session: Session, experiment_id: uuid.UUID, attempt: int) -> Experiment | None:
    """Lock the row if this attempt still runs it; a cancelled or superseded attempt gets None."""
    return session.scalars(
        select(Experiment)
        .where(
            Experiment.id == experiment_id,
            Experiment.attempt == attempt,
            Experiment.status == "running",
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()


def _summarise(session: Session, experiment_id: uuid.UUID) -> dict[str, Any] | None:
    rows = session.execute(
        select(Metric.epoch, Metric.val_accuracy, Metric.seconds)
        .where(Metric.experiment_id == experiment_id)
        .order_by(Metric.epoch)
    ).all()
    if not rows:
        return None
    best = max(rows, key=lambda r: (r.val_accuracy, -r.epoch))
    return ExperimentResult(
        final_val_accuracy=rows[-1].val_accuracy,
        best_val_accuracy=best.val_accuracy,
        best_epoch=best.epoch,
        train_seconds=sum(r.seconds for r in rows),
    ).model_dump()
