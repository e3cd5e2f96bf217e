"""Ringing the broker's doorbell: send task messages by name, never importing the worker."""

import logging
import uuid
from collections.abc import Sequence
from functools import lru_cache

from celery import Celery

from models.jobs.kinds import JobKind
from models.jobs.lifecycle import mark_enqueued, mark_unpublished
from models.storage import get_settings, kombu_url, session_scope

log = logging.getLogger("lrlab.queue")


@lru_cache
def get_producer() -> Celery:
    """Return a Celery app used only to publish messages (the API side)."""
    settings = get_settings()
    app = Celery("lrlab-producer", broker=kombu_url(settings.broker_url))
    app.conf.update(
        broker_connection_timeout=settings.broker_timeout_seconds,
        broker_connection_retry_on_startup=False,
        broker_transport_options={
            "socket_connect_timeout": settings.broker_timeout_seconds,
            "socket_timeout": settings.broker_timeout_seconds,
        },
    )
    return app


def enqueue_jobs(job_ids: Sequence[uuid.UUID], *, queue: str, task: str) -> bool:
    """Publish one run message per job; False if the broker could not be reached.

    Call only after the experiments are committed: the message is a hint, Postgres the record.
    The producer and its broker connection come from the app's pool, kept between calls:
    opening a connection per request cost more than everything else a submission does. The
    messages go out in one batch; a failed flush may have sent some of them, so all are left to
    the reconciler (a second message for a job is harmless: claims are fenced).
    """
    app = get_producer()
    amqp = app.amqp
    try:
        # kombu's publish batch: one pipelined round trip to Redis for all of them. That flush
        # is the only I/O, and kombu never retries it (a failed one leaves the jobs to the
        # reconciler), so a per-message retry would only wrap the buffering.
        with app.producer_or_acquire() as producer, producer.batch():
            for job_id in job_ids:
                args = [str(job_id)]
                # Celery's own message (protocol 2) and publish step, without `send_task`'s
                # per-call routing and option merging: half the CPU of a large sweep's publish.
                message = amqp.as_task_v2(
                    str(uuid.uuid4()),
                    task,
                    args=args,
                    kwargs={},
                    # What Celery's saferepr makes of them, at a fraction of its cost.
                    argsrepr=repr(args),
                    kwargsrepr="{}",
                )
                amqp.send_task_message(
                    producer,
                    task,
                    message,
                    queue=queue,
                    # No declaration per message: a Redis queue is its list, which the
                    # anonymous exchange fills by name (workers declare what they consume).
                    declare=[],
                    retry=False,
                )
    except Exception as exc:
        log.warning(
            "broker unreachable, %d job(s) left for the reconciler: %s",
            len(job_ids),
            exc,
        )
        return False
    return True


def publish(job_ids: Sequence[uuid.UUID], *, queue: str, kind: JobKind) -> None:
    """Publish run messages for committed jobs and record when (in its own transaction).

    A failed publish leaves `enqueued_at` empty, which the reconciler picks up.
    """
    if job_ids and enqueue_jobs(job_ids, queue=queue, task=kind.task):
        with session_scope() as session:
            mark_enqueued(session, job_ids=job_ids, kind=kind)


def publish_marked(job_ids: Sequence[uuid.UUID], *, queue: str, kind: JobKind) -> None:
    """Publish for jobs committed with `enqueued_at` already set (`mark_enqueued`).

    Marking inside the submitting transaction saves a second transaction per request. A failed
    publish clears the mark again so that the reconciler re-publishes at once; should even that
    fail, the reconciler's broker-count rule still re-publishes them after `requeue_after_seconds`.
    """
    if not job_ids or enqueue_jobs(job_ids, queue=queue, task=kind.task):
        return
    try:
        with session_scope() as session:
            mark_unpublished(session, job_ids=job_ids, kind=kind)
    except Exception as exc:
        log.warning("could not clear enqueued_at after a failed publish: %s", exc)


def broker_reachable() -> str | None:
    """Return None when the broker answers, else the reason it does not."""
    try:
        with get_producer().connection_for_read() as conn:
            conn.ensure_connection(max_retries=1, timeout=get_settings().broker_timeout_seconds)
    except Exception as exc:
        return f"broker unreachable: {exc}"
    return None


def broker_queue_length(queue: str) -> int | None:
    """Messages waiting in `queue` on the broker, or None if it cannot be asked."""
    try:
        with get_producer().connection_for_read() as conn:
            conn.ensure_connection(max_retries=1, timeout=get_settings().broker_timeout_seconds)
            declared = conn.default_channel.queue_declare(queue=queue, passive=True)
            return int(declared.message_count)
    except Exception as exc:
        if "NOT_FOUND" in str(exc) or "no queue" in str(exc).lower():
            return 0
        log.debug("cannot read the length of queue %s: %s", queue, exc)
        return None
