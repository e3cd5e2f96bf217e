"""Liveness and readiness probes."""

import logging
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.auth import PUBLIC, AuthorizationHeader, bearer_token, is_operator_token
from api.deps import SessionDep, SettingsDep
from api.openapi import ReadinessBody
from models.experiments import experiment_counts
from models.jobs import broker_reachable, find_workers, served_queues
from models.storage import Settings, get_engine
from models.tables import JobStatus

log = logging.getLogger("lrlab.api")
router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness probe", dependencies=[Depends(PUBLIC)])
async def healthz() -> dict[str, str]:
    """The process is alive: answered on the event loop, without a hop to a worker thread."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness probe",
    response_model=None,
    dependencies=[Depends(PUBLIC)],
    responses={
        200: {"description": "Ready.", "model": ReadinessBody},
        503: {"description": "Postgres or the broker is unreachable.", "model": ReadinessBody},
    },
)
def readyz(
    session: SessionDep, settings: SettingsDep, authorization: AuthorizationHeader = None
) -> dict[str, Any] | JSONResponse:
    """Postgres and the broker are reachable (503 otherwise); anyone sees only `status`.

    With the operator token (`Authorization: Bearer <LRLAB_ADMIN_TOKEN>`) the answer also
    gives the `reasons` it is not ready and, when it is, the live workers per queue, the
    queues that hold work (or are the default) but no live worker consumes, and workers that
    report a problem (e.g. their dataset cannot be loaded). Workers never fail the probe: the
    API itself is ready without them.
    """
    reasons = [r for r in (_database_reachable(), broker_reachable()) if r is not None]
    if reasons:
        log.warning("not ready: %s", "; ".join(reasons))
    body: dict[str, Any] = {"status": "unavailable" if reasons else "ready"}
    if is_operator_token(bearer_token(authorization)):
        body["reasons"] = reasons
        if not reasons:
            body |= _operator_view(session, settings)
    if reasons:
        return JSONResponse(status_code=503, content=body)
    return body


def _operator_view(session: Session, settings: Settings) -> dict[str, Any]:
    workers = find_workers(settings.broker_url, timeout=settings.broker_timeout_seconds) or []
    counts = experiment_counts(session)
    waiting = {
        queue
        for status, queue, n in counts
        if status in (JobStatus.QUEUED, JobStatus.RUNNING) and n
    }
    return {
        "workers": {w.name: w.queues for w in workers},
        "unserved_queues": sorted(({settings.queue} | waiting) - served_queues(workers)),
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
