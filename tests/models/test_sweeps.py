"""Sweeps stored and read against the real Postgres, each test rolled back."""

import pytest
from sqlalchemy.orm import Session

from models.errors import ConflictError
from models.ledger import record_epoch
from models.metrics import MetricRead
from models.sweep_grid import SweepCreate
from models.sweeps import (
    SWEEP_METRIC_FIELDS,
    cancel_sweep,
    submit_sweep,
    sweep_metric_rows,
    sweep_read,
)
from tests.factories import claim, epoch_metrics

SWEEP = SweepCreate.model_validate(
    {
        "name": "s",
        "base": {"training": {"epochs": 2, "batch_size": 64}, "dataset": {"train_samples": 512}},
        "schedulers": [{"type": "constant"}, {"type": "step", "step_size": 1, "gamma": 0.5}],
        "seeds": [0, 7],
    }
)


def test_submit_stores_every_member_and_a_repeated_key_returns_them(db_session: Session) -> None:
    row, members, created = submit_sweep(
        db_session, sweep=SWEEP, queue="lrlab-test-unused", idempotency_key="k1", key_ttl_hours=24
    )
    assert created and len(members) == 4
    read = sweep_read(db_session, row)
    assert read.status == "queued" and read.counts.queued == 4 and read.experiments == members
    again, same, created_again = submit_sweep(
        db_session, sweep=SWEEP, queue="lrlab-test-unused", idempotency_key="k1", key_ttl_hours=24
    )
    assert not created_again and again.id == row.id and same == members


def test_metric_rows_name_the_member_then_copy_the_epoch(db_session: Session) -> None:
    row, members, _ = submit_sweep(
        db_session, sweep=SWEEP, queue="lrlab-test-unused", idempotency_key=None, key_ttl_hours=24
    )
    claim(db_session, members[1])
    recorded = epoch_metrics(1, lr=0.02, seconds=1.5)
    assert record_epoch(
        db_session, experiment_id=members[1], attempt=1, metrics=recorded, lease_seconds=60
    )
    (only,) = sweep_metric_rows(db_session, sweep_id=row.id)
    assert (only.sweep, only.experiment, only.label, only.seed, only.status) == (
        row.id,
        members[1],
        "constant",
        7,
        "running",
    )
    assert MetricRead.model_validate(only.model_dump(include=set(MetricRead.model_fields))) == (
        MetricRead.model_validate(recorded.model_dump(exclude={"step_lrs"}))
    )
    assert SWEEP_METRIC_FIELDS[:5] == ("sweep", "experiment", "label", "seed", "status")
    assert SWEEP_METRIC_FIELDS[5:] == tuple(MetricRead.model_fields)


def test_cancel_stops_pending_members_once(db_session: Session) -> None:
    row, members, _ = submit_sweep(
        db_session, sweep=SWEEP, queue="lrlab-test-unused", idempotency_key=None, key_ttl_hours=24
    )
    claim(db_session, members[0])
    cancel_sweep(db_session, sweep_id=row.id)
    read = sweep_read(db_session, row)
    assert read.status == "cancelled" and read.counts.cancelled == 4
    with pytest.raises(ConflictError, match="has already been cancelled"):
        cancel_sweep(db_session, sweep_id=row.id)
