"""The experiment lifecycle against the real Postgres, each test rolled back."""

import uuid

import pytest
from sqlalchemy import delete as sa_delete
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models.errors import ConflictError, NotFoundError
from models.experiments import (
    cancel_experiment,
    fail_experiment,
    finish_experiment,
    get_experiment,
    list_experiments,
    list_metrics,
    record_epoch,
)
from models.tables import Experiment, Metric
from tests.factories import claim, create_queued, epoch_metrics


def test_created_experiment_is_queued_with_normalised_spec(db_session: Session) -> None:
    experiment = create_queued(db_session)
    assert experiment.status == "queued"
    assert experiment.attempt == 0
    assert experiment.epochs == 2
    assert experiment.scheduler_type == "step"
    assert experiment.spec["training"]["optimizer"] == "adam"


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
    row = get_experiment(db_session, experiment_id=experiment.id)
    assert row.status == "succeeded"
    assert row.epochs_done == 2
    assert row.result == {
        "final_val_accuracy": 0.8,
        "best_val_accuracy": 0.9,
        "best_epoch": 1,
        "train_seconds": 1.0,
    }
    assert [m.epoch for m in list_metrics(db_session, experiment_id=experiment.id)] == [1, 2]


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
    record_epoch(
        db_session,
        experiment_id=experiment.id,
        attempt=1,
        metrics=epoch_metrics(1),
        lease_seconds=60,
    )
    with pytest.raises(IntegrityError):
        record_epoch(
            db_session,
            experiment_id=experiment.id,
            attempt=1,
            metrics=epoch_metrics(1),
            lease_seconds=60,
        )


def test_cancel_queued_and_running(db_session: Session) -> None:
    queued = create_queued(db_session)
    assert cancel_experiment(db_session, experiment_id=queued.id).status == "cancelled"
    assert claim(db_session, queued.id) is None

    running = create_queued(db_session)
    claim(db_session, running.id)
    record_epoch(
        db_session, experiment_id=running.id, attempt=1, metrics=epoch_metrics(1), lease_seconds=60
    )
    cancelled = cancel_experiment(db_session, experiment_id=running.id)
    assert cancelled.status == "cancelled"
    assert cancelled.result is not None and cancelled.result["best_epoch"] == 1
    # The worker's next epoch is refused and the metrics it had are kept.
    assert not record_epoch(
        db_session, experiment_id=running.id, attempt=1, metrics=epoch_metrics(2), lease_seconds=60
    )
    assert [m.epoch for m in list_metrics(db_session, experiment_id=running.id)] == [1]


def test_cancel_finished_is_a_conflict(db_session: Session) -> None:
    experiment = create_queued(db_session)
    claim(db_session, experiment.id)
    fail_experiment(db_session, experiment_id=experiment.id, attempt=1, error="boom")
    with pytest.raises(ConflictError):
        cancel_experiment(db_session, experiment_id=experiment.id)


def test_unknown_id_is_not_found(db_session: Session) -> None:
    with pytest.raises(NotFoundError):
        get_experiment(db_session, experiment_id=uuid.uuid4())
    with pytest.raises(NotFoundError):
        cancel_experiment(db_session, experiment_id=uuid.uuid4())


def test_list_is_newest_first_filtered_and_paginated(db_session: Session) -> None:
    # Start from an empty ledger inside this test's transaction (rolled back afterwards).
    db_session.execute(sa_delete(Experiment))
    ids = []
    for scheduler in (
        {"type": "constant"},
        {"type": "exponential", "gamma": 0.9},
        {"type": "constant"},
    ):
        ids.append(create_queued(db_session, scheduler=scheduler).id)
    items, total = list_experiments(db_session, limit=2)
    assert total == 3
    assert [e.id for e in items] == [ids[2], ids[1]]
    items, total = list_experiments(db_session, scheduler_type="constant")
    assert total == 2 and {e.id for e in items} == {ids[0], ids[2]}
    claim(db_session, ids[1])
    items, total = list_experiments(db_session, status="running")
    assert [e.id for e in items] == [ids[1]]
    items, _ = list_experiments(db_session, limit=2, offset=2)
    assert [e.id for e in items] == [ids[0]]


def test_claim_waits_for_a_short_lock_instead_of_dropping_the_delivery(database: str) -> None:
    # A publish is recorded (UPDATE enqueued_at) just as the worker already claims the message.
    import threading
    import time

    from sqlalchemy import delete

    from models.db import get_sessionmaker, session_scope
    from models.experiments import claim_group, mark_enqueued
    from models.tables import Experiment

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
            session.execute(delete(Experiment).where(Experiment.id == experiment_id))
