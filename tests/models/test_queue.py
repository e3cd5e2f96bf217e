"""Publishing: a failed publish after the commit leaves the experiment for the reconciler."""

from collections.abc import Iterator

import pytest
from sqlalchemy import delete

from models.db import session_scope
from models.ledger import mark_enqueued
from models.queue import get_producer, publish_marked
from models.settings import get_settings
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
        mark_enqueued(session, experiment_ids=[experiment.id])
    try:
        with session_scope() as session:
            assert session.get(Experiment, experiment.id).enqueued_at is not None  # type: ignore[union-attr]
        publish_marked([experiment.id], queue="lrlab-test-unreachable")
        with session_scope() as session:
            assert session.get(Experiment, experiment.id).enqueued_at is None  # type: ignore[union-attr]
    finally:
        with session_scope() as session:
            session.execute(delete(Experiment).where(Experiment.id == experiment.id))
