"""The range-test ledger: claim, fencing, lease expiry and requeue through the generic ledger."""

import uuid
from datetime import timedelta

from sqlalchemy import func, update
from sqlalchemy.orm import Session

from models.jobs import expire_leases, renew_leases, unsignalled_queued
from models.range_tests import (
    RANGE_TEST_JOBS,
    RangeTestCreate,
    cancel_range_test,
    claim_range_test,
    create_range_test,
    fail_range_test,
    record_range_progress,
)
from models.tables import RangeTest
from tests.factories import home_project_id


def _queued(session: Session) -> RangeTest:
    return create_range_test(
        session,
        project_id=home_project_id(session),
        key_id=None,
        spec=RangeTestCreate.model_validate({"num_iter": 50}),
        queue="q-unused",
    )


def _expire(session: Session, test: RangeTest) -> None:
    session.execute(
        update(RangeTest)
        .where(RangeTest.id == test.id)
        .values(lease_expires_at=func.now() - timedelta(seconds=1))
    )


def test_an_expired_attempt_is_requeued_and_fenced_off(db_session: Session) -> None:
    test = _queued(db_session)
    first = claim_range_test(db_session, range_test_id=test.id, lease_seconds=60, max_attempts=3)
    assert first is not None and first.attempt == 1
    assert renew_leases(
        db_session, kind=RANGE_TEST_JOBS, claims=[(test.id, 1)], lease_seconds=60
    ) == {test.id}
    _expire(db_session, test)
    assert expire_leases(db_session, kind=RANGE_TEST_JOBS, max_attempts=3) == [
        (test.id, "q-unused")
    ]
    second = claim_range_test(db_session, range_test_id=test.id, lease_seconds=60, max_attempts=3)
    assert second is not None and second.attempt == 2
    # The first attempt's writes are refused: another attempt owns the test now.
    assert not record_range_progress(
        db_session, range_test_id=test.id, attempt=1, iterations_done=5, lease_seconds=60
    )
    assert not fail_range_test(db_session, range_test_id=test.id, attempt=1, error="late")
    assert record_range_progress(
        db_session, range_test_id=test.id, attempt=2, iterations_done=5, lease_seconds=60
    )
    db_session.refresh(test)
    assert (test.status, test.iterations_done) == ("running", 5)


def test_out_of_attempts_fails_the_test(db_session: Session) -> None:
    test = _queued(db_session)
    assert claim_range_test(db_session, range_test_id=test.id, lease_seconds=60, max_attempts=1)
    _expire(db_session, test)
    assert expire_leases(db_session, kind=RANGE_TEST_JOBS, max_attempts=1) == []
    db_session.refresh(test)
    assert test.status == "failed"
    assert "gave up after 1 attempt" in (test.error or "")


def test_an_unpublished_test_is_found_by_the_reconciler_query(db_session: Session) -> None:
    test = _queued(db_session)
    db_session.execute(
        update(RangeTest)
        .where(RangeTest.id == test.id)
        .values(updated_at=func.now() - timedelta(seconds=60))
    )
    found = unsignalled_queued(db_session, kind=RANGE_TEST_JOBS, stale_after_seconds=30)
    assert (test.id, True) in found["q-unused"]


def test_a_cancelled_test_refuses_its_attempt(db_session: Session) -> None:
    test = _queued(db_session)
    claim = claim_range_test(db_session, range_test_id=test.id, lease_seconds=60, max_attempts=3)
    assert claim is not None
    cancel_range_test(
        db_session, project_id=home_project_id(db_session), key_id=None, range_test_id=test.id
    )
    assert not record_range_progress(
        db_session,
        range_test_id=test.id,
        attempt=claim.attempt,
        iterations_done=1,
        lease_seconds=60,
    )
    assert (
        claim_range_test(db_session, range_test_id=uuid.uuid4(), lease_seconds=60, max_attempts=3)
        is None
    )
