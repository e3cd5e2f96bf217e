"""Both checkpoint stores against the real Postgres: in the row, or as files in a directory
(atomic writes, the workers' cleanup and the orphan sweep)."""

import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from models.experiments import (
    cancel_experiment,
    checkpoint_epoch,
    delete_checkpoints,
    load_checkpoint,
    remove_checkpoint_files,
    remove_ended_checkpoint_files,
    save_checkpoint,
    sweep_checkpoint_files,
)
from models.storage import get_settings
from tests.factories import claim, create_queued, home_project_id, record_epochs


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
    record_epochs(
        session,
        experiment.id,
        range(1, epochs_recorded + 1),
        checkpoint=lambda epoch: f"state-{epoch}".encode(),
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


def test_an_attempt_removes_files_only_of_a_run_that_ended(
    db_session: Session, checkpoint_dir: Path
) -> None:
    running = _running(db_session, 2)
    # An attempt that lost the run ends while the run goes on: the files may be the new one's.
    assert remove_ended_checkpoint_files(db_session, experiment_id=running) == 0
    assert len(_files(checkpoint_dir)) == 2
    cancel_experiment(
        db_session, project_id=home_project_id(db_session), key_id=None, experiment_id=running
    )
    assert remove_ended_checkpoint_files(db_session, experiment_id=running) == 2
    assert _files(checkpoint_dir) == []


@pytest.fixture(params=["postgres", "files"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path | None]:
    """No directory (Postgres) or a fresh one (file store)."""
    directory = tmp_path / "checkpoints" if request.param == "files" else None
    with pytest.MonkeyPatch.context() as patch:
        if directory is not None:
            patch.setenv("LRLAB_CHECKPOINT_DIR", str(directory))
        get_settings.cache_clear()
        yield directory
    get_settings.cache_clear()


def _store_files(directory: Path | None) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory else []


def test_the_newest_checkpoint_is_loaded_and_finishing_removes_it(
    db_session: Session, store: Path | None
) -> None:
    experiment = create_queued(db_session)
    claim(db_session, experiment.id)
    for epoch in (2, 5, 9):  # sparse epochs, as the interval policy writes them
        save_checkpoint(
            db_session,
            experiment_id=experiment.id,
            attempt=1,
            epoch=epoch,
            blob=f"state {epoch}".encode(),
        )
        db_session.flush()
        assert load_checkpoint(db_session, experiment_id=experiment.id) == (
            epoch,
            f"state {epoch}".encode(),
        )
    if store is not None:
        # The committed file stays until the new one is committed; older ones are gone.
        assert _store_files(store) == [
            f"{experiment.id}-epoch5.ckpt",
            f"{experiment.id}-epoch9.ckpt",
        ]
        mode = stat.S_IMODE(os.stat(store / f"{experiment.id}-epoch9.ckpt").st_mode)
        assert mode == 0o600  # owned by the workers
        stored = db_session.scalar(
            text("SELECT data FROM checkpoint WHERE experiment_id = :i"), {"i": experiment.id}
        )
        assert stored is None  # the row only names the epoch
    # The run ends: the ledger drops the row, the worker that ran it removes its files.
    delete_checkpoints(db_session, experiment_ids=[experiment.id])
    assert load_checkpoint(db_session, experiment_id=experiment.id) is None
    remove_checkpoint_files(experiment.id)
    assert _store_files(store) == []


@pytest.mark.parametrize("store", ["files"], indirect=True)
def test_a_missing_file_means_nothing_to_load(db_session: Session, store: Path) -> None:
    experiment = create_queued(db_session)
    claim(db_session, experiment.id)
    save_checkpoint(db_session, experiment_id=experiment.id, attempt=1, epoch=3, blob=b"x")
    (store / f"{experiment.id}-epoch3.ckpt").unlink()
    # The attempt then starts over and recomputes (and checks) every recorded epoch.
    assert load_checkpoint(db_session, experiment_id=experiment.id) is None


def test_the_postgres_store_does_not_recompress_and_vacuums_early(db_session: Session) -> None:
    storage = db_session.scalar(
        text(
            "SELECT attstorage FROM pg_attribute "
            "WHERE attrelid = 'checkpoint'::regclass AND attname = 'data'"
        )
    )
    assert storage == "e"  # EXTERNAL: out of line, uncompressed (the worker compressed it)
    options = db_session.scalar(
        text("SELECT reloptions FROM pg_class WHERE oid = 'checkpoint'::regclass")
    )
    assert "autovacuum_vacuum_scale_factor=0" in options
