"""Liveness and readiness probes."""

import logging

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.auth import PUBLIC, AuthorizationHeader, bearer_token, is_operator_token
from api.openapi import ReadinessBody
from models.db import get_engine
from models.queue import broker_reachable

log = logging.getLogger("lrlab.api")
router = APIRouter(tags=["health"])


@router.get("/healthz", dependencies=[Depends(PUBLIC)])
def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=None,
    dependencies=[Depends(PUBLIC)],
    responses={
        200: {"description": "Ready.", "model": ReadinessBody},
        503: {"description": "Postgres or the broker is unreachable.", "model": ReadinessBody},
    },
)
def readyz(authorization: AuthorizationHeader = None) -> dict[str, str] | JSONResponse:
    """Postgres and the broker are reachable (503 otherwise; reasons for the operator only)."""
    reasons = [r for r in (_database_reachable(), broker_reachable()) if r is not None]
    if not reasons:
        return {"status": "ready"}
    log.warning("not ready: %s", "; ".join(reasons))
    body: dict[str, object] = {"status": "unavailable"}
    if is_operator_token(bearer_token(authorization)):
        body["reasons"] = reasons
    return JSONResponse(status_code=503, content=body)


def _database_reachable() -> str | None:
    try:
        with get_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        return f"database unreachable: {type(exc).__name__}: {str(exc).splitlines()[0]}"
    return None
