"""What the OpenAPI document says a route answers: error bodies, status codes and media types.

Routes name the answers they can give (`responses(...)`); the bodies and descriptions live here
once, so the document and the error handlers in `api.errors` stay in step.
"""

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field


class ErrorBody(BaseModel):
    """Every error but a validation failure: `{"detail": "what went wrong"}`."""

    detail: str


class TooManyBody(ErrorBody):
    """A 429: the key's rate limit, or a project quota (then which, its limit and the count)."""

    quota: str | None = Field(
        default=None, description="The quota a submission would exceed; absent for the rate limit."
    )
    limit: int | None = Field(default=None, description="That quota's limit.")
    current: int | None = Field(
        default=None,
        description="The count checked: the project's active jobs, or this request's members or "
        "optimizer steps.",
    )


class ValidationIssue(BaseModel):
    """One invalid input: where (`loc`), what (`msg`) and the error `type`."""

    model_config = ConfigDict(extra="allow")

    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorBody(BaseModel):
    """A 422: every invalid input of the request."""

    detail: list[ValidationIssue]


class ReadinessBody(BaseModel):
    """`/readyz`'s answer: `ready` or `unavailable`; the rest only for the operator token."""

    status: str
    reasons: list[str] = []
    workers: dict[str, list[str]] = Field(
        default={}, description="Live workers and the queues each consumes."
    )
    unserved_queues: list[str] = Field(
        default=[], description="Queues with work (or the default) that no live worker consumes."
    )
    worker_problems: list[str] = Field(
        default=[], description="Workers that report a problem, e.g. a dataset they cannot load."
    )


_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying (a rate limit; a quota has none).",
        "schema": {"type": "integer"},
    }
}

_ERRORS: dict[int, tuple[str, type[BaseModel], bool]] = {
    # status: (description, body, carries Retry-After)
    400: ("The body is not JSON (or not UTF-8).", ErrorBody, False),
    401: ("No or an unknown API key.", ErrorBody, False),
    403: ("The API key may not do this.", ErrorBody, False),
    404: ("No such resource.", ErrorBody, False),
    409: (
        "Conflicts with the resource's state or with an earlier Idempotency-Key.",
        ErrorBody,
        False,
    ),
    413: ("The request body is larger than `LRLAB_MAX_BODY_BYTES`.", ErrorBody, False),
    415: ("The request body is not `application/json`.", ErrorBody, False),
    422: ("Invalid input; every problem with its location.", ValidationErrorBody, False),
    429: (
        "Too many requests: the key's rate limit or the open event streams' bounds (retry "
        "after `Retry-After` seconds), or on a submission a project quota (`quota`, `limit`, "
        "`current`; nothing was stored).",
        TooManyBody,
        True,
    ),
    503: (
        "The database is unavailable or its connections are all busy, or the plot renderer's "
        "queue is full (`LRLAB_RENDER_QUEUE_DEPTH`); retry after `Retry-After` seconds.",
        ErrorBody,
        True,
    ),
}

# Every route behind identity and the rate limit (all but the probes) can answer these.
CALLER = (401, 403, 429)
# A route that reads or writes Postgres.
DATABASE = (503,)
# A route that takes a JSON body.
BODY = (400, 413, 415, 422)

BINARY = {"schema": {"type": "string", "format": "binary"}}
CSV = {"schema": {"type": "string"}}


def responses(
    *codes: int,
    replay: type[BaseModel] | None = None,
    media: dict[str, dict[str, Any]] | None = None,
) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route: these error codes, an idempotent replay, extra media types.

    `replay` documents the 200 a repeated Idempotency-Key answers with (the original resource);
    `media` adds non-JSON bodies of the success answer (e.g. `{"text/csv": CSV}`).
    """
    documented: dict[int | str, dict[str, Any]] = {}
    for code in sorted(set(codes)):
        description, model, retry_after = _ERRORS[code]
        entry: dict[str, Any] = {"description": description, "model": model}
        if retry_after:
            entry["headers"] = _RETRY_AFTER
        documented[code] = entry
    if replay is not None:
        documented[200] = {
            "description": "An idempotent replay: the resource the same Idempotency-Key made.",
            "model": replay,
            "headers": {
                "Idempotent-Replayed": {
                    "description": "`true` on a replay.",
                    "schema": {"type": "string", "enum": ["true"]},
                }
            },
        }
    if media:
        documented.setdefault(200, {})["content"] = media
    return documented


class LinkedFastAPI(FastAPI):
    """FastAPI whose document links each created resource to the operations on it.

    `POST /experiments` answers with an `id`; every operation under `/experiments/{id}` takes
    it. OpenAPI links say so, and clients and stateful testers (schemathesis) follow them.
    """

    def openapi(self) -> dict[str, Any]:
        """The generated document with links added (once; FastAPI caches it)."""
        if self.openapi_schema is None:
            document = super().openapi()
            add_links(document)
            hoist_defs(document)
        return super().openapi()


def hoist_defs(document: dict[str, Any]) -> None:
    """Move every inline `$defs` (a body schema validated by the route) to
    `components/schemas`, so each `$ref` resolves from the document root.

    A name already taken by another schema gets a `-Body` suffix (then a number).
    """
    schemas: dict[str, Any] = document.setdefault("components", {}).setdefault("schemas", {})

    def place(name: str, schema: Any) -> str:
        candidate, counter = name, 1
        while candidate in schemas and schemas[candidate] != schema:
            counter += 1
            candidate = f"{name}-Body" if counter == 2 else f"{name}-Body{counter}"
        schemas[candidate] = schema
        return candidate

    def walk(node: Any, names: dict[str, str]) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item, names)
            return
        if not isinstance(node, dict):
            return
        defs = node.pop("$defs", None)
        if isinstance(defs, dict):
            names = {**names, **{name: name for name in defs}}
            # Rewritten first, so that equal definitions compare equal once placed.
            for schema in defs.values():
                walk(schema, names)
            names = {**names, **{name: place(name, schema) for name, schema in defs.items()}}
            for schema in defs.values():
                _rename(schema, names)
        for key, value in node.items():
            # `$ref`s, and the refs of a discriminator's `mapping`.
            if isinstance(value, str) and value.startswith("#/$defs/"):
                node[key] = "#/components/schemas/" + names.get(value[8:], value[8:])
            else:
                walk(value, names)

    walk(document["paths"], {})


def _rename(node: Any, names: dict[str, str]) -> None:
    """Point refs to components at their final (possibly suffixed) names."""
    if isinstance(node, list):
        for item in node:
            _rename(item, names)
    elif isinstance(node, dict):
        prefix = "#/components/schemas/"
        for key, value in node.items():
            if isinstance(value, str) and value.startswith(prefix):
                node[key] = prefix + names.get(value[len(prefix) :], value[len(prefix) :])
            else:
                _rename(value, names)


def add_links(document: dict[str, Any]) -> None:
    """Link each POST's created resource (202, and the 200 replay) to `<path>/{param}...`."""
    paths: dict[str, dict[str, Any]] = document["paths"]
    for collection, operations in paths.items():
        created = operations.get("post", {}).get("responses", {})
        if "202" not in created:
            continue
        links: dict[str, Any] = {}
        for path, targets in paths.items():
            if not path.startswith(f"{collection}/{{"):
                continue
            parameter = path[len(collection) + 2 :].split("}", 1)[0]
            for target in targets.values():
                links[target["operationId"]] = {
                    "operationId": target["operationId"],
                    "parameters": {parameter: "$response.body#/id"},
                }
        for status in ("200", "202"):
            if status in created:
                created[status]["links"] = links
