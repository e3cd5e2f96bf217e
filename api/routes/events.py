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
    response_class=EventSourceResponse,
    responses=responses(media=STREAM),
)
async def experiment_events(
    experiment_id: uuid.UUID, caller: Reader, request: Request, last_event_id: LastEventId = None
) -> EventSourceResponse:
    """Stream `epoch` and `status` events until the experiment ends (replays what exists)."""
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
    response_class=EventSourceResponse,
    responses=responses(media=STREAM),
)
async def sweep_events(
    sweep_id: uuid.UUID, caller: Reader, request: Request, last_event_id: LastEventId = None
) -> EventSourceResponse:
    """Stream every member's `epoch` and `status` events until all members have ended."""
    ids = await run_in_threadpool(_watched, caller.project_id, sweep_id=sweep_id)
    return event_stream(
        request,
        key=str(sweep_id),
        caller=caller,
        experiment_ids=ids,
        last_event_id=last_event_id,
    )
