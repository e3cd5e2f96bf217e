"""Commit first, then ring the broker: accepted work is on record before any message exists."""

import logging
import uuid
from collections.abc import Sequence

from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from models.experiments import EXPERIMENT_JOBS
from models.jobs import JobKind, publish_marked, queue_warning, recent_listing, recent_workers
from models.storage import Settings

log = logging.getLogger("lrlab.api")


def commit_and_enqueue(
    session: Session,
    experiment_ids: Sequence[uuid.UUID],
    *,
    queue: str,
    kind: JobKind = EXPERIMENT_JOBS,
) -> None:
    """Commit the caller's transaction, then publish the jobs it created `enqueued=True`.

    A failed publish un-marks them; the reconciler re-publishes what has no message. Once
    committed the request has succeeded: a failure after the commit is logged, never turned
    into an error for a resource that exists (a client retry would duplicate it).
    """
    session.commit()
    publish_committed(experiment_ids, queue=queue, kind=kind)


def publish_committed(
    experiment_ids: Sequence[uuid.UUID], *, queue: str, kind: JobKind = EXPERIMENT_JOBS
) -> None:
    """Publish jobs committed with `enqueued_at` set; a failure is logged, never raised."""
    try:
        publish_marked(experiment_ids, queue=queue, kind=kind)
    except Exception:
        log.exception(
            "publishing %d committed job(s) failed; the reconciler will publish them",
            len(experiment_ids),
        )


def queue_warnings(settings: Settings, queue: str) -> list[str]:
    """A warning when no live worker consumes `queue` (none when Redis cannot tell)."""
    workers = recent_workers(settings.broker_url, timeout=settings.broker_timeout_seconds)
    return queue_warning(workers, queue)


async def queue_warnings_async(settings: Settings, queue: str) -> list[str]:
    """`queue_warnings` for the event loop: a listing too old to reuse is read in a thread."""
    if recent_listing(settings.broker_url) is None:
        await run_in_threadpool(
            recent_workers, settings.broker_url, timeout=settings.broker_timeout_seconds
        )
    return queue_warnings(settings, queue)
