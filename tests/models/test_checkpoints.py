"""Both checkpoint stores against the real Postgres: in the row, or as files in a directory."""

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from models.checkpoints import delete_checkpoint, load_checkpoint, save_checkpoint
from models.settings import get_settings
from tests.factories import claim, create_queued


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


def _files(directory: Path | None) -> list[str]:
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
        assert _files(store) == [f"{experiment.id}-epoch5.ckpt", f"{experiment.id}-epoch9.ckpt"]
        mode = stat.S_IMODE(os.stat(store / f"{experiment.id}-epoch9.ckpt").st_mode)
        assert mode == 0o600  # owned by the workers
        stored = db_session.scalar(
            text("SELECT data FROM checkpoint WHERE experiment_id = :i"), {"i": experiment.id}
        )
        assert stored is None  # the row only names the epoch
    delete_checkpoint(db_session, experiment_id=experiment.id)
    assert load_checkpoint(db_session, experiment_id=experiment.id) is None
    assert _files(store) == []


@pytest.mark.parametrize("store", ["files"], indirect=True)
def test_a_missing_file_means_no_checkpoint(db_session: Session, store: Path) -> None:
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
