"""The worker's ledger against the real Postgres: claims, fenced epoch records, finishing."""

import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete as sa_delete
from sqlalchemy import func, select
from sqlalchemy import update as sa_update
from sqlalchemy.orm import Session

from models.experiments import (
    EXPERIMENT_JOBS,
    claim_group,
    experiment_read,
    fail_experiment,
    finish_experiment,
    get_experiment,
    record_dataset,
    record_epoch,
)
from models.jobs import expire_leases, mark_enqueued, release_job, unsignalled_queued
from models.storage import get_sessionmaker, get_settings, session_scope
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


def test_claim_waits_for_a_short_lock_instead_of_dropping_the_delivery(database: str) -> None:
    # A publish is recorded (UPDATE enqueued_at) just as the worker already claims the message.
    with session_scope() as session:
        experiment_id = create_queued(session).id
    try:
        recorder = get_sessionmaker()()
        mark_enqueued(
            recorder, job_ids=[experiment_id], kind=EXPERIMENT_JOBS
        )  # row locked, not committed
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


def _one_epoch_then_hand_back(session: Session, experiment_id: uuid.UUID) -> None:
    """Attempt 1 records epoch 1 with its checkpoint and hands the run back."""
    assert record_epoch(
        session,
        experiment_id=experiment_id,
        attempt=1,
        metrics=epoch_metrics(1),
        lease_seconds=60,
        checkpoint=b"state",
    )
    assert release_job(session, kind=EXPERIMENT_JOBS, job_id=experiment_id, attempt=1)


def test_an_attempt_on_other_data_is_released_and_fails_after_max_attempts(
    db_session: Session,
) -> None:
    experiment = create_queued(db_session)
    claim(db_session, experiment.id)
    original = {"name": "mnist", "train_samples": 512, "sha256": "a" * 64}
    check = record_dataset(db_session, experiment_id=experiment.id, attempt=1, dataset=original)
    assert check == "ok"
    _one_epoch_then_hand_back(db_session, experiment.id)
    other = {**original, "sha256": "b" * 64}
    # The hand-back spent no attempt: three attempts on other data follow it.
    for attempt in (2, 3, 4):
        assert claim(db_session, experiment.id) is not None
        check = record_dataset(
            db_session, experiment_id=experiment.id, attempt=attempt, dataset=other
        )
        assert check == "mismatch"
        row = get_experiment(
            db_session, project_id=home_project_id(db_session), experiment_id=experiment.id
        )
        assert (row.status, row.dataset, row.epochs_done) == ("queued", original, 1)
        assert row.events[-1]["kind"] == "data_mismatch"
        assert "b" * 12 in row.events[-1]["message"]
    assert claim(db_session, experiment.id) is None
    row = get_experiment(
        db_session, project_id=home_project_id(db_session), experiment_id=experiment.id
    )
    assert row.status == "failed"
    assert row.error is not None and "data" in row.error and "a" * 12 in row.error


def test_hand_backs_spend_no_attempt_and_crashes_still_give_up(db_session: Session) -> None:
    experiment = create_queued(db_session)
    claim(db_session, experiment.id)
    _one_epoch_then_hand_back(db_session, experiment.id)
    # Rolling restarts: every attempt hands the run back after a checkpoint (max_attempts=3).
    for attempt in (2, 3, 4):
        claimed = claim(db_session, experiment.id)
        assert claimed is not None and claimed.attempt == attempt
        assert release_job(db_session, kind=EXPERIMENT_JOBS, job_id=experiment.id, attempt=attempt)
    # Crashes (a lease that ran out) are what max_attempts bounds: three of them give up.
    for attempt in (5, 6, 7):
        claimed = claim(db_session, experiment.id)
        assert claimed is not None and claimed.attempt == attempt
        claimed.lease_expires_at = func.now() - timedelta(seconds=1)
        db_session.flush()
        expire_leases(db_session, kind=EXPERIMENT_JOBS, max_attempts=3)
    row = db_session.get(Experiment, experiment.id)
    assert row is not None
    db_session.refresh(row)
    assert (row.status, row.attempt, row.handed_back) == ("failed", 7, 4)
    assert row.error is not None
    assert row.error.startswith("gave up after 3 attempt(s) (max_attempts=3; 4 more handed")


def test_a_lost_checkpoint_is_noted_on_the_experiment(
    db_session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LRLAB_CHECKPOINT_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        experiment = create_queued(db_session)
        claim(db_session, experiment.id)
        _one_epoch_then_hand_back(db_session, experiment.id)
        for path in tmp_path.glob(f"{experiment.id}-epoch*.ckpt"):
            path.unlink()  # the row names epoch 1, its state is gone
        assert claim(db_session, experiment.id) is not None
    finally:
        monkeypatch.delenv("LRLAB_CHECKPOINT_DIR")
        get_settings.cache_clear()
    row = get_experiment(
        db_session, project_id=home_project_id(db_session), experiment_id=experiment.id
    )
    # Nothing recorded is erased: epoch 1 is trained again and compared with its row.
    assert row.epochs_done == 1
    assert [e["kind"] for e in row.events] == ["checkpoint_lost"]
    assert "epoch 1" in row.events[0]["message"]
    assert experiment_read(row).events == row.events


def test_unsignalled_queued_is_bounded_and_oldest_first(db_session: Session) -> None:
    ids = [create_queued(db_session).id for _ in range(3)]
    for age, experiment_id in zip((3, 2, 1), ids, strict=True):
        db_session.execute(
            sa_update(Experiment)
            .where(Experiment.id == experiment_id)
            # Older than anything another test may have left queued.
            .values(
                created_at=func.now() - timedelta(days=3650 + age),
                updated_at=func.now() - timedelta(minutes=1),
            )
        )
    found = unsignalled_queued(db_session, kind=EXPERIMENT_JOBS, stale_after_seconds=30, limit=2)
    assert found == {"lrlab-test-unused": [(ids[0], True), (ids[1], True)]}
