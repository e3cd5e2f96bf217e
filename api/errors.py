"""The one place where domain and infrastructure errors become HTTP responses."""

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.routing import Match

from models.errors import ConflictError, DomainError, NotFoundError, UnavailableError

log = logging.getLogger("lrlab.api")

_STATUS: dict[type[DomainError], int] = {
    NotFoundError: 404,
    ConflictError: 409,
    UnavailableError: 503,
}


def install_error_handlers(app: FastAPI) -> None:
    """Register the mapping of domain errors and database outages onto HTTP."""

    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        status = next((code for cls, code in _STATUS.items() if isinstance(exc, cls)), 400)
        return JSONResponse(status_code=status, content={"detail": str(exc)})

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        # The echoed input may hold NaN or inf, which JSON cannot carry.
        return JSONResponse(
            status_code=422,
            content={
                "detail": _finite(jsonable_encoder(exc.errors(), custom_encoder={ValueError: str}))
            },
        )

    @app.exception_handler(405)
    async def _method_not_allowed(request: Request, exc: Exception) -> JSONResponse:
        # Starlette names only the first route matching the path; list every route's methods.
        allowed = sorted(
            {
                method
                for route in app.router.routes
                if isinstance(route, APIRoute) and route.matches(request.scope)[0] != Match.NONE
                for method in route.methods or ()
            }
        )
        return JSONResponse(
            status_code=405,
            content={"detail": "Method Not Allowed"},
            headers={"Allow": ", ".join(allowed)},
        )

    @app.exception_handler(OperationalError)
    async def _db_down(_: Request, exc: OperationalError) -> JSONResponse:
        return _unavailable(exc)

    @app.exception_handler(DBAPIError)
    async def _db_error(_: Request, exc: DBAPIError) -> JSONResponse:
        if exc.connection_invalidated:
            return _unavailable(exc)
        raise exc


def _unavailable(exc: DBAPIError) -> JSONResponse:
    log.warning("database unavailable: %s", exc.orig)
    return JSONResponse(
        status_code=503,
        content={"detail": "database unavailable, try again shortly"},
        headers={"Retry-After": "2"},
    )


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
