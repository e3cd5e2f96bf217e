"""The client's errors: what the API answered with (`ApiError`) and what it refuses locally.

`parse_error` turns an error response into an `ApiError` whose `field` names the offending
input when the API says which (FastAPI's 422 `loc`, without its leading `body`/`query`/`path`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

# FastAPI prefixes a validation error's location with where the value came from.
_LOC_SOURCES = frozenset({"body", "query", "path", "header", "cookie"})


@dataclass(frozen=True)
class FieldError:
    """One problem the API found, with the dotted path of the input it concerns (if any)."""

    field: str | None
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class ApiError(Exception):
    """The API answered with an error (or could not be reached: `ApiConnectionError`).

    `status` is the HTTP status (0 when there was no answer), `message` the first problem,
    `field` the dotted input path it concerns (e.g. ``scheduler.step.step_size``) or None, and
    `errors` every problem the API listed. ``str(error)`` is one line naming them all.
    """

    def __init__(
        self,
        status: int,
        message: str,
        field: str | None = None,
        errors: list[FieldError] | None = None,
    ) -> None:
        self.status = status
        self.message = message
        self.field = field
        self.errors = errors if errors else [FieldError(field, message)]
        super().__init__(str(self))

    def __str__(self) -> str:
        return "; ".join(str(e) for e in self.errors)

    def __repr__(self) -> str:
        return f"ApiError(status={self.status}, message={self.message!r}, field={self.field!r})"

    @property
    def is_user_error(self) -> bool:
        """A 4xx: the request was wrong (bad input, unknown id, conflict)."""
        return 400 <= self.status < 500


class ApiConnectionError(ApiError):
    """No HTTP answer: the API is down, unreachable, or too slow."""

    def __init__(self, message: str) -> None:
        super().__init__(0, message)


class SpecError(ValueError):
    """A document refused before any request: unreadable, not a mapping, of unknown shape."""


def parse_error(response: httpx.Response) -> ApiError:
    """Turn an error response into an ApiError, keeping the field the API names."""
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, list) and detail:
        errors = [_field_error(item) for item in detail]
        return ApiError(response.status_code, errors[0].message, errors[0].field, errors)
    if isinstance(detail, str) and detail:
        return ApiError(response.status_code, detail)
    if detail is not None:
        return ApiError(response.status_code, json.dumps(detail))
    text = response.text.strip().splitlines()[0][:200] if response.text.strip() else ""
    message = text or response.reason_phrase or f"HTTP {response.status_code}"
    return ApiError(response.status_code, message)


def _field_error(item: Any) -> FieldError:
    if not isinstance(item, dict):
        return FieldError(None, str(item))
    loc = [str(part) for part in item.get("loc") or []]
    if loc and loc[0] in _LOC_SOURCES:
        loc = loc[1:]
    message = str(item.get("msg") or item.get("type") or "invalid value")
    return FieldError(".".join(loc) or None, message)
