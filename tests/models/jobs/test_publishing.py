"""Publishing: a failed publish after the commit leaves the experiment for the reconciler."""

import base64
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import delete

from devtools.redis_server import RedisServer
from models.experiments import EXPERIMENT_JOBS, RUN_EXPERIMENT_TASK
from models.jobs import enqueue_jobs, get_producer, mark_enqueued, publish_marked
from models.storage import get_settings, session_scope
from models.tables import Experiment
from tests.factories import create_queued


@pytest.fixture
def broker_down(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Point the producer at a port nothing listens on."""
    monkeypatch.setenv("LRLAB_BROKER_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("LRLAB_BROKER_TIMEOUT_SECONDS", "0.5")
    get_settings.cache_clear()
    get_producer.cache_clear()
    yield
    get_settings.cache_clear()
    get_producer.cache_clear()


def test_failed_publish_clears_the_mark_made_in_the_commit(
    database: str, broker_down: None
) -> None:
    with session_scope() as session:
        experiment = create_queued(session)
        mark_enqueued(session, job_ids=[experiment.id], kind=EXPERIMENT_JOBS)
    try:
        with session_scope() as session:
            assert session.get(Experiment, experiment.id).enqueued_at is not None  # type: ignore[union-attr]
        publish_marked([experiment.id], queue="lrlab-test-unreachable", kind=EXPERIMENT_JOBS)
        with session_scope() as session:
            assert session.get(Experiment, experiment.id).enqueued_at is None  # type: ignore[union-attr]
    finally:
        with session_scope() as session:
            session.execute(delete(Experiment).where(Experiment.id == experiment.id))


@pytest.fixture
def private_broker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RedisServer]:
    """Point the producer at a redis-server of this test's own, which it may restart."""
    server = RedisServer(tmp_path)
    monkeypatch.setenv("LRLAB_BROKER_URL", server.url)
    monkeypatch.setenv("LRLAB_BROKER_TIMEOUT_SECONDS", "0.5")
    get_settings.cache_clear()
    get_producer.cache_clear()
    yield server
    server.stop()
    get_settings.cache_clear()
    get_producer.cache_clear()


def test_a_publish_after_the_broker_restarted_goes_out_at_once(
    private_broker: RedisServer,
) -> None:
    """The pooled connection died with the broker: the next publish reconnects (nothing waits
    for the reconciler); one while it is down answers False at once."""
    assert enqueue_jobs([uuid.uuid4()], queue="lrlab-test-restart", task=RUN_EXPERIMENT_TASK)
    private_broker.stop()
    started = time.monotonic()
    assert not enqueue_jobs([uuid.uuid4()], queue="lrlab-test-restart", task=RUN_EXPERIMENT_TASK)
    assert time.monotonic() - started < 5
    private_broker.start()
    ids = [uuid.uuid4(), uuid.uuid4()]
    assert enqueue_jobs(ids, queue="lrlab-test-restart", task=RUN_EXPERIMENT_TASK)
    raw = redis.Redis.from_url(private_broker.url).lrange("lrlab-test-restart", 0, -1)
    # Celery's message protocol 2, as a worker reads it: the task by name, the id as its arg.
    messages = [json.loads(m) for m in reversed(raw)]
    assert [m["headers"]["task"] for m in messages] == [RUN_EXPERIMENT_TASK] * 2
    bodies = [json.loads(base64.b64decode(m["body"])) for m in messages]
    assert [body[:2] for body in bodies] == [[[str(i)], {}] for i in ids]
    assert all(
        m["properties"]["delivery_info"]["routing_key"] == "lrlab-test-restart" for m in messages
    )
