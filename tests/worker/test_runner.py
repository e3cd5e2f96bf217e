"""The runner's database steps against the real Postgres, with commits whose ack is lost."""

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import delete, select

from models.experiments import get_experiment
from models.storage import get_settings, session_scope
from models.tables import Experiment, Metric
from tests.factories import create_queued, epoch_metrics, home_project_id
from tests.worker.ack import AckLost
from worker import runner
from worker.members import EpochReport


@pytest.fixture
def queued(database: str) -> Iterator[uuid.UUID]:
    with session_scope() as session:
        experiment_id = create_queued(session).id
    yield experiment_id
    with session_scope() as session:
        session.execute(delete(Experiment).where(Experiment.id == experiment_id))


def test_a_claim_whose_commit_ack_was_lost_is_recognised_on_retry(
    queued: uuid.UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    ack_lost = AckLost()
    monkeypatch.setattr(runner, "session_scope", ack_lost)
    token = uuid.uuid4()
    claims = runner.with_db_retry(
        lambda: runner.claim(queued, token=token, settings=get_settings()), what="claim"
    )
    assert ack_lost.fired
    assert [(c.experiment_id, c.attempt) for c in claims] == [(queued, 1)]
    with session_scope() as session:
        experiment = get_experiment(
            session, project_id=home_project_id(session), experiment_id=queued
        )
        assert (experiment.status, experiment.attempt) == ("running", 1)


def test_an_epoch_commit_whose_ack_was_lost_is_not_recorded_twice(
    queued: uuid.UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = get_settings()
    (claim,) = runner.claim(queued, token=uuid.uuid4(), settings=settings)
    run = runner._Claimed(claim)
    ack_lost = AckLost()
    monkeypatch.setattr(runner, "session_scope", ack_lost)
    report = EpochReport(key=str(queued), metrics=epoch_metrics(1), checkpoint=b"state-1")
    assert runner.with_db_retry(lambda: runner._record(run, report, settings), what="epoch")
    assert ack_lost.fired
    with session_scope() as session:
        epochs = session.scalars(select(Metric.epoch).where(Metric.experiment_id == queued)).all()
        assert epochs == [1]
        assert (
            get_experiment(
                session, project_id=home_project_id(session), experiment_id=queued
            ).status
            == "running"
        )


def test_the_last_epoch_finishes_the_run_even_when_its_ack_was_lost(
    queued: uuid.UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = get_settings()
    (claim,) = runner.claim(queued, token=uuid.uuid4(), settings=settings)
    run = runner._Claimed(claim)
    first = EpochReport(key=str(queued), metrics=epoch_metrics(1), checkpoint=b"state-1")
    assert runner._record(run, first, settings)
    monkeypatch.setattr(runner, "session_scope", AckLost())
    last = EpochReport(key=str(queued), metrics=epoch_metrics(2), checkpoint=b"state-2")
    assert runner.with_db_retry(lambda: runner._record(run, last, settings), what="epoch")
    with session_scope() as session:
        experiment = get_experiment(
            session, project_id=home_project_id(session), experiment_id=queued
        )
        assert (experiment.status, experiment.epochs_done) == ("succeeded", 2)


def test_the_time_limit_counts_the_training_time_of_earlier_attempts(
    queued: uuid.UUID,
) -> None:
    settings = get_settings().model_copy(update={"experiment_time_limit_seconds": 100})
    (claim,) = runner.claim(queued, token=uuid.uuid4(), settings=settings)
    run = runner._Claimed(claim)
    report = EpochReport(key=str(queued), metrics=epoch_metrics(1), checkpoint=b"state-1")
    run.trained += 90  # this attempt's stack trained for 90 s before its first epoch ended
    assert runner._record(run, report, settings)
    runner._release(run)
    assert run.outcome == "released"
    (again,) = runner.claim(queued, token=uuid.uuid4(), settings=settings)
    assert again.attempt == 2
    assert again.training_seconds == pytest.approx(90, abs=5)
    rerun = runner._Claimed(again)
    rerun.trained += 20  # 20 s more in this attempt: 110 s in all, over the 100 s limit
    assert runner.over_time_limit(rerun, settings)
