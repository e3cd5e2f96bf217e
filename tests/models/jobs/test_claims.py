"""Claims and keys against the real Postgres: grouping, lock order, blobs, key expiry."""

import re
import uuid
from typing import Any

from sqlalchemy import event, select, text, update
from sqlalchemy.orm import Session

from models.experiments import (
    EXPERIMENT_JOBS,
    ExperimentCreate,
    claim_group,
    create_experiment,
    record_epoch,
    submit_experiment,
)
from models.jobs import mark_enqueued, purge_expired_keys, renew_leases
from models.tables import Experiment, IdempotencyKey
from tests.factories import epoch_metrics, experiment_payload, home_project_id
from tests.models.lock_order import assert_locks_in_id_order


def _queued(session: Session, queue: str, **overrides: Any) -> uuid.UUID:
    spec = ExperimentCreate.model_validate(experiment_payload(**overrides))
    return create_experiment(
        session, project_id=home_project_id(session), spec=spec, queue=queue
    ).id


def test_a_claim_groups_only_runs_of_the_same_queue_dataset_batch_and_epochs(
    db_session: Session,
) -> None:
    queue = f"claims-{uuid.uuid4().hex[:8]}"
    training = {"epochs": 2, "batch_size": 64, "learning_rate": 0.01}
    lead = _queued(db_session, queue, training=training)
    same = [
        _queued(db_session, queue, training={**training, "learning_rate": lr}, name=f"s{lr}")
        for lr in (0.02, 0.03, 0.04)
    ]
    apart = [
        _queued(db_session, queue, training={**training, "epochs": 3}),
        _queued(db_session, queue, training={**training, "batch_size": 32}),
        _queued(db_session, queue, dataset={"name": "mnist", "train_samples": 1024}),
        _queued(db_session, f"{queue}-other", training=training),
    ]
    claims = claim_group(
        db_session, experiment_id=lead, lease_seconds=60, group_size=3, max_attempts=3
    )
    # The lead, then the oldest compatible ones up to the group size; never the others.
    assert [c.experiment_id for c in claims] == [lead, *same[:2]]
    statuses = dict(
        db_session.execute(
            select(Experiment.id, Experiment.status).where(Experiment.id.in_([*same, *apart]))
        ).all()
    )
    assert statuses == {same[0]: "running", same[1]: "running", same[2]: "queued"} | {
        i: "queued" for i in apart
    }


def test_a_claim_takes_companions_of_the_leads_model_first(db_session: Session) -> None:
    """Only members of one model share a stack: the group fills with the lead's model first."""
    queue = f"claims-{uuid.uuid4().hex[:8]}"
    cnn = {"type": "cnn"}
    lead = _queued(db_session, queue, model=cnn)
    mlps = [_queued(db_session, queue, name=f"mlp{i}") for i in range(2)]
    cnns = [_queued(db_session, queue, model=cnn, name=f"cnn{i}") for i in range(2)]
    claims = claim_group(
        db_session, experiment_id=lead, lease_seconds=60, group_size=3, max_attempts=3
    )
    # Older MLPs wait for a claim of their own; the younger CNNs join the CNN lead.
    assert [c.experiment_id for c in claims] == [lead, *cnns]
    assert all(c.spec.model.type == "cnn" for c in claims)
    waiting = db_session.scalars(select(Experiment.status).where(Experiment.id.in_(mlps))).all()
    assert waiting == ["queued", "queued"]


def test_the_claim_compares_checkpoint_epochs_without_loading_blobs(
    db_session: Session,
) -> None:
    queue = f"claims-{uuid.uuid4().hex[:8]}"
    ids = [_queued(db_session, queue, name=f"m{i}") for i in range(3)]
    claim_group(db_session, experiment_id=ids[0], lease_seconds=60, group_size=3, max_attempts=3)
    for experiment_id in ids:
        record_epoch(
            db_session,
            experiment_id=experiment_id,
            attempt=1,
            metrics=epoch_metrics(1),
            lease_seconds=60,
            checkpoint=b"weights" * 1000,
        )
    db_session.execute(update(Experiment).where(Experiment.id.in_(ids)).values(status="queued"))
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    engine = db_session.get_bind()
    event.listen(engine, "before_cursor_execute", seen)
    try:
        claims = claim_group(
            db_session, experiment_id=ids[0], lease_seconds=60, group_size=3, max_attempts=3
        )
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert [c.epochs_done for c in claims] == [1, 1, 1]
    touching = [s for s in statements if "checkpoint" in s]
    assert touching, "the claim must look at the checkpoints"
    # `data IS NOT NULL` tests for a blob without reading it; the blob itself is never selected.
    assert not [s for s in touching if re.search(r"checkpoint\.data(?! IS)", s)], touching


def test_mark_enqueued_locks_in_id_order(database: str) -> None:
    assert_locks_in_id_order(
        lambda _s, _ids: None,
        lambda session, ids: mark_enqueued(session, job_ids=ids, kind=EXPERIMENT_JOBS),
    )


def test_renew_leases_locks_in_id_order(database: str) -> None:
    def running(session: Session, ids: list[uuid.UUID]) -> None:
        session.execute(
            update(Experiment).where(Experiment.id.in_(ids)).values(status="running", attempt=1)
        )

    assert_locks_in_id_order(
        running,
        lambda session, ids: renew_leases(
            session, kind=EXPERIMENT_JOBS, claims=[(i, 1) for i in ids], lease_seconds=60
        ),
    )


def test_an_expired_idempotency_key_no_longer_replays_and_purge_removes_it(
    db_session: Session,
) -> None:
    project_id = home_project_id(db_session)
    spec = ExperimentCreate.model_validate(experiment_payload())
    key = f"expiring-{uuid.uuid4().hex}"

    def submit() -> tuple[Experiment, bool]:
        return submit_experiment(
            db_session,
            project_id=project_id,
            key_id=None,
            spec=spec,
            queue="q",
            idempotency_key=key,
            key_ttl_hours=1,
        )

    first, created = submit()
    again, replayed_created = submit()
    assert created and not replayed_created and again.id == first.id
    mine = (IdempotencyKey.project_id == project_id) & (IdempotencyKey.key == key)
    db_session.execute(
        update(IdempotencyKey).where(mine).values(expires_at=text("now() - interval '1 second'"))
    )
    fresh, created_again = submit()
    assert created_again and fresh.id != first.id  # the expired key made a new experiment
    db_session.execute(
        update(IdempotencyKey).where(mine).values(expires_at=text("now() - interval '1 second'"))
    )
    assert purge_expired_keys(db_session) >= 1
    assert db_session.scalars(select(IdempotencyKey).where(mine)).all() == []
