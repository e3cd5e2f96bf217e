"""The reconciler: a loop in every worker process that makes sure nothing waits forever.

Each pass (one worker at a time, under a Postgres advisory lock) puts experiments whose
lease expired back in the queue (or fails them after `max_attempts`), re-publishes queued
experiments whose message may be lost (never published, or the broker holds fewer messages
than there are queued experiments, as after a broker restart without persistence), and
purges expired idempotency keys.
"""

import logging
import threading
import uuid
from dataclasses import dataclass, field

from sqlalchemy import text

from models.db import session_scope
from models.idempotency import purge_expired_keys
from models.ledger import expire_leases, queued_count, unsignalled_queued
from models.queue import broker_queue_length, publish
from models.settings import get_settings
from worker.metrics import RECONCILER_ACTIONS

log = logging.getLogger("lrlab.reconciler")

# Arbitrary constant naming lrlab's reconciler lock among Postgres advisory locks.
_LOCK_KEY = 0x1A_1AB_7EC


@dataclass
class PassReport:
    """What one reconciler pass did."""

    requeued: list[uuid.UUID] = field(default_factory=list)
    republished: list[uuid.UUID] = field(default_factory=list)
    skipped: bool = False


def reconcile_once() -> PassReport:
    """Run one pass; skipped when another worker holds the lock."""
    settings = get_settings()
    report = PassReport()
    with session_scope() as session:
        if not session.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _LOCK_KEY}):
            report.skipped = True
            return report
        expired = expire_leases(session, max_attempts=settings.max_attempts)
        candidates = unsignalled_queued(session, stale_after_seconds=settings.requeue_after_seconds)
        waiting = {queue: queued_count(session, queue=queue) for queue in candidates}
        purge_expired_keys(session)
    by_queue: dict[str, list[uuid.UUID]] = {}
    for experiment_id, queue in expired:
        by_queue.setdefault(queue, []).append(experiment_id)
    report.requeued = [experiment_id for experiment_id, _ in expired]
    for queue, items in candidates.items():
        length = broker_queue_length(queue)
        # A broker holding at least one message per queued experiment lost nothing.
        lost = length is not None and length < waiting[queue]
        for experiment_id, never_published in items:
            if never_published or lost:
                by_queue.setdefault(queue, []).append(experiment_id)
                report.republished.append(experiment_id)
    for queue, ids in by_queue.items():
        publish(ids, queue=queue)
    RECONCILER_ACTIONS.labels("requeued").inc(len(report.requeued))
    RECONCILER_ACTIONS.labels("republished").inc(len(report.republished))
    if report.requeued or report.republished:
        log.info(
            "reconciler: %d lease(s) expired and requeued, %d message(s) re-published",
            len(report.requeued),
            len(report.republished),
        )
    return report


def run_forever(stop: threading.Event) -> None:
    """Reconcile every few seconds until `stop` is set; errors are logged, never fatal."""
    interval = get_settings().reconcile_interval_seconds
    while not stop.wait(interval):
        try:
            reconcile_once()
        except Exception as exc:
            log.warning("reconciler pass failed: %s", str(exc).splitlines()[0])


def start(stop: threading.Event) -> threading.Thread:
    """Start the reconciler loop in a daemon thread."""
    thread = threading.Thread(target=run_forever, args=(stop,), name="reconciler", daemon=True)
    thread.start()
    return thread
