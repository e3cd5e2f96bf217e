"""Experiments as the API sees them, against the real Postgres, each test rolled back."""

import uuid

import pytest
from sqlalchemy import delete as sa_delete
from sqlalchemy import select
from sqlalchemy import update as sa_update
from sqlalchemy.orm import Session

from models.errors import ConflictError, InvalidCursorError, NotFoundError
from models.experiments import (
    cancel_experiment,
    fail_experiment,
    get_experiment,
    list_experiments,
    list_metrics,
    record_epoch,
)
from models.storage import pages
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
    items, total, exact, _ = list_experiments(
        db_session, project_id=home_project_id(db_session), limit=2
    )
    assert (total, exact) == (3, True)
    assert [e.id for e in items] == [ids[2], ids[1]]
    items, total, _, _ = list_experiments(
        db_session, project_id=home_project_id(db_session), scheduler_type="constant"
    )
    assert total == 2 and {e.id for e in items} == {ids[0], ids[2]}
    claim(db_session, ids[1])
    items, total, _, _ = list_experiments(
        db_session, project_id=home_project_id(db_session), status="running"
    )
    assert [e.id for e in items] == [ids[1]]
    items, _, _, _ = list_experiments(
        db_session, project_id=home_project_id(db_session), limit=2, offset=2
    )
    assert [e.id for e in items] == [ids[0]]


def test_keyset_pages_walk_every_row_once_in_order(db_session: Session) -> None:
    db_session.execute(sa_delete(Experiment))
    ids = [create_queued(db_session).id for _ in range(7)]
    # Two rows with the same created_at: the id breaks the tie, so none is skipped or repeated.
    db_session.execute(
        sa_update(Experiment)
        .where(Experiment.id.in_(ids[2:4]))
        .values(
            created_at=select(Experiment.created_at)
            .where(Experiment.id == ids[2])
            .scalar_subquery()
        )
    )
    newest_first = [
        e.id
        for e in db_session.scalars(
            select(Experiment).order_by(Experiment.created_at.desc(), Experiment.id.desc())
        )
    ]
    walked, cursor, pages = [], None, 0
    while True:
        items, total, _, cursor = list_experiments(
            db_session, project_id=home_project_id(db_session), limit=3, after=cursor
        )
        walked += [e.id for e in items]
        pages += 1
        assert total == 7
        if cursor is None:
            break
    assert walked == newest_first and pages == 3
    # A full last page still hands out a cursor; the page after it is empty and ends the walk.
    cursor = list_experiments(db_session, project_id=home_project_id(db_session), limit=7)[3]
    assert cursor is not None
    assert list_experiments(
        db_session, project_id=home_project_id(db_session), limit=7, after=cursor
    )[0::3] == ([], None)


def test_the_total_is_counted_up_to_a_cap(
    db_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    db_session.execute(sa_delete(Experiment))
    for _ in range(4):
        create_queued(db_session)
    monkeypatch.setattr(pages, "COUNT_CAP", 3)
    _, total, exact, _ = list_experiments(
        db_session, project_id=home_project_id(db_session), limit=1
    )
    assert (total, exact) == (3, False)


def test_a_forged_cursor_is_refused(db_session: Session) -> None:
    with pytest.raises(InvalidCursorError, match="not a cursor"):
        list_experiments(
            db_session, project_id=home_project_id(db_session), after="bm90IGEgY3Vyc29y"
        )
