"""Checkpoint files in LRLAB_CHECKPOINT_DIR against the real Postgres: writes, cleanup, sweep."""

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from models.checkpoints import (
    checkpoint_epoch,
    load_checkpoint,
    remove_checkpoint_files,
    sweep_checkpoint_files,
)
from models.experiments import cancel_experiment
from models.ledger import record_epoch
from models.settings import get_settings
from tests.factories import claim, create_queued, epoch_metrics, home_project_id


@pytest.fixture
def checkpoint_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("LRLAB_CHECKPOINT_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield tmp_path
    monkeypatch.delenv("LRLAB_CHECKPOINT_DIR")
    get_settings.cache_clear()


def _running(session: Session, epochs_recorded: int) -> uuid.UUID:
    experiment = create_queued(
        session, training={"epochs": 10, "batch_size": 64, "learning_rate": 0.01}
    )
    claim(session, experiment.id)
    for epoch in range(1, epochs_recorded + 1):
        assert record_epoch(
            session,
            experiment_id=experiment.id,
            attempt=1,
            metrics=epoch_metrics(epoch),
            lease_seconds=60,
            checkpoint=f"state-{epoch}".encode(),
        )
    return experiment.id


def _files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_files_are_written_whole_and_only_the_last_two_are_kept(
    db_session: Session, checkpoint_dir: Path
) -> None:
    experiment_id = _running(db_session, 3)
    # No temporary file left behind; epoch 1 went once epoch 3 was written.
    assert _files(checkpoint_dir) == [
        f"{experiment_id}-epoch2.ckpt",
        f"{experiment_id}-epoch3.ckpt",
    ]
    assert (checkpoint_dir / f"{experiment_id}-epoch3.ckpt").read_bytes() == b"state-3"
    assert load_checkpoint(db_session, experiment_id=experiment_id) == (3, b"state-3")
    assert checkpoint_epoch(db_session, experiment_id=experiment_id) == 3


def test_a_missing_file_is_no_checkpoint(db_session: Session, checkpoint_dir: Path) -> None:
    experiment_id = _running(db_session, 2)
    (checkpoint_dir / f"{experiment_id}-epoch2.ckpt").unlink()
    assert checkpoint_epoch(db_session, experiment_id=experiment_id) is None
    assert load_checkpoint(db_session, experiment_id=experiment_id) is None


def test_the_api_never_deletes_files_the_workers_sweep_them(
    db_session: Session, checkpoint_dir: Path
) -> None:
    cancelled = _running(db_session, 2)
    running = _running(db_session, 1)
    cancel_experiment(
        db_session, project_id=home_project_id(db_session), key_id=None, experiment_id=cancelled
    )
    # The API process may have no checkpoint volume: cancelling only drops the row.
    assert len(_files(checkpoint_dir)) == 3
    (checkpoint_dir / "not-a-checkpoint.txt").write_text("kept")
    assert sweep_checkpoint_files(db_session) == 2
    assert _files(checkpoint_dir) == [f"{running}-epoch1.ckpt", "not-a-checkpoint.txt"]
    assert remove_checkpoint_files(running) == 1
    assert _files(checkpoint_dir) == ["not-a-checkpoint.txt"]
