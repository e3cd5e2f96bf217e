"""The range-test kind of job: claim, progress, and the fenced finish.

The lifecycle every kind shares (`models.jobs`, with `RANGE_TEST_JOBS`) renews leases,
expires them, releases and fails; these add what only a range test has. A test trains no
checkpoint: a new attempt (after a crash or an expired lease) starts again from iteration 0, and
the curves are written only with the result, so nothing half-done survives an attempt.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func
from sqlalchemy.orm import Session

from models.jobs import JobKind, close_owned, lock_queued, owned_job, reclaimed, start_attempt
from models.range_tests.schemas import RangeTestCreate, RangeTestResult
from models.tables import Job, JobStatus, RangeTest, RangeTestCurve

RUN_RANGE_TEST_TASK = "lrlab.run_range_test"
# A range test keeps nothing beyond the lifecycle columns until it succeeds: the defaults.
RANGE_TEST_JOBS = JobKind(name="range_test", table=RangeTest, task=RUN_RANGE_TEST_TASK)


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
    session: Session,
    *,
    range_test_id: uuid.UUID,
    lease_seconds: int,
    max_attempts: int,
    claim_token: uuid.UUID | None = None,
) -> RangeTestClaim | None:
    """Claim this queued range test; one already tried `max_attempts` times fails instead.

    `claim_token` names this claim: a retry whose first try committed (its acknowledgement
    lost) gets the claim that try made instead of nothing.
    """
    if claim_token is not None:
        mine = reclaimed(session, kind=RANGE_TEST_JOBS, claim_token=claim_token)
        if mine:
            return _claim_of(_range_test(mine[0]))
    job = lock_queued(
        session, kind=RANGE_TEST_JOBS, job_id=range_test_id, max_attempts=max_attempts
    )
    if job is None:
        return None
    test = _range_test(job)
    start_attempt(test, lease_seconds=lease_seconds, claim_token=claim_token)
    test.iterations_done = 0  # a new attempt restarts the test
    session.flush()
    return _claim_of(test)


def _claim_of(test: RangeTest) -> RangeTestClaim:
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
    return close_owned(session, RANGE_TEST_JOBS, range_test_id, attempt, status=JobStatus.SUCCEEDED)


def fail_range_test(
    session: Session, *, range_test_id: uuid.UUID, attempt: int, error: str
) -> bool:
    """Mark the attempt's test failed with its error message."""
    return close_owned(
        session, RANGE_TEST_JOBS, range_test_id, attempt, status=JobStatus.FAILED, error=error
    )


def _owned(session: Session, range_test_id: uuid.UUID, attempt: int) -> RangeTest | None:
    job = owned_job(session, RANGE_TEST_JOBS, range_test_id, attempt)
    return None if job is None else _range_test(job)


def _range_test(job: Job) -> RangeTest:
    # The kind's own table: a row of another kind here is a programming error.
    assert isinstance(job, RangeTest), job
    return job
