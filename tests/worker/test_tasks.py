"""The Celery task called directly, in this process, against the real database."""

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete

from models.experiments import get_experiment, list_metrics, list_step_lrs
from models.storage import get_settings, session_scope
from models.tables import Experiment
from tests.factories import create_queued, home_project_id
from worker.tasks import run_experiment


@pytest.fixture
def committed_experiment(database: str) -> Iterator[uuid.UUID]:
    with session_scope() as session:
        experiment_id = create_queued(
            session,
            training={"epochs": 2, "batch_size": 128, "learning_rate": 0.01},
            dataset={"name": "mnist", "train_samples": 256},
        ).id
    yield experiment_id
    with session_scope() as session:
        session.execute(delete(Experiment).where(Experiment.id == experiment_id))


def test_task_trains_and_records_every_epoch(committed_experiment: uuid.UUID) -> None:
    run_experiment(str(committed_experiment))
    with session_scope() as session:
        experiment = get_experiment(
            session, project_id=home_project_id(session), experiment_id=committed_experiment
        )
        assert experiment.status == "succeeded", experiment.error
        assert experiment.attempt == 1
        metrics = list_metrics(
            session, project_id=home_project_id(session), experiment_id=committed_experiment
        )
        assert [m.epoch for m in metrics] == [1, 2]
        # step schedule, step_size 1, gamma 0.5: epoch 2 runs at half the base lr.
        assert metrics[0].lr == pytest.approx(0.01, rel=1e-6)
        assert metrics[1].lr == pytest.approx(0.005, rel=1e-6)
        items, following = list_step_lrs(
            session,
            project_id=home_project_id(session),
            experiment_id=committed_experiment,
            epoch_from=1,
            limit=100,
        )
        assert [len(item.lrs) for item in items] == [2, 2] and following is None


def test_second_delivery_does_nothing(committed_experiment: uuid.UUID) -> None:
    run_experiment(str(committed_experiment))
    run_experiment(str(committed_experiment))
    with session_scope() as session:
        experiment = get_experiment(
            session, project_id=home_project_id(session), experiment_id=committed_experiment
        )
        assert experiment.attempt == 1
        assert (
            len(
                list_metrics(
                    session, project_id=home_project_id(session), experiment_id=committed_experiment
                )
            )
            == 2
        )


def test_missing_data_fails_with_a_message_naming_the_setting(
    committed_experiment: uuid.UUID, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LRLAB_MNIST_PATH", str(tmp_path / "nowhere"))
    get_settings.cache_clear()
    try:
        run_experiment(str(committed_experiment))
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    with session_scope() as session:
        experiment = get_experiment(
            session, project_id=home_project_id(session), experiment_id=committed_experiment
        )
        assert experiment.status == "failed"
        assert experiment.error is not None and "LRLAB_MNIST_PATH" in experiment.error
        assert (
            list_metrics(
                session, project_id=home_project_id(session), experiment_id=committed_experiment
            )
            == []
        )


@pytest.mark.parametrize(
    ("args", "kwargs"), [((), {}), (("not-a-uuid",), {}), ((1, 2), {}), (("x",), {"y": 1})]
)
def test_a_malformed_message_is_logged_not_fatal(
    args: tuple[object, ...], kwargs: dict[str, object], caplog: pytest.LogCaptureFixture
) -> None:
    run_experiment(*args, **kwargs)
    assert "malformed run message" in caplog.text
