"""Checkpoint storage: in Postgres, or as files in LRLAB_CHECKPOINT_DIR written atomically.

The checkpoint row is written in the same transaction as the epoch's metrics row, so the
ledger never names an epoch whose state is missing (files are written before that commit).
In Postgres the blob (compressed by the worker) lives in the row, stored out of line without
recompression; the row goes when the run ends and autovacuum, tuned for this small table,
hands the space back. With a directory the row only names the epoch; the workers alone write,
read and remove the files (mode 0600, write to a temporary file, fsync, rename).
"""

import os
import tempfile
import uuid
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from models.settings import get_settings
from models.tables import Checkpoint


def save_checkpoint(
    session: Session, *, experiment_id: uuid.UUID, attempt: int, epoch: int, blob: bytes
) -> None:
    """Store the state after `epoch`, replacing the previous one."""
    directory = get_settings().checkpoint_dir
    data: bytes | None = blob
    if directory is not None:
        _write_atomically(_path(directory, experiment_id, epoch), blob)
        # The committed checkpoint's file stays until this one is committed; others can go.
        committed = session.scalar(
            select(Checkpoint.epoch).where(Checkpoint.experiment_id == experiment_id)
        )
        _remove_others(directory, experiment_id, keep={epoch, committed})
        data = None
    session.execute(
        insert(Checkpoint)
        .values(experiment_id=experiment_id, attempt=attempt, epoch=epoch, data=data)
        .on_conflict_do_update(
            index_elements=[Checkpoint.experiment_id],
            set_={"attempt": attempt, "epoch": epoch, "data": data},
        )
    )


def load_checkpoint(session: Session, *, experiment_id: uuid.UUID) -> tuple[int, bytes] | None:
    """Return (epoch, blob) of the latest committed checkpoint, if it can be read."""
    row = session.scalars(
        select(Checkpoint).where(Checkpoint.experiment_id == experiment_id)
    ).one_or_none()
    if row is None:
        return None
    if row.data is not None:
        return row.epoch, row.data
    directory = get_settings().checkpoint_dir
    if directory is None:
        return None
    path = _path(directory, experiment_id, row.epoch)
    try:
        return row.epoch, path.read_bytes()
    except OSError:
        return None


def delete_checkpoint(session: Session, *, experiment_id: uuid.UUID) -> None:
    """Forget the experiment's checkpoint (it finished or restarts from scratch)."""
    row = session.scalars(
        select(Checkpoint).where(Checkpoint.experiment_id == experiment_id)
    ).one_or_none()
    if row is None:
        return
    session.execute(delete(Checkpoint).where(Checkpoint.experiment_id == experiment_id))
    directory = get_settings().checkpoint_dir
    if directory is not None:
        _remove_others(directory, experiment_id, keep=set())


def _path(directory: str, experiment_id: uuid.UUID, epoch: int) -> Path:
    return Path(directory) / f"{experiment_id}-epoch{epoch}.ckpt"


def _remove_others(directory: str, experiment_id: uuid.UUID, *, keep: set[int | None]) -> None:
    """Remove the experiment's checkpoint files except those of the epochs in `keep`."""
    for path in Path(directory).glob(f"{experiment_id}-epoch*.ckpt"):
        epoch = path.name.removesuffix(".ckpt").rpartition("-epoch")[2]
        if not epoch.isdigit() or int(epoch) not in keep:
            _remove(path)


def _write_atomically(path: Path, blob: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(blob)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        _remove(Path(tmp))
        raise


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)
