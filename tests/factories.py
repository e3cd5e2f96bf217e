"""Plain factory functions for test data."""

import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from psycopg.errors import DeadlockDetected
from sqlalchemy import delete, or_, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from models.experiments import ExperimentCreate, claim_group, create_experiment, record_epoch
from models.storage import session_scope
from models.sweeps import SweepCreate, submit_sweep
from models.tables import Experiment, Project, RangeTest, Sweep
from models.training import EpochMetrics


def experiment_payload(**overrides: Any) -> dict[str, Any]:
    """A small valid experiment request body; keys in `overrides` replace whole sections."""
    payload: dict[str, Any] = {
        "name": "test",
        "scheduler": {"type": "step", "step_size": 1, "gamma": 0.5},
        "training": {"epochs": 2, "batch_size": 64, "learning_rate": 0.01},
        "dataset": {"name": "mnist", "train_samples": 512},
    }
    payload.update(overrides)
    return payload


def home_project_id(session: Session, name: str = "tests") -> uuid.UUID:
    """The id of this session's test project (the one `client`'s key belongs to)."""
    return session.scalars(select(Project.id).where(Project.name == name)).one()


def create_queued(
    session: Session, *, project_id: uuid.UUID | None = None, **overrides: Any
) -> Experiment:
    """Store a queued experiment built from `experiment_payload`, in the test project."""
    spec = ExperimentCreate.model_validate(experiment_payload(**overrides))
    return create_experiment(
        session,
        project_id=project_id or home_project_id(session),
        spec=spec,
        queue="lrlab-test-unused",
    )


def submit_test_sweep(
    session: Session, sweep: SweepCreate, *, idempotency_key: str | None = None
) -> tuple[Sweep, list[uuid.UUID], bool]:
    """Store a sweep and its members in the test project, as `POST /sweeps` would."""
    return submit_sweep(
        session,
        project_id=home_project_id(session),
        key_id=None,
        sweep=sweep,
        queue="lrlab-test-unused",
        idempotency_key=idempotency_key,
        key_ttl_hours=24,
    )


def epoch_metrics(epoch: int, **overrides: Any) -> EpochMetrics:
    """Plausible metrics for one epoch."""
    values: dict[str, Any] = {
        "epoch": epoch,
        "lr": 0.01,
        "step_lrs": [0.01, 0.01],
        "loss": 1.0 / epoch,
        "accuracy": 0.5 + epoch / 100,
        "val_loss": 1.1 / epoch,
        "val_accuracy": 0.4 + epoch / 100,
        "seconds": 0.5,
    }
    values.update(overrides)
    return EpochMetrics.model_validate(values)


def claim(session: Session, experiment_id: uuid.UUID) -> Experiment | None:
    """Claim one queued experiment on its own, as a worker would; None if not claimable."""
    claims = claim_group(
        session, experiment_id=experiment_id, lease_seconds=60, group_size=1, max_attempts=3
    )
    return session.get(Experiment, claims[0].experiment_id) if claims else None


def record_epochs(
    session: Session,
    experiment_id: uuid.UUID,
    epochs: Iterable[int],
    *,
    checkpoint: Callable[[int], bytes | None] = lambda _epoch: None,
) -> None:
    """Record `epochs` as attempt 1 would (plausible metrics, `checkpoint(epoch)` with each);
    every record must be accepted."""
    for epoch in epochs:
        assert record_epoch(
            session,
            experiment_id=experiment_id,
            attempt=1,
            metrics=epoch_metrics(epoch),
            lease_seconds=60,
            checkpoint=checkpoint(epoch),
        )


def remove_made_since(started: datetime) -> None:
    """Delete the experiments, sweeps and range tests made since `started`, in one transaction.

    The rows are locked in id order first, as the ledger locks them: a worker still finishing
    one of them then waits for this delete or this delete for it. Where Postgres still finds a
    deadlock with a worker's transaction and picks this delete as its victim, the delete runs
    again: it is idempotent, and the worker's transaction has ended by then.
    """
    for attempt in range(1, 4):
        try:
            _remove_made_since(started)
            return
        except OperationalError as exc:
            if not isinstance(exc.orig, DeadlockDetected) or attempt == 3:
                raise


def _remove_made_since(started: datetime) -> None:
    with session_scope() as session:
        made = or_(
            Experiment.created_at >= started,
            Experiment.sweep_id.in_(select(Sweep.id).where(Sweep.created_at >= started)),
        )
        ids = session.scalars(
            select(Experiment.id).where(made).order_by(Experiment.id).with_for_update()
        ).all()
        session.execute(delete(Experiment).where(Experiment.id.in_(ids)))
        session.execute(delete(Sweep).where(Sweep.created_at >= started))
        tests = select(RangeTest.id).where(RangeTest.created_at >= started)
        locked = session.scalars(tests.order_by(RangeTest.id).with_for_update()).all()
        session.execute(delete(RangeTest).where(RangeTest.id.in_(locked)))
