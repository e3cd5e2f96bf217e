"""The range-test runner's database steps against the real Postgres, with a lost commit ack."""

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import delete

from models.range_tests import RangeTestCreate, create_range_test, get_range_test
from models.storage import get_settings, session_scope
from models.tables import RangeTest
from tests.factories import home_project_id
from tests.worker.ack import AckLost
from worker import range_runner


@pytest.fixture
def queued(database: str) -> Iterator[uuid.UUID]:
    with session_scope() as session:
        test_id = create_range_test(
            session,
            project_id=home_project_id(session),
            key_id=None,
            spec=RangeTestCreate.model_validate({"num_iter": 50}),
            queue="q-unused",
        ).id
    yield test_id
    with session_scope() as session:
        session.execute(delete(RangeTest).where(RangeTest.id == test_id))


def test_a_claim_whose_commit_ack_was_lost_is_recognised_on_retry(
    queued: uuid.UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    ack_lost = AckLost()
    monkeypatch.setattr(range_runner, "session_scope", ack_lost)
    token = uuid.uuid4()
    claimed = range_runner.with_db_retry(
        lambda: range_runner.claim(queued, token=token, settings=get_settings()), what="claim"
    )
    assert ack_lost.fired
    # The retry found the claim its first try committed: the same attempt, no second one.
    assert claimed is not None and (claimed.range_test_id, claimed.attempt) == (queued, 1)
    with session_scope() as session:
        test = get_range_test(session, project_id=home_project_id(session), range_test_id=queued)
        assert (test.status, test.attempt) == ("running", 1)
