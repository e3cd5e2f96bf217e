"""The one place where domain and infrastructure errors become HTTP responses."""

import json
import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import Match

from models.errors import (
    BusyError,
    ConflictError,
    DomainError,
    InvalidCursorError,
    InvalidInputError,
    NotFoundError,
    QuotaError,
    UnavailableError,
)

log = logging.getLogger("lrlab.api")

_STATUS: dict[type[DomainError], int] = {
    NotFoundError: 404,
    ConflictError: 409,
    UnavailableError: 503,
    InvalidInputError: 422,
}
# An error echoes at most this much of the value it refuses.
ECHO_CHARS = 64
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def install_error_handlers(app: FastAPI) -> None:
    """Register the mapping of domain errors and database outages onto HTTP."""

    @app.exception_handler(InvalidCursorError)
    async def _cursor(_: Request, exc: InvalidCursorError) -> JSONResponse:
        # A bad `after` is invalid input like any other: a 422 naming the parameter.
        issue = {"type": "value_error", "loc": ["query", "after"], "msg": str(exc)[:200]}
        return JSONResponse(status_code=422, content={"detail": [issue]})

    @app.exception_handler(QuotaError)
    async def _quota(_: Request, exc: QuotaError) -> JSONResponse:
        return JSONResponse(
            status_code=429,
            content={
                "detail": str(exc),
                "quota": exc.quota,
                "limit": exc.limit,
                "current": exc.current,
            },
        )

    @app.exception_handler(BusyError)
    async def _busy(_: Request, exc: BusyError) -> JSONResponse:
        return JSONResponse(
            status_code=503,
            content={"detail": str(exc)},
            headers={"Retry-After": str(exc.retry_after)},
        )

    @app.exception_handler(PoolTimeoutError)
    async def _pool_busy(_: Request, exc: PoolTimeoutError) -> JSONResponse:
        # Every pooled connection is held: the same documented 503 as an outage, not a 500.
        log.warning("database connection pool exhausted: %s", str(exc).splitlines()[0])
        return JSONResponse(
            status_code=503,
            content={"detail": "database busy, try again shortly"},
            headers={"Retry-After": "2"},
        )

    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        status = next((code for cls, code in _STATUS.items() if isinstance(exc, cls)), 400)
        return JSONResponse(status_code=status, content={"detail": str(exc)})

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        # The echoed input may hold NaN or inf, which JSON cannot carry.
        errors = [_bounded(error) for error in exc.errors()]
        return JSONResponse(
            status_code=422,
            content={"detail": _finite(jsonable_encoder(errors, custom_encoder={ValueError: str}))},
        )

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 405:
            # Starlette names the methods of the first route matching the path only.
            headers = {**(exc.headers or {}), "Allow": ", ".join(_allowed_methods(request))}
            exc = HTTPException(405, detail=exc.detail, headers=headers)
        return await http_exception_handler(request, exc)

    @app.exception_handler(ValidationError)
    async def _invalid_body(request: Request, exc: ValidationError) -> JSONResponse:
        # A body the route validates itself (after resolving range-test references).
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
        return await _invalid(request, RequestValidationError(errors))

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


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route answers at this path."""
    return [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL
            for route in request.app.routes
        )
    ]


def _bounded(error: Any) -> dict[str, Any]:
    """A validation error whose echoes (input, location, message) are short and encodable."""
    bounded = {k: v for k, v in error.items() if k not in ("input", "loc", "msg", "ctx")}
    bounded["loc"] = [_echo(part) for part in error.get("loc", ())]
    bounded["msg"] = _text(str(error.get("msg", "")), 500)
    if "input" in error:
        bounded["input"] = _echo(error["input"])
    if "ctx" in error:
        bounded["ctx"] = {k: _echo(v) for k, v in error["ctx"].items()}
    return bounded


def _echo(value: Any) -> Any:
    if isinstance(value, str):
        return _text(value, ECHO_CHARS)
    if isinstance(value, dict | list | tuple):
        shown = json.dumps(value, default=str, allow_nan=True)
        if len(shown) > ECHO_CHARS:
            return _text(shown, ECHO_CHARS)
        if isinstance(value, dict):
            return {_echo(k): _echo(v) for k, v in value.items()}
        return [_echo(v) for v in value]
    return value


def _text(value: str, limit: int) -> str:
    # Lone surrogates cannot be encoded as UTF-8: they are shown escaped.
    cut = value[:limit].encode("utf-8", "backslashreplace").decode("utf-8")
    return cut + "…" if len(value) > limit else cut


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
