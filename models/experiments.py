"""Experiments as the API sees them: submit, read, list, cancel, and the read model.

Functions flush, never commit: the caller owns the transaction. The worker's side of the
lifecycle (claims, leases, epoch records) is the ledger, `models.ledger`.
"""

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.errors import ConflictError, NotFoundError
from models.idempotency import request_hash, reserve_key
from models.ledger import close_experiment
from models.metrics import float32_shortest
from models.specs import ExperimentCreate, ExperimentRead, ExperimentResult, Progress
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
        done = "been cancelled" if experiment.status == "cancelled" else experiment.status
        raise ConflictError(f"experiment {experiment_id} has already {done}")
    close_experiment(session, experiment=experiment, status="cancelled")
    session.flush()
    return experiment


def list_metrics(session: Session, *, experiment_id: uuid.UUID) -> Sequence[Metric]:
    """Return the experiment's metrics ordered by epoch."""
    get_experiment(session, experiment_id=experiment_id)
    return session.scalars(
        select(Metric).where(Metric.experiment_id == experiment_id).order_by(Metric.epoch)
    ).all()


def list_step_lrs(session: Session, *, experiment_id: uuid.UUID) -> list[list[float]]:
    """Return the lr of every optimizer step (as float32 shortest decimals), one list per epoch."""
    get_experiment(session, experiment_id=experiment_id)
    return [
        float32_shortest(lrs)
        for lrs in session.scalars(
            select(Metric.step_lrs)
            .where(Metric.experiment_id == experiment_id)
            .order_by(Metric.epoch)
        )
    ]


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


def experiment_counts(session: Session) -> list[tuple[str, str, int]]:
    """(status, queue, count) over all experiments: one GROUP BY, cheap enough per scrape."""
    rows = session.execute(
        select(Experiment.status, Experiment.queue, func.count()).group_by(
            Experiment.status, Experiment.queue
        )
    ).all()
    return [(status, queue, int(count)) for status, queue, count in rows]
