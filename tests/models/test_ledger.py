"""The worker's ledger against the real Postgres: claims, fenced epoch records, finishing."""

import functools
import threading
import time

import pytest
from sqlalchemy import delete as sa_delete
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models.db import get_sessionmaker, session_scope
from models.experiments import get_experiment, list_metrics
from models.ledger import (
    claim_group,
    fail_experiment,
    finish_experiment,
    mark_enqueued,
    record_epoch,
)
from models.tables import Experiment, Metric
from tests.factories import claim, create_queued, epoch_metrics, home_project_id


def test_claim_moves_to_running_once(db_session: Session) -> None:
    experiment = create_queued(db_session)
    claimed = claim(db_session, experiment.id)
    assert claimed is not None
    assert claimed.status == "running"
    assert claimed.attempt == 1
    assert claimed.lease_expires_at is not None
    assert claimed.started_at is not None
    assert claim(db_session, experiment.id) is None


def test_epochs_are_recorded_and_summarised(db_session: Session) -> None:
    experiment = create_queued(db_session)
    claim(db_session, experiment.id)
    for epoch in (1, 2):
        assert record_epoch(
            db_session,
            experiment_id=experiment.id,
            attempt=1,
            metrics=epoch_metrics(epoch, val_accuracy=[0.9, 0.8][epoch - 1]),
            lease_seconds=60,
        )
    assert finish_experiment(db_session, experiment_id=experiment.id, attempt=1)
    row = get_experiment(
        db_session, project_id=home_project_id(db_session), experiment_id=experiment.id
    )
    assert row.status == "succeeded"
    assert row.epochs_done == 2
    assert row.result == {
        "final_val_accuracy": 0.8,
        "best_val_accuracy": 0.9,
        "best_epoch": 1,
        "train_seconds": 1.0,
    }
    assert [
        m.epoch
        for m in list_metrics(
            db_session, project_id=home_project_id(db_session), experiment_id=experiment.id
        )
    ] == [1, 2]


def test_writes_from_a_stale_attempt_are_refused(db_session: Session) -> None:
    experiment = create_queued(db_session)
    claim(db_session, experiment.id)
    assert not record_epoch(
        db_session,
        experiment_id=experiment.id,
        attempt=0,
        metrics=epoch_metrics(1),
        lease_seconds=60,
    )
    assert not finish_experiment(db_session, experiment_id=experiment.id, attempt=2)
    assert not fail_experiment(db_session, experiment_id=experiment.id, attempt=2, error="x")
    assert (
        db_session.scalars(select(Metric).where(Metric.experiment_id == experiment.id)).all() == []
    )


def test_duplicate_epoch_violates_uniqueness(db_session: Session) -> None:
    experiment = create_queued(db_session)
    claim(db_session, experiment.id)
    record = functools.partial(
        record_epoch,
        db_session,
        experiment_id=experiment.id,
        attempt=1,
        metrics=epoch_metrics(1),
        lease_seconds=60,
    )
    assert record()
    with pytest.raises(IntegrityError):
        record()


def test_claim_waits_for_a_short_lock_instead_of_dropping_the_delivery(database: str) -> None:
    # A publish is recorded (UPDATE enqueued_at) just as the worker already claims the message.
    with session_scope() as session:
        experiment_id = create_queued(session).id
    try:
        recorder = get_sessionmaker()()
        mark_enqueued(recorder, experiment_ids=[experiment_id])  # row locked, not committed
        claimed: list[object] = []

        def claim() -> None:
            with session_scope() as session:
                claimed.extend(
                    claim_group(
                        session,
                        experiment_id=experiment_id,
                        lease_seconds=60,
                        group_size=1,
                        max_attempts=3,
                    )
                )

        worker = threading.Thread(target=claim)
        worker.start()
        time.sleep(0.3)
        recorder.commit()
        recorder.close()
        worker.join(10)
        assert len(claimed) == 1
    finally:
        with session_scope() as session:
            session.execute(sa_delete(Experiment).where(Experiment.id == experiment_id))
