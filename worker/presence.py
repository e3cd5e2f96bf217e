"""This worker's heartbeat: who it is, what it serves and trains, published to Redis with a TTL."""

import logging
import os
import platform
import socket
import threading
from datetime import UTC, datetime
from importlib import metadata

from models.jobs import (
    HEARTBEAT_SECONDS,
    DatasetSize,
    WorkerInfo,
    publish_heartbeat,
    redis_client,
    withdraw,
)
from models.storage import get_settings

log = logging.getLogger("lrlab.worker")

_lock = threading.Lock()
_current: set[str] = set()


def training(experiment_ids: list[str]) -> None:
    """Record that this process now trains these experiments."""
    with _lock:
        _current.update(experiment_ids)


def finished(experiment_ids: list[str]) -> None:
    """Record that this process no longer trains these experiments."""
    with _lock:
        _current.difference_update(experiment_ids)


def library_versions() -> dict[str, str]:
    """Python and the libraries that decide how training behaves."""
    versions = {"python": platform.python_version()}
    for package in ("lrlab", "keras", "tensorflow", "tensorflow-cpu", "jax", "numpy", "celery"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions


class Presence:
    """The heartbeat thread of one worker process."""

    def __init__(self, *, name: str, queues: list[str], device: str | None) -> None:
        settings = get_settings()
        self._client = redis_client(settings.broker_url, timeout=settings.broker_timeout_seconds)
        self._stop = threading.Event()
        self.dataset_error: str | None = None
        self.datasets: dict[str, DatasetSize] = {}
        self._info = WorkerInfo(
            name=name,
            host=socket.gethostname(),
            pid=os.getpid(),
            queues=sorted(queues),
            device=device,
            versions=library_versions(),
            current_experiments=[],
            started_at=datetime.now(UTC),
            last_heartbeat=datetime.now(UTC),
        )

    def beat(self) -> None:
        """Publish one heartbeat now."""
        with _lock:
            current = sorted(_current)
        info = self._info.model_copy(
            update={
                "current_experiments": current,
                "dataset_error": self.dataset_error,
                "datasets": self.datasets,
                "last_heartbeat": datetime.now(UTC),
            }
        )
        publish_heartbeat(self._client, info)

    def start(self) -> threading.Thread:
        """Beat every HEARTBEAT_SECONDS in a daemon thread until stop()."""
        thread = threading.Thread(target=self._run, name="presence", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        """Stop beating and withdraw the key, so the worker disappears at once."""
        self._stop.set()
        try:
            withdraw(self._client, self._info.name)
        except Exception as exc:
            log.warning("could not withdraw the worker heartbeat: %s", exc)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.beat()
            except Exception as exc:
                # Redis down: the key lapses and the worker looks absent, which is the truth
                # as far as new work is concerned; try again next beat.
                log.warning("worker heartbeat failed: %s", str(exc).splitlines()[0])
            self._stop.wait(HEARTBEAT_SECONDS)
