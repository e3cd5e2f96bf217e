"""Real lrlab processes for the tests and the benchmark: the API under uvicorn, a Celery worker.

Each runs in its own session so that a stop (or a SIGKILL) reaches its whole process group.
"""

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from models.identity import KeyCreate, ProjectCreate, create_key, create_project
from models.tables import Project

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def provision_key(
    database_url: str, *, project: str = "default", role: str = "write", label: str = "tests"
) -> str:
    """A new key of `project` (created if missing) in that database; returns its secret."""
    engine = create_engine(database_url)
    try:
        with Session(engine) as session, session.begin():
            row = session.scalars(select(Project).where(Project.name == project)).one_or_none()
            if row is None:
                row = create_project(session, project=ProjectCreate(name=project))
            created = create_key(
                session,
                project_id=row.id,
                key=KeyCreate.model_validate({"label": label, "role": role}),
            )
    finally:
        engine.dispose()
    return created.key


class _Process:
    """A child process in its own session, logging to a file."""

    def __init__(self, args: list[str], log_path: Path, env: dict[str, str] | None) -> None:
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", *args],
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the process's output."""
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        """Stop the whole process group; SIGKILL if it does not exit in time."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, sig)
                self.process.wait(timeout)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()


class ApiProcess(_Process):
    """The API (`uvicorn api.main:app`) on a free loopback port.

    `client` sends `api_key`, by default a write key of the `default` project provisioned in
    the API's database.
    """

    def __init__(
        self,
        log_path: Path,
        env: dict[str, str] | None = None,
        *,
        api_key: str | None = None,
        workers: int = 1,
    ) -> None:
        database_url = (env or {}).get("LRLAB_DATABASE_URL") or os.environ["LRLAB_DATABASE_URL"]
        self.api_key = api_key or provision_key(database_url)
        self.port = free_port()
        super().__init__(
            [
                "uvicorn",
                "api.main:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
                "--workers",
                str(workers),
            ],
            log_path,
            env,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        self.client = httpx.Client(
            base_url=self.url,
            timeout=30,
            headers={"Authorization": f"Bearer {self.api_key}"},
        )

    def wait_healthy(self, timeout: float = 60) -> None:
        """Block until /healthz answers."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the API exited early:\n{self.log_tail()}")
            try:
                if self.client.get("/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"the API did not come up:\n{self.log_tail()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        """Close the client and stop the server."""
        self.client.close()
        super().stop(sig, timeout)


class WorkerProcess(_Process):
    """A real `celery worker` consuming `LRLAB_QUEUE` of its environment."""

    def __init__(self, log_path: Path, env: dict[str, str] | None = None) -> None:
        queue = (env or {}).get("LRLAB_QUEUE") or os.environ["LRLAB_QUEUE"]
        super().__init__(
            [
                "celery",
                "-A",
                "worker.celery_app",
                "worker",
                "-Q",
                queue,
                "--loglevel",
                "INFO",
                "-n",
                f"w-{uuid.uuid4().hex[:8]}@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            log_path,
            env,
        )

    def wait_ready(self, timeout: float = 180) -> None:
        """Block until the worker consumes (TensorFlow loaded, warm-up done)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_path.read_text(errors="replace")
            if "worker process ready" in text and " ready." in text:
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log_tail()}")
            time.sleep(0.2)
        raise TimeoutError(f"worker not ready:\n{self.log_tail()}")
