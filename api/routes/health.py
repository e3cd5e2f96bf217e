"""Liveness and readiness probes."""

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.deps import SettingsDep
from api.operator import require_metrics_reader
from models.db import get_engine, session_scope
from models.experiments import experiment_counts
from models.queue import broker_reachable
from models.workers import find_workers, served_queues

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness probe")
def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz", response_model=None, summary="Readiness probe")
def readyz(
    settings: SettingsDep,
    detail: Annotated[bool, Query(description="Operator view: workers and queues.")] = False,
    authorization: Annotated[str | None, Header()] = None,
) -> dict[str, Any] | JSONResponse:
    """Postgres and the broker are reachable (503 with the reasons otherwise).

    With `detail=true` (operator token, as for /metrics): the live workers per queue, the queues
    that hold work or are the default but that no live worker consumes, and workers that report
    a problem (e.g. their dataset cannot be loaded). These never fail the probe: the API itself
    is ready without workers.
    """
    if detail:
        require_metrics_reader(settings, authorization)
    reasons = [r for r in (_database_reachable(), broker_reachable()) if r is not None]
    if reasons:
        return JSONResponse(status_code=503, content={"status": "unavailable", "reasons": reasons})
    body: dict[str, Any] = {"status": "ready"}
    if detail:
        body |= _operator_view(settings.broker_url, settings.broker_timeout_seconds, settings.queue)
    return body


def _operator_view(broker_url: str, timeout: float, default_queue: str) -> dict[str, Any]:
    workers = find_workers(broker_url, timeout=timeout) or []
    with session_scope() as session:
        counts = experiment_counts(session)
    waiting = {q for status, q, n in counts if status in ("queued", "running") and n}
    return {
        "workers": {w.name: w.queues for w in workers},
        "unserved_queues": sorted(({default_queue} | waiting) - served_queues(workers)),
        "worker_problems": [
            f"{w.name}: {w.dataset_error}" for w in workers if w.dataset_error is not None
        ],
    }


def _database_reachable() -> str | None:
    try:
        with get_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        return f"database unreachable: {type(exc).__name__}: {str(exc).splitlines()[0]}"
    return None
