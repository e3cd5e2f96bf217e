"""Epoch records: fenced and idempotent, the last one finishes the run; epochs trained again
after a resume are compared with the recorded rows, never overwriting them."""

import functools

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.experiments import (
    EXPERIMENT_JOBS,
    fail_experiment,
    get_experiment,
    list_metrics,
    load_checkpoint,
    record_epoch,
    record_recomputed_epoch,
)
from models.jobs import expire_leases
from models.tables import Experiment, Metric
from tests.factories import claim, create_queued, epoch_metrics, home_project_id, record_epochs


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


def test_recording_an_epoch_again_is_a_no_op(db_session: Session) -> None:
    experiment = create_queued(db_session)
    claim(db_session, experiment.id)
    record = functools.partial(
        record_epoch,
        db_session,
        experiment_id=experiment.id,
        attempt=1,
        lease_seconds=60,
    )
    assert record(metrics=epoch_metrics(1, loss=0.5))
    assert record(metrics=epoch_metrics(1, loss=0.25))
    stored = list_metrics(
        db_session, project_id=home_project_id(db_session), experiment_id=experiment.id
    )
    assert [(m.epoch, m.loss) for m in stored] == [(1, 0.5)]


def test_recording_the_last_epoch_finishes_the_run_in_the_same_transaction(
    db_session: Session,
) -> None:
    experiment = create_queued(db_session)
    claim(db_session, experiment.id)
    record_epochs(db_session, experiment.id, (1, 2), checkpoint=lambda _epoch: b"state")
    row = get_experiment(
        db_session, project_id=home_project_id(db_session), experiment_id=experiment.id
    )
    assert (row.status, row.lease_expires_at) == ("succeeded", None)
    assert row.result is not None and row.result["best_epoch"] == 2
    # A lapsed lease of a finished member can no longer send it round again.
    assert expire_leases(db_session, kind=EXPERIMENT_JOBS, max_attempts=3) == []
    assert (
        get_experiment(
            db_session, project_id=home_project_id(db_session), experiment_id=experiment.id
        ).status
        == "succeeded"
    )


def _killed_after(db_session: Session, epochs: int, *, checkpoint_at: int | None) -> Experiment:
    """A run whose first attempt recorded `epochs` epochs and then lost its lease."""
    experiment = create_queued(db_session, training={"epochs": 6, "batch_size": 64})
    claim(db_session, experiment.id)
    record_epochs(
        db_session,
        experiment.id,
        range(1, epochs + 1),
        checkpoint=lambda epoch: b"state" if epoch == checkpoint_at else None,
    )
    experiment.status = "queued"  # what the reconciler does when the lease expires
    db_session.flush()
    return experiment


def test_a_resume_keeps_the_rows_after_an_older_checkpoint(db_session: Session) -> None:
    experiment = _killed_after(db_session, 4, checkpoint_at=1)
    resumed = claim(db_session, experiment.id)
    assert resumed is not None and resumed.attempt == 2
    assert resumed.epochs_done == 4  # the record stays; epochs 2..4 will be trained again
    assert load_checkpoint(db_session, experiment_id=experiment.id) == (1, b"state")
    assert (
        len(db_session.scalars(select(Metric).where(Metric.experiment_id == experiment.id)).all())
        == 4
    )


def test_equal_recomputed_epochs_are_counted_and_differing_ones_recorded(
    db_session: Session,
) -> None:
    experiment = _killed_after(db_session, 4, checkpoint_at=None)
    claim(db_session, experiment.id)

    def again(epoch: int, **changed: float) -> float | None:
        return record_recomputed_epoch(
            db_session,
            experiment_id=experiment.id,
            attempt=2,
            metrics=epoch_metrics(epoch, seconds=9.0, **changed),
            lease_seconds=60,
            deterministic=True,
        )

    assert again(1) == 0.0  # wall time aside, the same numbers
    assert again(2, val_loss=1.1 / 2 + 0.25) == 0.25
    row = db_session.get(Experiment, experiment.id)
    assert row is not None and row.reproducibility == {
        "recomputed_epochs": 2,
        "mismatches": [
            {
                "epoch": 2,
                "attempt": 2,
                "recorded_attempt": 1,
                "max_abs_difference": 0.25,
                "level": "error",
            }
        ],
    }
    # Never silently overwritten: the recorded row keeps the first attempt's numbers.
    kept = db_session.scalars(
        select(Metric).where(Metric.experiment_id == experiment.id, Metric.epoch == 2)
    ).one()
    assert (kept.attempt, kept.val_loss, kept.seconds) == (1, 1.1 / 2, 0.5)


def test_on_an_accelerator_a_difference_is_a_note(db_session: Session) -> None:
    experiment = _killed_after(db_session, 2, checkpoint_at=None)
    claim(db_session, experiment.id)
    difference = record_recomputed_epoch(
        db_session,
        experiment_id=experiment.id,
        attempt=2,
        metrics=epoch_metrics(1, loss=2.0),
        lease_seconds=60,
        deterministic=False,
    )
    assert difference == 1.0
    row = db_session.get(Experiment, experiment.id)
    assert row is not None and row.reproducibility is not None
    assert row.reproducibility["mismatches"][0]["level"] == "note"


def test_a_superseded_attempt_is_told_to_stop(db_session: Session) -> None:
    experiment = _killed_after(db_session, 2, checkpoint_at=None)
    claim(db_session, experiment.id)
    assert fail_experiment(db_session, experiment_id=experiment.id, attempt=2, error="x")
    stale = record_recomputed_epoch(
        db_session,
        experiment_id=experiment.id,
        attempt=2,
        metrics=epoch_metrics(1),
        lease_seconds=60,
        deterministic=True,
    )
    assert stale is None
