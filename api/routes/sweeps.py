"""HTTP adapters for sweeps: batch submission, progress, comparison, plots."""

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from api.deps import IdempotencyKeyHeader, SessionDep, SettingsDep
from api.dispatch import commit_and_enqueue, queue_warnings
from api.responses import csv_response, mark_replay
from models.comparison import Comparison, compare_sweep, comparison_csv_rows, sweep_curves
from models.plots import render_metric_curves
from models.sweep_grid import SweepCreate
from models.sweeps import (
    SWEEP_METRIC_FIELDS,
    SweepAccepted,
    SweepPage,
    SweepRead,
    cancel_sweep,
    get_sweep,
    list_sweeps,
    member_warnings,
    submit_sweep,
    sweep_metric_rows,
    sweep_read,
)

router = APIRouter(prefix="/sweeps", tags=["sweeps"])

PLOTTED = {"lr": "lr", "loss": "val_loss", "accuracy": "val_accuracy"}
MEDIA = {"png": "image/png", "svg": "image/svg+xml"}


@router.post("", status_code=202, summary="Submit a sweep")
def submit(
    sweep: SweepCreate,
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
    idempotency_key: IdempotencyKeyHeader = None,
) -> SweepAccepted:
    """Expand and queue a sweep (a repeated Idempotency-Key returns the original).

    `member_warnings` lists each member whose schedule the preview would flag; `warnings`, a
    queue that no live worker consumes.
    """
    row, members, created = submit_sweep(
        session,
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
        member_warnings=member_warnings(session, sweep=sweep, sweep_id=row.id),
    )


@router.get("", summary="List sweeps")
def list_all(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> SweepPage:
    """List sweeps, newest first."""
    items, total = list_sweeps(session, limit=limit, offset=offset)
    return SweepPage(
        items=[sweep_read(session, s) for s in items], total=total, limit=limit, offset=offset
    )


@router.get("/{sweep_id}", summary="Get a sweep")
def read_sweep(sweep_id: uuid.UUID, session: SessionDep) -> SweepRead:
    """Return a sweep's status, member counts and progress."""
    return sweep_read(session, get_sweep(session, sweep_id=sweep_id))


@router.post("/{sweep_id}/cancel", summary="Cancel a sweep")
def cancel(sweep_id: uuid.UUID, session: SessionDep) -> SweepRead:
    """Cancel every member that has not finished."""
    sweep = cancel_sweep(session, sweep_id=sweep_id)
    session.commit()
    return sweep_read(session, sweep)


@router.get("/{sweep_id}/comparison", response_model=Comparison, summary="Compare a sweep")
def comparison(
    sweep_id: uuid.UUID,
    session: SessionDep,
    target: Annotated[float, Query(gt=0, le=1)] = 0.97,
    format: Literal["json", "csv"] = "json",
) -> Comparison | Response:
    """Per-configuration statistics over seeds, best mean final val_accuracy first."""
    result = compare_sweep(session, sweep_id=sweep_id, target=target)
    if format == "csv":
        fields, rows = comparison_csv_rows(result)
        return csv_response(rows, f"{sweep_id}-comparison", fields=fields)
    return result


@router.get("/{sweep_id}/metrics", summary="Get a sweep's metrics")
def metrics(
    sweep_id: uuid.UUID, session: SessionDep, format: Literal["json", "csv"] = "csv"
) -> Response:
    """Every member's per-epoch rows in long format."""
    rows = sweep_metric_rows(session, sweep_id=sweep_id)
    if format == "csv":
        return csv_response(rows, f"{sweep_id}-metrics", fields=SWEEP_METRIC_FIELDS)
    return Response(
        content="[" + ",".join(r.model_dump_json() for r in rows) + "]",
        media_type="application/json",
    )


@router.get("/{sweep_id}/plots/{name}.{ext}", summary="Plot a sweep")
def plot(
    sweep_id: uuid.UUID,
    name: Literal["lr", "loss", "accuracy"],
    ext: Literal["png", "svg"],
    session: SessionDep,
    log_scale: Annotated[
        bool, Query(description="Logarithmic y axis (useful for `lr` across decades).")
    ] = False,
) -> Response:
    """One line per configuration (mean over seeds, band: ± one std), epoch on the x axis."""
    curves = sweep_curves(session, sweep_id=sweep_id, metric=PLOTTED[name])
    image = render_metric_curves(
        curves, metric=PLOTTED[name], log_scale=log_scale, image_format=ext
    )
    return Response(content=image, media_type=MEDIA[ext])
