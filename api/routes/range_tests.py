"""HTTP adapters for learning-rate range tests."""

import uuid
from typing import Literal

from fastapi import APIRouter, Response

from api.auth import Reader, Writer
from api.deps import IdempotencyKeyHeader, PageAfter, PageLimit, PageOffset, SessionDep, SettingsDep
from api.dispatch import commit_and_enqueue
from api.openapi import BINARY, BODY, CALLER, CSV, DATABASE, responses
from api.responses import csv_response, mark_replay
from api.routing import JsonBodyRoute
from models.range_tests import (
    RANGE_TEST_JOBS,
    CurveList,
    CurvePoint,
    RangeTestCreate,
    RangeTestPage,
    RangeTestRead,
    cancel_range_test,
    curve_points,
    get_range_test,
    list_curves,
    list_range_tests,
    range_test_read,
    render_range_test,
    submit_range_test,
)
from models.tables import STATUSES

router = APIRouter(
    prefix="/range-tests",
    tags=["range tests"],
    route_class=JsonBodyRoute,
    responses=responses(*CALLER, *DATABASE),
)

Status = Literal[STATUSES]  # type: ignore[valid-type]
MEDIA = {"png": "image/png", "svg": "image/svg+xml"}


@router.post(
    "",
    status_code=202,
    summary="Submit a range test",
    responses=responses(*BODY, 409, replay=RangeTestRead),
)
def submit(
    spec: RangeTestCreate,
    caller: Writer,
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
    idempotency_key: IdempotencyKeyHeader = None,
) -> RangeTestRead:
    """Accept a range test and queue it (a repeated Idempotency-Key returns the original)."""
    test, created = submit_range_test(
        session,
        project_id=caller.project_id,
        key_id=caller.key_id,
        spec=spec,
        queue=settings.queue,
        idempotency_key=idempotency_key,
        key_ttl_hours=settings.idempotency_ttl_hours,
    )
    commit_and_enqueue(
        session, [test.id] if created else [], queue=test.queue, kind=RANGE_TEST_JOBS
    )
    mark_replay(response, replayed=not created)
    response.headers["Location"] = f"/range-tests/{test.id}"
    return range_test_read(test)


@router.get("", summary="List range tests", responses=responses(422))
def list_all(
    caller: Reader,
    session: SessionDep,
    status: Status | None = None,
    limit: PageLimit = 50,
    offset: PageOffset = 0,
    after: PageAfter = None,
) -> RangeTestPage:
    """List range tests, newest first; `after=<next of the previous page>` for deep pages."""
    items, total, exact, cursor = list_range_tests(
        session,
        project_id=caller.project_id,
        status=status,
        limit=limit,
        offset=offset,
        after=after,
    )
    return RangeTestPage(
        items=[range_test_read(t) for t in items],
        total=total,
        total_exact=exact,
        limit=limit,
        offset=offset,
        next=cursor,
    )


@router.get("/{range_test_id}", summary="Get a range test", responses=responses(404, 422))
def read_range_test(range_test_id: uuid.UUID, caller: Reader, session: SessionDep) -> RangeTestRead:
    """Return a range test's status, progress and, once done, its suggestions."""
    return range_test_read(
        get_range_test(session, project_id=caller.project_id, range_test_id=range_test_id)
    )


@router.post(
    "/{range_test_id}/cancel", summary="Cancel a range test", responses=responses(404, 409, 422)
)
def cancel(range_test_id: uuid.UUID, caller: Writer, session: SessionDep) -> RangeTestRead:
    """Cancel a queued or running range test (409 if it already finished)."""
    test = cancel_range_test(
        session, project_id=caller.project_id, key_id=caller.key_id, range_test_id=range_test_id
    )
    session.commit()
    return range_test_read(test)


@router.get(
    "/{range_test_id}/curve",
    summary="Get a range test's loss curve",
    response_model=CurveList,
    responses=responses(404, 422, media={"text/csv": CSV}),
)
def curve(
    range_test_id: uuid.UUID,
    caller: Reader,
    session: SessionDep,
    format: Literal["json", "csv"] = "json",
) -> CurveList | Response:
    """Every recorded iteration (lr, raw and smoothed loss), seed by seed, as JSON or CSV."""
    points = curve_points(
        list_curves(session, project_id=caller.project_id, range_test_id=range_test_id)
    )
    if format == "csv":
        return csv_response(points, f"{range_test_id}-curve", fields=list(CurvePoint.model_fields))
    return CurveList(items=points)


@router.get(
    "/{range_test_id}/plot.{ext}",
    summary="Plot a range test",
    response_class=Response,
    responses=responses(404, 422, media={"image/png": BINARY, "image/svg+xml": BINARY}),
)
def plot(
    range_test_id: uuid.UUID, ext: Literal["png", "svg"], caller: Reader, session: SessionDep
) -> Response:
    """Smoothed loss against lr (log axis) with the suggestions marked, like fastai's plot."""
    test = range_test_read(
        get_range_test(session, project_id=caller.project_id, range_test_id=range_test_id)
    )
    curves = list_curves(session, project_id=caller.project_id, range_test_id=range_test_id)
    image = render_range_test(
        seeds=[c.seed for c in curves],
        lrs=[c.lrs for c in curves],
        smoothed=[c.smoothed_losses for c in curves],
        result=test.result,
        title=f"range test {test.name or test.id} ({test.status})",
        image_format=ext,
    )
    return Response(content=image, media_type=MEDIA[ext])
