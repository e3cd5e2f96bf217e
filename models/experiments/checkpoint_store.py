"""Checkpoint storage: in Postgres, or as files in LRLAB_CHECKPOINT_DIR written atomically.

The checkpoint row is written in the same transaction as the epoch's metrics row, so the
ledger never names an epoch whose state is missing (files are written before that commit).
In Postgres the blob (compressed by the worker) lives in the row, stored out of line without
recompression; the row goes when the run ends and autovacuum, tuned for this small table,
hands the space back. With a directory the row only names the epoch, and the files belong to
the workers (the API may have no checkpoint volume): workers write them (mode 0600, a
temporary file, fsync, rename), remove a run's files once it has ended (never an attempt that
lost the run: the files may be a newer attempt's) and sweep orphans from the reconciler; the
API only drops rows.
"""

import os
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from models.storage import get_settings
from models.tables import TERMINAL_STATUSES, Checkpoint, Experiment


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


def checkpoint_epoch(session: Session, *, experiment_id: uuid.UUID) -> int | None:
    """The epoch of the latest committed checkpoint if it can be read, without loading it."""
    row = session.execute(
        select(Checkpoint.epoch, Checkpoint.data.is_not(None).label("inline")).where(
            Checkpoint.experiment_id == experiment_id
        )
    ).one_or_none()
    if row is None:
        return None
    if row.inline:
        return int(row.epoch)
    directory = get_settings().checkpoint_dir
    if directory is None or not _path(directory, experiment_id, row.epoch).is_file():
        return None
    return int(row.epoch)


def delete_checkpoints(session: Session, *, experiment_ids: Sequence[uuid.UUID]) -> None:
    """Forget the experiments' checkpoint rows (they ended or restart from scratch).

    Their files, if any, are the workers' to remove (`remove_checkpoint_files`, the sweep).
    """
    session.execute(delete(Checkpoint).where(Checkpoint.experiment_id.in_(experiment_ids)))


def remove_checkpoint_files(experiment_id: uuid.UUID) -> int:
    """Remove every checkpoint file of an experiment that ended; returns how many."""
    directory = get_settings().checkpoint_dir
    if directory is None:
        return 0
    files = list(Path(directory).glob(f"{experiment_id}-epoch*.ckpt"))
    for path in files:
        _remove(path)
    return len(files)


def remove_ended_checkpoint_files(session: Session, *, experiment_id: uuid.UUID) -> int:
    """Remove the experiment's checkpoint files if it ended; returns how many.

    An attempt that ends while the run goes on (it lost its lease, or handed back) leaves
    them: on a shared volume they may be a newer attempt's committed checkpoint.
    """
    status = session.scalar(select(Experiment.status).where(Experiment.id == experiment_id))
    if status is not None and status not in TERMINAL_STATUSES:
        return 0
    return remove_checkpoint_files(experiment_id)


def sweep_checkpoint_files(session: Session) -> int:
    """Remove the files of experiments that ended or no longer exist; returns how many."""
    directory = get_settings().checkpoint_dir
    if directory is None or not Path(directory).is_dir():
        return 0
    by_id: dict[uuid.UUID, list[Path]] = {}
    for path in Path(directory).glob("*-epoch*.ckpt"):
        try:
            by_id.setdefault(uuid.UUID(path.name.split("-epoch")[0]), []).append(path)
        except ValueError:
            continue
    if not by_id:
        return 0
    live = set(
        session.scalars(
            select(Experiment.id).where(
                Experiment.id.in_(list(by_id)), Experiment.status.not_in(TERMINAL_STATUSES)
            )
        )
    )
    orphans = [path for key, paths in by_id.items() if key not in live for path in paths]
    for path in orphans:
        _remove(path)
    return len(orphans)


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
