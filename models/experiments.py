"""The experiment lifecycle: every state change goes through these functions.

They may flush, never commit: the caller owns the transaction. Worker-side writes carry the
attempt number that claimed the experiment and are refused for any other attempt (fencing).
"""

import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

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


def mark_enqueued(session: Session, *, experiment_ids: Sequence[uuid.UUID]) -> None:
    """Record that a message for these experiments was handed to the broker."""
    session.execute(
        update(Experiment)
        .where(Experiment.id.in_(experiment_ids), Experiment.status == "queued")
        .values(enqueued_at=func.now())
    )


def claim_experiment(
    session: Session, *, experiment_id: uuid.UUID, lease_seconds: int
) -> Experiment | None:
    """Move a queued experiment to running under a new attempt; None if it is not claimable."""
    claimed = session.scalars(
        update(Experiment)
        .where(Experiment.id == experiment_id, Experiment.status == "queued")
        .values(
            status="running",
            attempt=Experiment.attempt + 1,
            lease_expires_at=func.now() + timedelta(seconds=lease_seconds),
            started_at=func.coalesce(Experiment.started_at, func.now()),
        )
        .returning(Experiment)
        .execution_options(populate_existing=True)
    ).one_or_none()
    return claimed


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
) -> bool:
    """Store one finished epoch and renew the lease; False means stop (cancelled or fenced)."""
    experiment = _owned(session, experiment_id, attempt)
    if experiment is None:
        return False
    session.add(Metric(experiment_id=experiment_id, attempt=attempt, **metrics.model_dump()))
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
