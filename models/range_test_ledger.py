"""The worker's side of range tests: claim, progress, and the fenced finish.

The ledger's generic functions (`models.ledger`, `table=RangeTest`) renew leases, expire them,
release and fail; these add what only a range test has. A test trains no checkpoint: a new
attempt (after a crash or an expired lease) starts again from iteration 0, and the curves are
written only with the result, so nothing half-done survives an attempt.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.ledger import close_owned, give_up, out_of_attempts, owned_job
from models.range_test_specs import RangeTestCreate, RangeTestResult
from models.tables import RangeTest, RangeTestCurve


@dataclass(frozen=True)
class RangeTestClaim:
    """A running range test as one attempt owns it."""

    range_test_id: uuid.UUID
    attempt: int
    spec: RangeTestCreate
    queue: str


@dataclass(frozen=True)
class SeedCurve:
    """One seed's recorded curve."""

    seed: int
    lrs: Sequence[float]
    losses: Sequence[float]
    smoothed_losses: Sequence[float]


def claim_range_test(
    session: Session, *, range_test_id: uuid.UUID, lease_seconds: int, max_attempts: int
) -> RangeTestClaim | None:
    """Claim this queued range test; one already tried `max_attempts` times fails instead."""
    # Waits for the row lock, as claim_group does: its holders are short transactions.
    test = session.scalars(
        select(RangeTest)
        .where(RangeTest.id == range_test_id, RangeTest.status == "queued")
        .with_for_update()
    ).one_or_none()
    if test is None:
        return None
    if out_of_attempts(test, max_attempts):
        give_up(session, test, max_attempts)
        session.flush()
        return None
    test.status = "running"
    test.attempt += 1
    test.iterations_done = 0  # a new attempt restarts the test
    test.lease_expires_at = func.now() + timedelta(seconds=lease_seconds)
    test.started_at = test.started_at or func.now()
    session.flush()
    return RangeTestClaim(
        range_test_id=test.id,
        attempt=test.attempt,
        spec=RangeTestCreate.model_validate(test.spec, strict=False),
        queue=test.queue,
    )


def record_range_progress(
    session: Session,
    *,
    range_test_id: uuid.UUID,
    attempt: int,
    iterations_done: int,
    lease_seconds: int,
    dataset: dict[str, Any] | None = None,
) -> bool:
    """Store how far the attempt got (and its data) and renew the lease; False means stop."""
    test = _owned(session, range_test_id, attempt)
    if test is None:
        return False
    test.iterations_done = iterations_done
    if dataset is not None:
        test.dataset = dataset
    test.lease_expires_at = func.now() + timedelta(seconds=lease_seconds)
    session.flush()
    return True


def finish_range_test(
    session: Session,
    *,
    range_test_id: uuid.UUID,
    attempt: int,
    curves: Sequence[SeedCurve],
    result: RangeTestResult,
) -> bool:
    """Store the curves and the result and mark the test succeeded; False if not owned."""
    test = _owned(session, range_test_id, attempt)
    if test is None:
        return False
    for curve in curves:
        session.merge(
            RangeTestCurve(
                range_test_id=range_test_id,
                seed=curve.seed,
                attempt=attempt,
                lrs=list(curve.lrs),
                losses=list(curve.losses),
                smoothed_losses=list(curve.smoothed_losses),
            )
        )
    test.iterations_done = result.iterations
    test.result = result.model_dump(mode="json")
    return close_owned(session, range_test_id, attempt, status="succeeded", table=RangeTest)


def fail_range_test(
    session: Session, *, range_test_id: uuid.UUID, attempt: int, error: str
) -> bool:
    """Mark the attempt's test failed with its error message."""
    return close_owned(
        session, range_test_id, attempt, status="failed", error=error, table=RangeTest
    )


def _owned(session: Session, range_test_id: uuid.UUID, attempt: int) -> RangeTest | None:
    test = owned_job(session, range_test_id, attempt, table=RangeTest)
    assert test is None or isinstance(test, RangeTest)
    return test
