"""Python client and `lrlab` command line of the lrlab API.

Modules: `errors` (what the API answered, parsed), `documents` (reading YAML/JSON specs,
telling an experiment from a sweep, idempotency keys), `client` (`LrlabClient`, one method
per endpoint), `following` (waiting for runs and following their event streams, with retries;
`LrlabClient.wait`, `follow` and `watch` call it), `events` (the event-stream parser),
`answers` (the answers' `TypedDict`s), `render` (tables and progress), `cli` (the commands).
docs/client.md shows a complete script.

It speaks HTTP only: nothing here imports `api`, `models` or `worker`, so it installs and runs
without the server. Anyone may import it: scripts, notebooks, the benchmark.
"""

from lrlab_client.client import (
    DEFAULT_API_URL,
    LrlabClient,
    RangeTestSubmission,
    Resource,
    Submission,
)
from lrlab_client.documents import content_key, detect_kind, load_document
from lrlab_client.errors import ApiConnectionError, ApiError, FieldError, SpecError, parse_error

__all__ = [
    "DEFAULT_API_URL",
    "ApiConnectionError",
    "ApiError",
    "FieldError",
    "LrlabClient",
    "RangeTestSubmission",
    "Resource",
    "SpecError",
    "Submission",
    "content_key",
    "detect_kind",
    "load_document",
    "parse_error",
]
