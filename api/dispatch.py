"""Commit first, then ring the broker: accepted work is on record before any message exists."""

import uuid
from collections.abc import Sequence

from sqlalchemy.orm import Session

from models.queue import publish
from models.settings import Settings
from models.workers import find_workers, queue_warning


def commit_and_enqueue(
    session: Session, experiment_ids: Sequence[uuid.UUID], *, queue: str
) -> None:
    """Commit the caller's transaction, then publish; the reconciler covers a failed publish."""
    session.commit()
    publish(experiment_ids, queue=queue)


def queue_warnings(settings: Settings, queue: str) -> list[str]:
    """A warning when no live worker consumes `queue` (none when Redis cannot tell)."""
    workers = find_workers(settings.broker_url, timeout=settings.broker_timeout_seconds)
    return queue_warning(workers, queue)
