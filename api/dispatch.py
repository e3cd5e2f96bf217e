"""Commit first, then ring the broker: accepted work is on record before any message exists."""

import logging
import uuid
from collections.abc import Sequence

from sqlalchemy.orm import Session

from models.ledger import mark_enqueued
from models.queue import EXPERIMENTS, JobKind, publish_marked
from models.settings import Settings
from models.workers import find_workers, queue_warning

log = logging.getLogger("lrlab.api")


def commit_and_enqueue(
    session: Session,
    experiment_ids: Sequence[uuid.UUID],
    *,
    queue: str,
    kind: JobKind = EXPERIMENTS,
) -> None:
    """Commit the caller's transaction (marking the jobs enqueued in it), then publish.

    A failed publish un-marks them; the reconciler re-publishes what has no message. Once
    committed the request has succeeded: a failure after the commit is logged, never turned
    into an error for a resource that exists (a client retry would duplicate it).
    """
    if experiment_ids:
        mark_enqueued(session, experiment_ids=experiment_ids, table=kind.table)
    session.commit()
    try:
        publish_marked(experiment_ids, queue=queue, kind=kind)
    except Exception:
        log.exception(
            "publishing %d committed job(s) failed; the reconciler will publish them",
            len(experiment_ids),
        )


def queue_warnings(settings: Settings, queue: str) -> list[str]:
    """A warning when no live worker consumes `queue` (none when Redis cannot tell)."""
    workers = find_workers(settings.broker_url, timeout=settings.broker_timeout_seconds)
    return queue_warning(workers, queue)
