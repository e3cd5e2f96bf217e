"""What every runner does around its training: keep the leases alive, outlast database blips."""

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, OperationalError

from models.jobs import JobKind, renew_leases
from models.storage import Settings, session_scope

log = logging.getLogger("lrlab.worker")

T = TypeVar("T")


def heartbeat(
    held: Callable[[], list[tuple[uuid.UUID, int]]],
    *,
    settings: Settings,
    stop: threading.Event,
    kind: JobKind,
) -> None:
    """Renew the leases of the (id, attempt) pairs `held()` names until `stop` is set.

    A missed beat only shortens a lease.
    """
    interval = max(1.0, settings.lease_seconds / 4)
    while not stop.wait(interval):
        try:
            with session_scope() as session:
                renew_leases(
                    session, kind=kind, claims=held(), lease_seconds=settings.lease_seconds
                )
        except (OperationalError, DBAPIError) as exc:
            log.warning("lease renewal failed, will retry: %s", str(exc).splitlines()[0])


def with_db_retry(action: Callable[[], T], *, what: str, patience: float = 300.0) -> T:
    """Run `action`, retrying with backoff while the database is unreachable."""
    delay, waited = 0.25, 0.0
    while True:
        try:
            return action()
        except OperationalError as exc:
            if waited >= patience:
                raise
            log.warning(
                "database unreachable during %s, retrying in %.1fs: %s",
                what,
                delay,
                str(exc).splitlines()[0],
            )
            time.sleep(delay)
            waited += delay
            delay = min(delay * 2, 5.0)
