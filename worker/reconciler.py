"""The reconciler: a loop in every worker process that makes sure nothing waits forever.

Each pass (one worker at a time, under a Postgres advisory lock) puts jobs (experiments and
range tests) whose lease expired back in the queue (or fails them after `max_attempts`),
re-publishes queued jobs whose message may be lost (never published, or the broker holds
fewer messages than there are queued jobs, as after a broker restart without persistence), and
purges expired idempotency keys. Every worker also sweeps its checkpoint directory (which
may be its own volume) of files whose experiment ended.
"""

import logging
import threading
import uuid
from dataclasses import dataclass, field

from sqlalchemy import text

from models.experiments import EXPERIMENT_JOBS, sweep_checkpoint_files
from models.jobs import (
    JobKind,
    broker_queue_length,
    expire_leases,
    publish,
    purge_expired_keys,
    queued_count,
    unsignalled_queued,
)
from models.range_tests import RANGE_TEST_JOBS
from models.storage import get_settings, session_scope
from worker.prometheus import RECONCILER_ACTIONS

log = logging.getLogger("lrlab.reconciler")

# Arbitrary constant naming lrlab's reconciler lock among Postgres advisory locks.
_LOCK_KEY = 0x1A_1AB_7EC
# Every kind of job the workers run, each reconciled the same way.
JOB_KINDS: tuple[JobKind, ...] = (EXPERIMENT_JOBS, RANGE_TEST_JOBS)


@dataclass
class PassReport:
    """What one reconciler pass did."""

    requeued: list[uuid.UUID] = field(default_factory=list)
    republished: list[uuid.UUID] = field(default_factory=list)
    skipped: bool = False
    files_removed: int = 0


def reconcile_once() -> PassReport:
    """Run one pass; skipped when another worker holds the lock."""
    settings = get_settings()
    report = PassReport()
    expired: dict[JobKind, list[tuple[uuid.UUID, str]]] = {}
    candidates: dict[JobKind, dict[str, list[tuple[uuid.UUID, bool]]]] = {}
    with session_scope() as session:
        report.files_removed = sweep_checkpoint_files(session)
    if report.files_removed:
        log.info("reconciler: removed %d orphaned checkpoint file(s)", report.files_removed)
    with session_scope() as session:
        if not session.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _LOCK_KEY}):
            report.skipped = True
            return report
        for kind in JOB_KINDS:
            expired[kind] = expire_leases(session, kind=kind, max_attempts=settings.max_attempts)
            candidates[kind] = unsignalled_queued(
                session, kind=kind, stale_after_seconds=settings.requeue_after_seconds
            )
        queues = {queue for by_queue in candidates.values() for queue in by_queue}
        # Every kind's messages share a broker queue, so the count is over all kinds.
        waiting = {
            queue: sum(queued_count(session, kind=k, queue=queue) for k in JOB_KINDS)
            for queue in queues
        }
        purge_expired_keys(session)
    lengths = {queue: broker_queue_length(queue) for queue in queues}
    for kind in JOB_KINDS:
        by_queue: dict[str, list[uuid.UUID]] = {}
        for job_id, queue in expired[kind]:
            by_queue.setdefault(queue, []).append(job_id)
            report.requeued.append(job_id)
        for queue, items in candidates[kind].items():
            length = lengths[queue]
            # A broker holding at least one message per queued job lost nothing.
            lost = length is not None and length < waiting[queue]
            for job_id, never_published in items:
                if never_published or lost:
                    by_queue.setdefault(queue, []).append(job_id)
                    report.republished.append(job_id)
        for queue, ids in by_queue.items():
            publish(ids, queue=queue, kind=kind)
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
