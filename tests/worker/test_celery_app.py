"""The worker process's signals: a hang-up is a warm shutdown, never a restart."""

import signal
from pathlib import Path

from devtools.processes import WorkerProcess


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
