"""Experiments as the API sees them, against the real Postgres, each test rolled back."""

import uuid

import pytest
from sqlalchemy import delete as sa_delete
from sqlalchemy.orm import Session

from models.errors import ConflictError, NotFoundError
from models.experiments import cancel_experiment, get_experiment, list_experiments, list_metrics
from models.ledger import fail_experiment, record_epoch
from models.tables import Experiment
from tests.factories import claim, create_queued, epoch_metrics, home_project_id


def test_created_experiment_is_queued_with_normalised_spec(db_session: Session) -> None:
    experiment = create_queued(db_session)
    assert experiment.status == "queued"
    assert experiment.attempt == 0
    assert experiment.epochs == 2
    assert experiment.scheduler_type == "step"
    assert experiment.spec["training"]["optimizer"] == "adam"


def test_cancel_queued_and_running(db_session: Session) -> None:
    queued = create_queued(db_session)
    assert (
        cancel_experiment(
            db_session, project_id=home_project_id(db_session), key_id=None, experiment_id=queued.id
        ).status
        == "cancelled"
    )
    assert claim(db_session, queued.id) is None

    running = create_queued(db_session)
    claim(db_session, running.id)
    record_epoch(
        db_session, experiment_id=running.id, attempt=1, metrics=epoch_metrics(1), lease_seconds=60
    )
    cancelled = cancel_experiment(
        db_session, project_id=home_project_id(db_session), key_id=None, experiment_id=running.id
    )
    assert cancelled.status == "cancelled"
    assert cancelled.result is not None and cancelled.result["best_epoch"] == 1
    # The worker's next epoch is refused and the metrics it had are kept.
    assert not record_epoch(
        db_session, experiment_id=running.id, attempt=1, metrics=epoch_metrics(2), lease_seconds=60
    )
    assert [
        m.epoch
        for m in list_metrics(
            db_session, project_id=home_project_id(db_session), experiment_id=running.id
        )
    ] == [1]


def test_cancel_finished_is_a_conflict(db_session: Session) -> None:
    experiment = create_queued(db_session)
    claim(db_session, experiment.id)
    fail_experiment(db_session, experiment_id=experiment.id, attempt=1, error="boom")
    with pytest.raises(ConflictError):
        cancel_experiment(
            db_session,
            project_id=home_project_id(db_session),
            key_id=None,
            experiment_id=experiment.id,
        )


def test_unknown_id_is_not_found(db_session: Session) -> None:
    with pytest.raises(NotFoundError):
        get_experiment(
            db_session, project_id=home_project_id(db_session), experiment_id=uuid.uuid4()
        )
    with pytest.raises(NotFoundError):
        cancel_experiment(
            db_session,
            project_id=home_project_id(db_session),
            key_id=None,
            experiment_id=uuid.uuid4(),
        )


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
    items, total = list_experiments(db_session, project_id=home_project_id(db_session), limit=2)
    assert total == 3
    assert [e.id for e in items] == [ids[2], ids[1]]
    items, total = list_experiments(
        db_session, project_id=home_project_id(db_session), scheduler_type="constant"
    )
    assert total == 2 and {e.id for e in items} == {ids[0], ids[2]}
    claim(db_session, ids[1])
    items, total = list_experiments(
        db_session, project_id=home_project_id(db_session), status="running"
    )
    assert [e.id for e in items] == [ids[1]]
    items, _ = list_experiments(
        db_session, project_id=home_project_id(db_session), limit=2, offset=2
    )
    assert [e.id for e in items] == [ids[0]]
