"""HTTP adapters for sweeps: batch submission, progress, comparison, plots."""

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Response

from api.auth import Reader, Writer
from api.deps import (
    IdempotencyKeyHeader,
    PageAfter,
    PageLimit,
    PageOffset,
    SessionDep,
    SessionsDep,
    SettingsDep,
)
from api.dispatch import commit_and_enqueue, queue_warnings
from api.openapi import BINARY, BODY, CALLER, CSV, DATABASE, responses
from api.responses import (
    csv_response,
    json_body_schema,
    mark_replay,
    stream_csv,
    stream_json_array,
)
from api.routing import JsonBodyRoute
from models.sweeps import (
    PRUNING_FIELDS,
    SWEEP_METRIC_FIELDS,
    Comparison,
    PruningDecisionRead,
    SweepAccepted,
    SweepCreate,
    SweepMetricRow,
    SweepPage,
    SweepRead,
    accept_sweep_spec,
    cancel_sweep,
    compare_sweep,
    comparison_csv_rows,
    get_sweep,
    list_sweeps,
    member_warnings,
    metric_pages,
    plot_sweep,
    pruning_log,
    submit_sweep,
    sweep_members,
    sweep_read,
    sweep_reads,
)

router = APIRouter(
    prefix="/sweeps",
    tags=["sweeps"],
    route_class=JsonBodyRoute,
    responses=responses(*CALLER, *DATABASE),
)

PLOTTED = {"lr": "lr", "loss": "val_loss", "accuracy": "val_accuracy"}
MEDIA = {"png": "image/png", "svg": "image/svg+xml"}


@router.post(
    "",
    status_code=202,
    summary="Submit a sweep",
    openapi_extra=json_body_schema(SweepCreate),
    responses=responses(*BODY, 409, replay=SweepAccepted),
)
def submit(
    body: Annotated[dict[str, Any], Body()],
    caller: Writer,
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
    idempotency_key: IdempotencyKeyHeader = None,
) -> SweepAccepted:
    """Expand and queue a sweep (a repeated Idempotency-Key returns the original).

    Any learning rate may be `{"from_range_test": id, "suggestion": "valley", "multiplier": 1}`.
    `member_warnings` lists each member whose schedule the preview would flag; `warnings`, a
    queue that no live worker consumes.
    """
    sweep = accept_sweep_spec(session, project_id=caller.project_id, document=body)
    row, members, created = submit_sweep(
        session,
        project_id=caller.project_id,
        key_id=caller.key_id,
        sweep=sweep,
        queue=settings.queue,
        idempotency_key=idempotency_key,
        key_ttl_hours=settings.idempotency_ttl_hours,
    )
    queue = sweep.queue or settings.queue
    commit_and_enqueue(session, members if created else [], queue=queue)
    mark_replay(response, replayed=not created)
    response.headers["Location"] = f"/sweeps/{row.id}"
    return SweepAccepted(
        **sweep_read(session, row).model_dump(),
        warnings=queue_warnings(settings, queue),
        member_warnings=member_warnings(
            session, project_id=caller.project_id, sweep=sweep, sweep_id=row.id
        ),
    )


@router.get("", summary="List sweeps", responses=responses(422))
def list_all(
    caller: Reader,
    session: SessionDep,
    limit: PageLimit = 50,
    offset: PageOffset = 0,
    after: PageAfter = None,
) -> SweepPage:
    """List sweeps, newest first; `after=<next of the previous page>` for deep pages."""
    items, total, exact, cursor = list_sweeps(
        session, project_id=caller.project_id, limit=limit, offset=offset, after=after
    )
    return SweepPage(
        items=sweep_reads(session, items),
        total=total,
        total_exact=exact,
        limit=limit,
        offset=offset,
        next=cursor,
    )


@router.get("/{sweep_id}", summary="Get a sweep", responses=responses(404, 422))
def read_sweep(sweep_id: uuid.UUID, caller: Reader, session: SessionDep) -> SweepRead:
    """Return a sweep's status, member counts and progress."""
    return sweep_read(session, get_sweep(session, project_id=caller.project_id, sweep_id=sweep_id))


@router.post("/{sweep_id}/cancel", summary="Cancel a sweep", responses=responses(404, 409, 422))
def cancel(sweep_id: uuid.UUID, caller: Writer, session: SessionDep) -> SweepRead:
    """Cancel every member that has not finished."""
    sweep = cancel_sweep(
        session, project_id=caller.project_id, key_id=caller.key_id, sweep_id=sweep_id
    )
    session.commit()
    return sweep_read(session, sweep)


@router.get(
    "/{sweep_id}/comparison",
    response_model=Comparison,
    summary="Compare a sweep",
    responses=responses(404, 422, media={"text/csv": CSV}),
)
def comparison(
    sweep_id: uuid.UUID,
    caller: Reader,
    session: SessionDep,
    target: Annotated[float, Query(gt=0, le=1)] = 0.97,
    format: Literal["json", "csv"] = "json",
    baseline: Annotated[
        str | None,
        Query(
            max_length=500,
            description="The configuration the others are compared with, pair by pair over "
            "seeds: its label or 0-based grid index; default: the best-ranked.",
        ),
    ] = None,
) -> Comparison | Response:
    """Per-configuration statistics over seeds.

    Ranked by the share of finished runs that reached `target` (runs that never reach it are
    censored, not averaged), then fewest mean epochs to the target among those that did,
    then highest mean final val_accuracy. Student-t 95% intervals are clipped to the
    metric's range (accuracy [0, 1], epochs [1, epochs], loss >= 0); `small_sample` flags
    fewer than 3 runs. `paired`: each row minus the baseline on final val_accuracy, seed by
    seed (paired t, exact sign-flip, Holm-adjusted, a verdict at alpha 0.05; Welch where
    model or data differ); pruned and failed members are left out and counted.
    """
    result = compare_sweep(
        session,
        project_id=caller.project_id,
        sweep_id=sweep_id,
        target=target,
        baseline=baseline,
    )
    if format == "csv":
        fields, rows = comparison_csv_rows(result)
        return csv_response(rows, f"{sweep_id}-comparison", fields=fields)
    return result


@router.get(
    "/{sweep_id}/pruning",
    response_model=list[PruningDecisionRead],
    summary="Get a sweep's pruning decisions",
    responses=responses(404, 422, media={"text/csv": CSV}),
)
def pruning(
    sweep_id: uuid.UUID,
    caller: Reader,
    session: SessionDep,
    format: Literal["json", "csv"] = "json",
) -> list[PruningDecisionRead] | Response:
    """Every decision of the sweep's pruning rule, in decision order (see docs/sweeps.md)."""
    decisions = pruning_log(session, project_id=caller.project_id, sweep_id=sweep_id)
    if format == "csv":
        rows = [d.model_dump(mode="json") for d in decisions]
        return csv_response(rows, f"{sweep_id}-pruning", fields=PRUNING_FIELDS)
    return decisions


@router.get(
    "/{sweep_id}/metrics",
    response_model=list[SweepMetricRow],
    summary="Get a sweep's metrics",
    responses=responses(404, 422, media={"text/csv": CSV}),
)
def metrics(
    sweep_id: uuid.UUID,
    caller: Reader,
    session: SessionDep,
    sessions: SessionsDep,
    format: Literal["json", "csv"] = "csv",
) -> Response:
    """Every member's per-epoch rows in long format, sent page by page as they are read."""
    members = sweep_members(session, project_id=caller.project_id, sweep_id=sweep_id)
    rows = metric_pages(sessions, members=members)
    if format == "csv":
        return stream_csv(rows, f"{sweep_id}-metrics", fields=SWEEP_METRIC_FIELDS)
    return stream_json_array(rows, fields=SWEEP_METRIC_FIELDS)


@router.get(
    "/{sweep_id}/plots/{name}.{ext}",
    summary="Plot a sweep",
    response_class=Response,
    responses=responses(404, 422, 503, media={m: BINARY for m in MEDIA.values()}),
)
def plot(
    sweep_id: uuid.UUID,
    name: Literal["lr", "loss", "accuracy"],
    ext: Literal["png", "svg"],
    caller: Reader,
    sessions: SessionsDep,
    log_scale: Annotated[
        bool, Query(description="Logarithmic y axis (useful for `lr` across decades).")
    ] = False,
) -> Response:
    """One line per configuration (mean over seeds, band: ± one std), epoch on the x axis.

    503 with Retry-After while the renderer's queue is full (`LRLAB_RENDER_QUEUE_DEPTH`).
    """
    image = plot_sweep(
        sessions,
        project_id=caller.project_id,
        sweep_id=sweep_id,
        metric=PLOTTED[name],
        log_scale=log_scale,
        image_format=ext,
    )
    return Response(content=image, media_type=MEDIA[ext])
