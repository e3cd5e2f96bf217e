"""How request bodies are read: JSON only, parsed strictly, once for every route."""

import json
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import anyio
from fastapi import HTTPException, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import Policy

log = logging.getLogger("lrlab.api")

# No spec nests deeper than a handful of levels; deeper bodies are refused before validation.
MAX_JSON_DEPTH = 64
# Bodies past this are parsed in a worker thread: a megabyte of JSON takes the event loop
# tens of milliseconds, during which no other request of the process is served.
PARSE_OFF_LOOP_BYTES = 64 * 1024


class _BadJson(ValueError):
    """The body is JSON we refuse: malformed, duplicate keys or too deep."""


class JsonBodyRoute(APIRoute):
    """An APIRoute whose body must be `application/json`, without duplicate keys or deep nesting."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap FastAPI's handler: bodies are checked and parsed here, validated by FastAPI."""
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler

        policy = _policy(self.dependant)

        async def route_handler(request: Request) -> Response:
            strict = _StrictJsonRequest(request.scope, request.receive)
            if policy is not None:
                # Who calls, and within their rate limit, before a byte of the body is read.
                await policy(strict, strict.headers.get("authorization"))
            try:
                body = await strict.body()
            except ClientDisconnect:
                # Nobody is left to answer: one line, not a traceback per dropped upload.
                log.info("client disconnected while sending a body to %s", request.url.path)
                return Response(status_code=400)
            if body and not _is_json(strict.headers.get("content-type")):
                raise HTTPException(
                    status_code=415,
                    detail="request bodies must be JSON (Content-Type: application/json)",
                )
            if body:
                await strict.json()
            return await handler(strict)

        return route_handler


def _policy(dependant: Dependant) -> Policy | None:
    """The route's declared policy, wherever it sits among its dependencies."""
    for dependency in dependant.dependencies:
        if isinstance(dependency.call, Policy):
            return dependency.call
        found = _policy(dependency)
        if found is not None:
            return found
    return None


class _StrictJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                if len(body) > PARSE_OFF_LOOP_BYTES:
                    self._json = await anyio.to_thread.run_sync(parse_json, body)
                else:
                    self._json = parse_json(body)
            except _BadJson as exc:
                log.info("refused a request body on %s: %s", self.url.path, exc)
                raise RequestValidationError(
                    [{"type": "json_invalid", "loc": ("body",), "msg": str(exc), "input": None}]
                ) from None
        return self._json


def parse_json(body: bytes) -> Any:
    """Parse a request body; malformed JSON, duplicate keys or nesting past MAX_JSON_DEPTH raise."""
    try:
        value = json.loads(body, object_pairs_hook=_unique_keys)
    except RecursionError:
        raise _BadJson(f"JSON nests deeper than {MAX_JSON_DEPTH} levels") from None
    except json.JSONDecodeError as exc:
        raise _BadJson(f"invalid JSON: {exc.msg} at position {exc.pos}") from None
    except UnicodeDecodeError:
        raise _BadJson("invalid JSON: the body is not UTF-8") from None
    except ValueError as exc:
        # e.g. an integer past Python's 4,300-digit conversion limit.
        raise _BadJson(f"invalid JSON: {str(exc)[:200]}") from None
    if _deeper_than(value, MAX_JSON_DEPTH):
        raise _BadJson(f"JSON nests deeper than {MAX_JSON_DEPTH} levels")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _BadJson(f"duplicate key `{key[:64]}` in a JSON object")
            seen.add(key)
    return result


def _deeper_than(value: Any, limit: int) -> bool:
    level: list[Any] = [value]
    for _ in range(limit):
        level = [
            child
            for item in level
            if isinstance(item, dict | list)
            for child in (item.values() if isinstance(item, dict) else item)
            if isinstance(child, dict | list)
        ]
        if not level:
            return False
    return True


def _is_json(content_type: str | None) -> bool:
    if content_type is None:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


class BodyLimit:
    """Refuse bodies past `max_bytes` with a JSON 413, by Content-Length or as they stream."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer 413 at once for a declared length past the limit, else count what arrives."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large()(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Raised inside the route: the error handlers answer it as JSON.
                    raise HTTPException(status_code=413, detail=self._detail())
            return message

        await self.app(scope, limited, send)

    def _detail(self) -> str:
        return f"the request body is larger than {self.max_bytes} bytes (LRLAB_MAX_BODY_BYTES)"

    def _too_large(self) -> JSONResponse:
        return JSONResponse(status_code=413, content={"detail": self._detail()})
