"""Range tests as the API sees them: submit, read, list, cancel, and the recorded curves.

Functions flush, never commit: the caller owns the transaction. The worker's side is
`models.range_tests.attempts`.
"""

import uuid
from collections.abc import Sequence

from sqlalchemy import null, select
from sqlalchemy.orm import Session

from models.errors import NotFoundError, already_finished
from models.experiments import check_range_test_quota
from models.jobs import request_hash, reserve_key
from models.range_tests.attempts import RANGE_TEST_JOBS
from models.range_tests.schemas import (
    CurvePoint,
    RangeTestCreate,
    RangeTestProgress,
    RangeTestRead,
    RangeTestResult,
    finite_or_none,
)
from models.storage import newest_first
from models.tables import TERMINAL_STATUSES, JobStatus, RangeTest, RangeTestCurve, finished_phrase


def create_range_test(
    session: Session,
    *,
    project_id: uuid.UUID,
    key_id: uuid.UUID | None,
    spec: RangeTestCreate,
    queue: str,
    enqueued: bool = False,
    test_id: uuid.UUID | None = None,
) -> RangeTest:
    """Store a validated spec as a queued range test of the project (QuotaError past its
    active range-test quota).

    `enqueued`: the caller publishes its message right after committing (see
    `create_experiment`).
    """
    check_range_test_quota(session, project_id=project_id)
    test = RangeTest(
        id=test_id or uuid.uuid4(),
        project_id=project_id,
        submitted_by_key_id=key_id,
        name=spec.name,
        status=JobStatus.QUEUED,
        spec=spec.model_dump(mode="json"),
        queue=spec.queue or queue,
        num_iter=spec.num_iter,
        iterations_done=0,
        attempt=0,
        **({} if enqueued else {"enqueued_at": null()}),
    )
    session.add(test)
    session.flush()
    return test


def submit_range_test(
    session: Session,
    *,
    project_id: uuid.UUID,
    key_id: uuid.UUID | None,
    spec: RangeTestCreate,
    queue: str,
    idempotency_key: str | None,
    key_ttl_hours: int,
) -> tuple[RangeTest, bool]:
    """Store a queued range test, or return the one this key already made; (test, created)."""
    test_id = uuid.uuid4()
    if idempotency_key is not None:
        original = reserve_key(
            session,
            project_id=project_id,
            scope="range_test",
            key=idempotency_key,
            body_hash=request_hash(spec.model_dump(mode="json")),
            resource_id=test_id,
            ttl_hours=key_ttl_hours,
        )
        if original is not None:
            return get_range_test(session, project_id=project_id, range_test_id=original), False
    test = create_range_test(
        session,
        project_id=project_id,
        key_id=key_id,
        spec=spec,
        queue=queue,
        enqueued=True,
        test_id=test_id,
    )
    return test, True


def get_range_test(
    session: Session, *, project_id: uuid.UUID, range_test_id: uuid.UUID
) -> RangeTest:
    """Return the project's range test, or NotFoundError (also when another project owns it)."""
    test = session.get(RangeTest, range_test_id)
    if test is None or test.project_id != project_id:
        raise NotFoundError(f"range test {range_test_id} not found")
    return test


def list_range_tests(
    session: Session,
    *,
    project_id: uuid.UUID,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
    after: str | None = None,
) -> tuple[list[RangeTest], int, bool, str | None]:
    """One page of the project's range tests, newest first: (items, total, exact, next)."""
    query = select(RangeTest).where(RangeTest.project_id == project_id)
    if status is not None:
        query = query.where(RangeTest.status == status)
    return newest_first(session, query, RangeTest, limit=limit, offset=offset, after=after)


def cancel_range_test(
    session: Session, *, project_id: uuid.UUID, key_id: uuid.UUID | None, range_test_id: uuid.UUID
) -> RangeTest:
    """Cancel a queued or running test; a running one stops at its next progress record."""
    test = session.scalars(
        select(RangeTest)
        .where(RangeTest.id == range_test_id, RangeTest.project_id == project_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if test is None:
        raise NotFoundError(f"range test {range_test_id} not found")
    if test.status in TERMINAL_STATUSES:
        raise already_finished(f"range test {range_test_id}", finished_phrase(test.status))
    RANGE_TEST_JOBS.close(session, [test], status=JobStatus.CANCELLED, error=None)
    test.cancelled_by_key_id = key_id
    session.flush()
    return test


def list_curves(
    session: Session, *, project_id: uuid.UUID, range_test_id: uuid.UUID
) -> Sequence[RangeTestCurve]:
    """The recorded curve of every seed (empty until the test succeeded), by seed."""
    get_range_test(session, project_id=project_id, range_test_id=range_test_id)
    return session.scalars(
        select(RangeTestCurve)
        .where(RangeTestCurve.range_test_id == range_test_id)
        .order_by(RangeTestCurve.seed)
    ).all()


def curve_points(curves: Sequence[RangeTestCurve]) -> list[CurvePoint]:
    """The curves as one row per seed and iteration; a diverged (non-finite) loss is null."""
    return [
        CurvePoint(
            seed=curve.seed,
            iteration=i,
            lr=lr,
            loss=finite_or_none(loss),
            smoothed_loss=finite_or_none(smoothed),
        )
        for curve in curves
        for i, (lr, loss, smoothed) in enumerate(
            zip(curve.lrs, curve.losses, curve.smoothed_losses, strict=True)
        )
    ]


def range_test_read(test: RangeTest) -> RangeTestRead:
    """Build the API view of a range test row."""
    return RangeTestRead(
        id=test.id,
        name=test.name,
        status=test.status,
        spec=test.spec,
        progress=RangeTestProgress(iterations_done=test.iterations_done, num_iter=test.num_iter),
        attempt=test.attempt,
        dataset=test.dataset,
        result=RangeTestResult.model_validate(test.result) if test.result else None,
        error=test.error,
        created_at=test.created_at,
        updated_at=test.updated_at,
        started_at=test.started_at,
        finished_at=test.finished_at,
    )
