"""Python client and command-line tool of the lrlab API (HTTP only; no server imports)."""

from lrlab_client.client import (
    DEFAULT_API_URL,
    ApiConnectionError,
    ApiError,
    FieldError,
    LrlabClient,
    Resource,
    SpecError,
    Submission,
    content_key,
    detect_kind,
    parse_error,
)

__all__ = [
    "DEFAULT_API_URL",
    "ApiConnectionError",
    "ApiError",
    "FieldError",
    "LrlabClient",
    "Resource",
    "SpecError",
    "Submission",
    "content_key",
    "detect_kind",
    "parse_error",
]
