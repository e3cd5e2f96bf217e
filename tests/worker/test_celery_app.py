"""The worker process: what it logs about its dataset at start (compose's health check relies on
it), and its signals (a hang-up is a warm shutdown, never a restart)."""

import logging
import signal
from pathlib import Path

import pytest

from devtools.processes import WorkerProcess
from models.storage import get_settings
from worker.celery_app import _check_dataset


def test_a_loaded_dataset_is_one_log_line_naming_where_it_came_from(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = get_settings()
    with caplog.at_level(logging.INFO, logger="lrlab.worker"):
        assert _check_dataset(settings) is None
    loaded = [r.getMessage() for r in caplog.records if "loaded from" in r.getMessage()]
    assert len(loaded) == 1, caplog.text
    assert loaded[0].startswith("dataset mnist loaded from ")
    assert "training and" in loaded[0] and "validation samples" in loaded[0]
    if settings.mnist_path:
        # The loader names the files it read: the setting's path, links resolved.
        assert str(Path(settings.mnist_path).resolve()) in loaded[0]


def test_a_dataset_that_cannot_load_is_an_error_line_and_no_loaded_line(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    settings = get_settings().model_copy(update={"mnist_path": str(tmp_path / "missing.npz")})
    with caplog.at_level(logging.INFO, logger="lrlab.worker"):
        problem = _check_dataset(settings)
    assert problem is not None and problem.startswith("DatasetError: ")
    assert "cannot load its dataset" in caplog.text
    assert "loaded from" not in caplog.text


def test_sighup_stops_a_detached_worker_warmly_and_never_restarts_it(
    database: str, tmp_path: Path
) -> None:
    # Detached from a terminal (as under `make up`), Celery's own SIGHUP handler re-execs the
    # worker: after a closed terminal an orphan would go on consuming the queue.
    proc = WorkerProcess(tmp_path / "worker.log")
    try:
        proc.wait_ready()
        proc.process.send_signal(signal.SIGHUP)
        proc.process.wait(60)
    finally:
        proc.stop()
    log = proc.log_path.read_text(errors="replace")
    assert "Restarting celery worker" not in log
    assert "Warm shutdown" in log
