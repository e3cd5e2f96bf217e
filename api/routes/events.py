"""HTTP adapters for the live event streams of experiments and sweeps (server-sent events)."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.concurrency import run_in_threadpool
from sse_starlette import EventSourceResponse

from api.auth import Reader
from api.live import event_stream
from api.openapi import CALLER, DATABASE, responses
from models.jobs import MAX_CURSOR_CHARS, watched_experiments
from models.storage import session_scope

router = APIRouter(tags=["events"], responses=responses(*CALLER, *DATABASE, 404, 422))
STREAM = {"text/event-stream": {"schema": {"type": "string"}}}
# The route descriptions: what a stream sends and how it ends.
_EVENTS = """Stream `epoch` and `status` events until {until} (what exists is replayed first).

Events:

- `epoch`: one finished epoch, its metrics and `experiment_id`.
- `status`: a status change of {who}: `experiment_id`, `status`, `epochs_done`,
  `epochs`, `attempt` and `error`.
- `end`: the last event, sent only once {until}:
  `{{"statuses": {{"<experiment id>": "succeeded", ...}}}}`, the final status of {every}.
  Its id is the final cursor: reconnecting with it as `Last-Event-ID` gets `end` again at once.

Every event's id is the stream's cursor; send the last one received as `Last-Event-ID` to
resume right after it. A stream that closes without `end` (a revoked key, the database away,
the server restarting) was cut: reconnect with `Last-Event-ID`. A comment line (`: heartbeat`)
keeps a quiet stream open.
"""

LastEventId = Annotated[
    str | None,
    Header(
        alias="Last-Event-ID",
        max_length=MAX_CURSOR_CHARS,
        description="The id of the last event received: the stream resumes right after it.",
    ),
]


def _watched(project_id: uuid.UUID, **target: uuid.UUID) -> list[uuid.UUID]:
    # A short session of its own: a stream must not hold a request's connection open.
    with session_scope() as session:
        return watched_experiments(session, project_id=project_id, **target)


@router.get(
    "/experiments/{experiment_id}/events",
    summary="Follow an experiment's events",
    description=_EVENTS.format(
        until="the experiment ends", who="the experiment", every="the experiment"
    ),
    response_class=EventSourceResponse,
    responses=responses(media=STREAM),
)
async def experiment_events(
    experiment_id: uuid.UUID, caller: Reader, request: Request, last_event_id: LastEventId = None
) -> EventSourceResponse:
    """Stream `epoch` and `status` events until the experiment ends, then `end`."""
    ids = await run_in_threadpool(_watched, caller.project_id, experiment_id=experiment_id)
    return event_stream(
        request,
        key=str(experiment_id),
        caller=caller,
        experiment_ids=ids,
        last_event_id=last_event_id,
    )


@router.get(
    "/sweeps/{sweep_id}/events",
    summary="Follow a sweep's events",
    description=_EVENTS.format(until="every member has ended", who="a member", every="each member"),
    response_class=EventSourceResponse,
    responses=responses(media=STREAM),
)
async def sweep_events(
    sweep_id: uuid.UUID, caller: Reader, request: Request, last_event_id: LastEventId = None
) -> EventSourceResponse:
    """Stream every member's `epoch` and `status` events until all have ended, then `end`."""
    ids = await run_in_threadpool(_watched, caller.project_id, sweep_id=sweep_id)
    return event_stream(
        request,
        key=str(sweep_id),
        caller=caller,
        experiment_ids=ids,
        last_event_id=last_event_id,
    )
