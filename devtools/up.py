"""`make up`: the servers (configured or embedded), schema, credentials, the API and a worker.

Run as `python -m devtools.up`. The API and the worker run in sessions of their own, so a
terminal's Ctrl-C or hang-up reaches only this process, which stops both children warmly,
waits for both to exit, then stops the embedded servers it started. A second Ctrl-C kills
the children at once (a worker's accepted work is delivered again: acks are late).
"""

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from types import FrameType

from devtools.servers import ROOT, ServerUnavailable, data_dir, start_servers

log = logging.getLogger("lrlab.up")

# Two API processes on a small machine, up to four on a larger one: each has its own
# event loop, LISTEN connection and committer, so one slow request never holds the others.
DEFAULT_API_WORKERS = max(2, min(4, os.cpu_count() or 1))


def api_workers() -> int:
    """`LRLAB_API_WORKERS`, else the default; a clear error for anything but a positive int."""
    raw = os.environ.get("LRLAB_API_WORKERS", "").strip()
    if not raw:
        return DEFAULT_API_WORKERS
    if not raw.isdigit() or not 1 <= int(raw) <= 64:
        raise SystemExit(f"LRLAB_API_WORKERS must be an integer in 1..64, got {raw!r}")
    return int(raw)


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    # Their own session: the terminal's SIGINT and SIGHUP go to this process only.
    return subprocess.Popen(
        [sys.executable, "-m", *args], cwd=ROOT, env=env, start_new_session=True
    )


def _prepare(env: dict[str, str], *, create: bool) -> None:
    """Migrate (creating the database where allowed) and bootstrap, in a child with `env`."""
    if create:
        env = {**env, "LRLAB_CREATE_DATABASE": "true"}
    for module in ("models.storage", "models.identity"):
        done = subprocess.run([sys.executable, "-m", module], cwd=ROOT, env=env, check=False)
        if done.returncode != 0:
            raise SystemExit(done.returncode)


def main() -> int:
    """Run the stack until Ctrl-C, SIGTERM or SIGHUP; returns the exit status."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        servers = start_servers(
            database_url=os.environ.get("LRLAB_DATABASE_URL") or None,
            broker_url=os.environ.get("LRLAB_BROKER_URL") or None,
            directory=data_dir(),
        )
    except ServerUnavailable as exc:
        log.error("%s", exc)
        return 2
    children: list[subprocess.Popen[bytes]] = []
    stops = 0

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stops
        stops += 1
        sig = signal.SIGTERM if stops == 1 else signal.SIGKILL
        if stops == 1:
            log.info("stopping the API and the worker (again to kill them at once)")
        for child in children:
            if child.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, sig)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, stop)
    try:
        env = {
            **os.environ,
            "LRLAB_DATABASE_URL": servers.database_url,
            "LRLAB_BROKER_URL": servers.broker_url,
            "PYTHONUNBUFFERED": "1",
        }
        fresh_cluster = servers.postgres is not None and servers.postgres.initialised
        _prepare(env, create=fresh_cluster)
        if stops:
            return 130
        host = os.environ.get("LRLAB_HOST", "127.0.0.1")
        port = os.environ.get("LRLAB_PORT", "8000")
        workers = api_workers()
        children.append(
            _spawn(
                [
                    "uvicorn",
                    "api.main:app",
                    "--host",
                    host,
                    "--port",
                    port,
                    "--workers",
                    str(workers),
                ],
                env,
            )
        )
        children.append(
            _spawn(
                [
                    "celery",
                    "-A",
                    "worker.celery_app",
                    "worker",
                    "-Q",
                    os.environ.get("LRLAB_QUEUE", "lrlab"),
                    "--loglevel",
                    "INFO",
                ],
                env,
            )
        )
        log.info("lrlab: API on http://%s:%s (%d processes) and one worker", host, port, workers)
        # Until one child exits or a signal comes; then every child is waited for.
        while not stops and all(child.poll() is None for child in children):
            time.sleep(0.2)
        if not stops:
            stop(signal.SIGTERM, None)
        for child in children:
            child.wait()
        return 0 if stops else 1
    finally:
        servers.stop()
        log.info("lrlab stopped")


if __name__ == "__main__":
    sys.exit(main())
