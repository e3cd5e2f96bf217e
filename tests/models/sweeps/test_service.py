"""Sweeps stored and read against the real Postgres, each test rolled back."""

import uuid

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from models.errors import ConflictError
from models.storage import session_scope
from models.sweeps import SweepCreate, cancel_sweep, sweep_read
from models.tables import Experiment, Sweep
from tests.factories import (
    claim,
    home_project_id,
    submit_test_sweep,
)
from tests.models.lock_order import assert_locks_in_id_order

SWEEP = SweepCreate.model_validate(
    {
        "name": "s",
        "base": {"training": {"epochs": 2, "batch_size": 64}, "dataset": {"train_samples": 512}},
        "schedulers": [{"type": "constant"}, {"type": "step", "step_size": 1, "gamma": 0.5}],
        "seeds": [0, 7],
    }
)


def test_submit_stores_every_member_and_a_repeated_key_returns_them(db_session: Session) -> None:
    row, members, created = submit_test_sweep(db_session, SWEEP, idempotency_key="k1")
    assert created and len(members) == 4
    read = sweep_read(db_session, row)
    assert read.status == "queued" and read.counts.queued == 4 and read.experiments == members
    again, same, created_again = submit_test_sweep(db_session, SWEEP, idempotency_key="k1")
    assert not created_again and again.id == row.id and same == members


def test_cancel_stops_pending_members_once(db_session: Session) -> None:
    row, members, _ = submit_test_sweep(db_session, SWEEP)
    claim(db_session, members[0])
    cancel_sweep(db_session, project_id=home_project_id(db_session), key_id=None, sweep_id=row.id)
    read = sweep_read(db_session, row)
    assert read.status == "cancelled" and read.counts.cancelled == 4
    with pytest.raises(ConflictError, match="has already been cancelled"):
        cancel_sweep(
            db_session, project_id=home_project_id(db_session), key_id=None, sweep_id=row.id
        )


@pytest.mark.parametrize(
    ("ends", "status"),
    [
        (["cancelled", "cancelled"], "cancelled"),
        (["failed", "cancelled"], "failed"),
        (["succeeded", "failed"], "completed"),
        (["succeeded", None], "running"),
    ],
)
def test_status_comes_from_the_members(
    db_session: Session, ends: list[str | None], status: str
) -> None:
    from models.experiments import cancel_experiment, fail_experiment, finish_experiment

    sweep = SweepCreate.model_validate({**SWEEP.model_dump(), "schedulers": [{"type": "constant"}]})
    row, members, _ = submit_test_sweep(db_session, sweep)
    assert sweep_read(db_session, row).status == "queued"
    for member, end in zip(members, ends, strict=True):
        if end == "cancelled":
            cancel_experiment(
                db_session,
                project_id=home_project_id(db_session),
                key_id=None,
                experiment_id=member,
            )
            continue
        claimed = claim(db_session, member)
        assert claimed is not None
        if end == "succeeded":
            finish_experiment(db_session, experiment_id=member, attempt=claimed.attempt)
        elif end == "failed":
            fail_experiment(db_session, experiment_id=member, attempt=claimed.attempt, error="x")
    assert sweep_read(db_session, row).status == status
    if status != "running":
        done = "been cancelled" if status == "cancelled" else status
        with pytest.raises(ConflictError, match=f"has already {done}"):
            cancel_sweep(
                db_session, project_id=home_project_id(db_session), key_id=None, sweep_id=row.id
            )


def test_cancel_sweep_locks_members_in_id_order(database: str) -> None:
    # Locking members by creation order would hold the others while it waits for the smallest
    # id: the deadlock pattern against a lease renewal.
    sweep_id = uuid.uuid4()

    def members_of_a_sweep(session: Session, ids: list[uuid.UUID]) -> None:
        project_id = home_project_id(session)
        session.add(Sweep(id=sweep_id, project_id=project_id, name="lock order", spec={}))
        session.flush()
        session.execute(update(Experiment).where(Experiment.id.in_(ids)).values(sweep_id=sweep_id))

    def cancel(session: Session, _ids: list[uuid.UUID]) -> object:
        project_id = home_project_id(session)
        return cancel_sweep(session, project_id=project_id, key_id=None, sweep_id=sweep_id)

    try:
        assert_locks_in_id_order(members_of_a_sweep, cancel)
    finally:
        with session_scope() as session:
            session.execute(delete(Sweep).where(Sweep.id == sweep_id))


def test_members_are_stored_in_grid_order_with_their_defaults(db_session: Session) -> None:
    sweep = SweepCreate.model_validate(
        {
            "base": {"training": {"epochs": 1}},
            "schedulers": [{"type": "constant"}, {"type": "step", "step_size": 1}],
            "seeds": list(range(150)),
        }
    )
    row, members, created = submit_test_sweep(db_session, sweep)
    assert created and len(members) == 300
    stored = db_session.execute(
        select(Experiment.id, Experiment.label, Experiment.spec, Experiment.enqueued_at)
        .where(Experiment.sweep_id == row.id)
        .order_by(Experiment.created_at, Experiment.id)
    ).all()
    # One multi-row INSERT: created_at still follows the grid, member by member.
    assert [s.id for s in stored] == members
    assert [(s.label, s.spec["training"]["seed"]) for s in stored] == [
        (cell.label, cell.spec.training.seed) for cell in sweep.cells
    ]
    assert all(s.enqueued_at is not None for s in stored)
