"""HTTP adapters for sweeps: batch submission, progress, comparison, plots."""

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from api.deps import IdempotencyKeyHeader, SessionDep, SettingsDep
from api.dispatch import commit_and_enqueue
from api.responses import csv_response, mark_replay
from models.comparison import Comparison, compare_sweep, comparison_csv_rows, sweep_curves
from models.plots import render_metric_curves
from models.sweep_grid import SweepCreate
from models.sweeps import (
    SWEEP_METRIC_FIELDS,
    SweepPage,
    SweepRead,
    cancel_sweep,
    get_sweep,
    list_sweeps,
    submit_sweep,
    sweep_metric_rows,
    sweep_read,
    sweep_reads,
)

router = APIRouter(prefix="/sweeps", tags=["sweeps"])

PLOTTED = {"lr": "lr", "loss": "val_loss", "accuracy": "val_accuracy"}
MEDIA = {"png": "image/png", "svg": "image/svg+xml"}


@router.post("", status_code=202)
def submit(
    sweep: SweepCreate,
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
    idempotency_key: IdempotencyKeyHeader = None,
) -> SweepRead:
    """Expand and queue a sweep (a repeated Idempotency-Key returns the original)."""
    row, members, created = submit_sweep(
        session,
        sweep=sweep,
        queue=settings.queue,
        idempotency_key=idempotency_key,
        key_ttl_hours=settings.idempotency_ttl_hours,
    )
    commit_and_enqueue(session, members if created else [], queue=sweep.queue or settings.queue)
    mark_replay(response, replayed=not created)
    response.headers["Location"] = f"/sweeps/{row.id}"
    return sweep_read(session, row)


@router.get("")
def list_all(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> SweepPage:
    """List sweeps, newest first."""
    items, total = list_sweeps(session, limit=limit, offset=offset)
    return SweepPage(items=sweep_reads(session, items), total=total, limit=limit, offset=offset)


@router.get("/{sweep_id}")
def read_sweep(sweep_id: uuid.UUID, session: SessionDep) -> SweepRead:
    """Return a sweep's status, member counts and progress."""
    return sweep_read(session, get_sweep(session, sweep_id=sweep_id))


@router.post("/{sweep_id}/cancel")
def cancel(sweep_id: uuid.UUID, session: SessionDep) -> SweepRead:
    """Cancel every member that has not finished."""
    sweep = cancel_sweep(session, sweep_id=sweep_id)
    session.commit()
    return sweep_read(session, sweep)


@router.get("/{sweep_id}/comparison", response_model=Comparison)
def comparison(
    sweep_id: uuid.UUID,
    session: SessionDep,
    target: Annotated[float, Query(gt=0, le=1)] = 0.97,
    format: Literal["json", "csv"] = "json",
) -> Comparison | Response:
    """Per-configuration statistics over seeds.

    Ranked by the share of finished runs that reached `target` (runs that never reach it are
    censored, not averaged), then fewest mean epochs to the target among those that did,
    then highest mean final val_accuracy. Student-t 95% intervals are clipped to the
    metric's range (accuracy [0, 1], epochs [1, epochs], loss >= 0); `small_sample` flags
    fewer than 3 runs.
    """
    result = compare_sweep(session, sweep_id=sweep_id, target=target)
    if format == "csv":
        fields, rows = comparison_csv_rows(result)
        return csv_response(rows, f"{sweep_id}-comparison", fields=fields)
    return result


@router.get("/{sweep_id}/metrics")
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


@router.get("/{sweep_id}/plots/{name}.{ext}")
def plot(
    sweep_id: uuid.UUID,
    name: Literal["lr", "loss", "accuracy"],
    ext: Literal["png", "svg"],
    session: SessionDep,
    log_scale: bool = False,
) -> Response:
    """One line per configuration (mean over seeds, band: ± one std), epoch on the x axis."""
    curves = sweep_curves(session, sweep_id=sweep_id, metric=PLOTTED[name])
    image = render_metric_curves(
        curves, metric=PLOTTED[name], log_scale=log_scale, image_format=ext
    )
    return Response(content=image, media_type=MEDIA[ext])
