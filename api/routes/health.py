"""Liveness and readiness probes."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.openapi import ReadinessBody
from models.db import get_engine
from models.queue import broker_reachable

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=None,
    responses={
        200: {"description": "Ready.", "model": ReadinessBody},
        503: {"description": "Postgres or the broker is unreachable.", "model": ReadinessBody},
    },
)
def readyz() -> dict[str, str] | JSONResponse:
    """Postgres and the broker are reachable (503 with the reasons otherwise)."""
    reasons = [r for r in (_database_reachable(), broker_reachable()) if r is not None]
    if reasons:
        return JSONResponse(status_code=503, content={"status": "unavailable", "reasons": reasons})
    return {"status": "ready"}


def _database_reachable() -> str | None:
    try:
        with get_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        return f"database unreachable: {type(exc).__name__}: {str(exc).splitlines()[0]}"
    return None
