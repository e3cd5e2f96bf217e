"""HTTP adapters for experiments."""

import uuid
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Body, Query, Response
from fastapi.concurrency import run_in_threadpool

from api.auth import Reader, Writer
from api.deps import IdempotencyKeyHeader, PageAfter, PageLimit, SessionDep, SettingsDep
from api.dispatch import queue_warnings_async
from api.openapi import BODY, CALLER, CSV, DATABASE, responses
from api.responses import csv_response, json_body_schema, mark_replay
from api.routing import JsonBodyRoute
from api.submissions import CommitterDep, accept_experiment
from models.experiments import (
    ExperimentAccepted,
    ExperimentCreate,
    ExperimentPage,
    ExperimentRead,
    MetricList,
    StepLrPage,
    cancel_experiment,
    experiment_read,
    get_experiment,
    list_experiments,
    list_step_lrs,
    metric_rows,
)
from models.fields import SafeStr
from models.tables import STATUSES
from models.training import MetricRead

router = APIRouter(
    prefix="/experiments",
    tags=["experiments"],
    route_class=JsonBodyRoute,
    responses=responses(*CALLER, *DATABASE),
)

Status = Literal[STATUSES]  # type: ignore[valid-type]


@router.post(
    "",
    status_code=202,
    summary="Submit an experiment",
    openapi_extra=json_body_schema(ExperimentCreate),
    responses=responses(*BODY, 409, replay=ExperimentAccepted),
)
async def submit(
    body: Annotated[dict[str, Any], Body()],
    caller: Writer,
    session: SessionDep,
    committer: CommitterDep,
    settings: SettingsDep,
    response: Response,
    idempotency_key: IdempotencyKeyHeader = None,
) -> ExperimentAccepted:
    """Accept an experiment spec and queue it (a repeated Idempotency-Key returns the original).

    Any learning rate may be `{"from_range_test": id, "suggestion": "valley", "multiplier": 1}`.
    `warnings` lists what the preview would flag, and a queue that no live worker consumes.
    """
    spec, read, created = await accept_experiment(
        session,
        committer,
        caller=caller,
        document=body,
        settings=settings,
        idempotency_key=idempotency_key,
    )
    mark_replay(response, replayed=not created)
    response.headers["Location"] = f"/experiments/{read.id}"
    # The preview's checks scan every step: off the event loop.
    warnings = await run_in_threadpool(spec.warnings)
    warnings += await queue_warnings_async(settings, spec.queue or settings.queue)
    # Both parts are validated already: built, not validated a second time.
    return ExperimentAccepted.model_construct(**dict(read), warnings=warnings)


@router.get("", response_model=ExperimentPage, summary="List experiments", responses=responses(422))
def list_all(
    caller: Reader,
    session: SessionDep,
    status: Status | None = None,
    scheduler_type: Annotated[SafeStr | None, Query(max_length=100)] = None,
    name: Annotated[
        SafeStr | None,
        Query(min_length=1, max_length=200, description="Part of the name, or id."),
    ] = None,
    sweep_id: Annotated[uuid.UUID | None, Query(description="Only this sweep's members.")] = None,
    limit: PageLimit = 50,
    offset: Annotated[int, Query(ge=0, le=10_000)] = 0,
    after: PageAfter = None,
) -> Response:
    """List experiments, newest first; `after=<next of the previous page>` for deep pages."""
    items, total, exact, cursor = list_experiments(
        session,
        project_id=caller.project_id,
        status=status,
        scheduler_type=scheduler_type,
        name=name,
        sweep_id=sweep_id,
        limit=limit,
        offset=offset,
        after=after,
    )
    page = ExperimentPage(
        items=[experiment_read(e) for e in items],
        total=total,
        total_exact=exact,
        limit=limit,
        offset=offset,
        next=cursor,
    )
    # Built and checked once above; response_model would validate the 50 items again.
    return Response(content=page.model_dump_json(), media_type="application/json")


@router.get("/{experiment_id}", summary="Get an experiment", responses=responses(404, 422))
def read_experiment(
    experiment_id: uuid.UUID, caller: Reader, session: SessionDep
) -> ExperimentRead:
    """Return one experiment's status, progress, spec and result."""
    return experiment_read(
        get_experiment(session, project_id=caller.project_id, experiment_id=experiment_id)
    )


@router.get(
    "/{experiment_id}/metrics",
    response_model=MetricList,
    summary="Get an experiment's metrics",
    responses=responses(404, 422, media={"text/csv": CSV}),
)
def read_metrics(
    experiment_id: uuid.UUID,
    caller: Reader,
    session: SessionDep,
    format: Literal["json", "csv"] = "json",
) -> Response:
    """Return the per-epoch metrics, as JSON or CSV."""
    rows = metric_rows(session, project_id=caller.project_id, experiment_id=experiment_id)
    if format == "csv":
        return csv_response(rows, f"{experiment_id}-metrics", fields=list(MetricRead.model_fields))
    # Encoded directly: the rows are checked columns already, and validating a 1,000-epoch
    # run's models twice (return value, response_model) cost ~10 ms (bench/LEDGER_PLANS.md).
    return Response(content=orjson.dumps({"items": rows}), media_type="application/json")


@router.get(
    "/{experiment_id}/lr", summary="Get the lr of every step", responses=responses(404, 422)
)
def read_step_lrs(
    experiment_id: uuid.UUID,
    caller: Reader,
    session: SessionDep,
    epoch_from: Annotated[int, Query(ge=1, le=1000, description="First epoch of the page.")] = 1,
    limit: Annotated[int, Query(ge=1, le=100, description="Epochs per page.")] = 100,
) -> StepLrPage:
    """The lr of every optimizer step used, a page of epochs (at most ~100,000 steps) at a time."""
    items, following = list_step_lrs(
        session,
        project_id=caller.project_id,
        experiment_id=experiment_id,
        epoch_from=epoch_from,
        limit=limit,
    )
    return StepLrPage(items=items, next_epoch_from=following)


@router.post(
    "/{experiment_id}/cancel", summary="Cancel an experiment", responses=responses(404, 409, 422)
)
def cancel(experiment_id: uuid.UUID, caller: Writer, session: SessionDep) -> ExperimentRead:
    """Cancel a queued or running experiment (409 if it already finished)."""
    experiment = cancel_experiment(
        session, project_id=caller.project_id, key_id=caller.key_id, experiment_id=experiment_id
    )
    session.commit()
    return experiment_read(experiment)
