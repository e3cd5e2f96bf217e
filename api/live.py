"""Live events in the API process: one Postgres listener fanned out to the open streams.

The listener holds the process's only long-lived database connection (`LISTEN`); a stream
holds none while it waits: it sleeps on an in-process wake-up and, when woken, reads what
is new in a short session. After the listener reconnects every stream re-reads, so a
signal lost while Postgres was away loses no event.
"""

import asyncio
import contextlib
import json
import logging
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import anyio
import psycopg
from fastapi import FastAPI, HTTPException, Request
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sse_starlette import EventSourceResponse, ServerSentEvent

from models.identity import Caller, key_in_force
from models.jobs import CHANNEL, Event, Position, end_event, events_since, finished, parse_cursor
from models.storage import Settings, get_settings, session_scope

log = logging.getLogger("lrlab.api.live")
# How long the listener waits for a notification before checking its connection is alive.
_LIVENESS_SECONDS = 30.0
# A stream woken more often than this re-checks its caller's key only this often.
_RECHECK_SECONDS = 1.0
_REPLAY_READERS = 2


@dataclass
class Broadcaster:
    """Wake-ups per watched key (an experiment or a sweep id), and open streams per caller."""

    _waiting: dict[str, set[asyncio.Event]] = field(default_factory=dict)
    _streams: Counter[str] = field(default_factory=Counter)

    @contextlib.contextmanager
    def subscribe(self, key: str) -> Iterator[asyncio.Event]:
        """An event set whenever `key` may have changed, for the duration of the block."""
        wake = asyncio.Event()
        self._waiting.setdefault(key, set()).add(wake)
        try:
            yield wake
        finally:
            waiting = self._waiting.get(key, set())
            waiting.discard(wake)
            if not waiting:
                self._waiting.pop(key, None)

    def dispatch(self, payload: str) -> None:
        """Wake the streams of the experiment (and its sweep) a notification names."""
        try:
            ids = json.loads(payload)
            keys = [ids["experiment_id"], ids.get("sweep_id")]
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed notification: %.200s", payload)
            return
        for key in keys:
            for wake in self._waiting.get(key or "", ()):
                wake.set()

    def wake_all(self) -> None:
        """Wake every stream: signals may have been missed."""
        for waiting in self._waiting.values():
            for wake in waiting:
                wake.set()

    def open_stream(self, *, key: str, project: str, settings: Settings) -> None:
        """Count a new stream of this key and project, or refuse it with 429 past a bound."""
        bounds = (
            (f"key:{key}", settings.max_streams_per_key, "per API key"),
            (f"project:{project}", settings.max_streams_per_project, "per project"),
            ("process", settings.max_streams_per_process, "per API process"),
        )
        for counter, limit, scope in bounds:
            if self._streams[counter] >= limit:
                raise HTTPException(
                    status_code=429,
                    detail=f"at most {limit} open event streams {scope}; close one first",
                    headers={"Retry-After": "5"},
                )
        for counter, _, _ in bounds:
            self._streams[counter] += 1

    def close_stream(self, *, key: str, project: str) -> None:
        """Forget one stream of this key and project."""
        for counter in (f"key:{key}", f"project:{project}", "process"):
            self._streams[counter] -= 1
            if self._streams[counter] <= 0:
                del self._streams[counter]


def _listen_url(settings: Settings) -> str:
    return make_url(settings.database_url).set(drivername="postgresql").render_as_string(False)


async def listen(broadcaster: Broadcaster, url: str, connected: asyncio.Event) -> None:
    """LISTEN on the events channel forever, reconnecting with backoff when Postgres drops."""
    delay = 0.5
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(
                url, autocommit=True, connect_timeout=3
            ) as conn:
                await conn.execute(f"LISTEN {CHANNEL}")
                # Whatever committed while nobody listened is in the record: re-read it.
                broadcaster.wake_all()
                connected.set()
                delay = 0.5
                while True:
                    async for note in conn.notifies(timeout=_LIVENESS_SECONDS):
                        broadcaster.dispatch(note.payload)
                    await conn.execute("SELECT 1")  # a silent, dead connection raises here
        except (psycopg.Error, OSError) as exc:
            connected.clear()
            log.warning("event listener lost Postgres (%s); reconnecting in %.1fs", exc, delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 10.0)


@contextlib.asynccontextmanager
async def live_events(app: FastAPI) -> AsyncIterator[None]:
    """Run the process's listener for the lifetime of the app."""
    broadcaster = Broadcaster()
    connected = asyncio.Event()
    app.state.broadcaster = broadcaster
    # Replay pages read (and encoded) at once per process; more streams wait their turn
    # instead of taking the interpreter from every other request.
    app.state.stream_readers = anyio.CapacityLimiter(_REPLAY_READERS)
    app.state.listener_connected = connected
    task = asyncio.create_task(listen(broadcaster, _listen_url(get_settings()), connected))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _read(
    experiment_ids: list[uuid.UUID], positions: list[Position]
) -> tuple[bytes, list[Position], bool]:
    """The next page of events, encoded here in the thread: the event loop sends one chunk."""
    with session_scope() as session:
        events, positions, more = events_since(
            session, experiment_ids=experiment_ids, positions=positions
        )
    return _encode(events), positions, more


def _encode(events: list[Event]) -> bytes:
    return b"".join(
        ServerSentEvent(data=json.dumps(e.data), event=e.type, id=e.id).encode() for e in events
    )


def _in_force(key_id: uuid.UUID) -> bool:
    with session_scope() as session:
        return key_in_force(session, key_id=key_id)


def event_stream(
    request: Request,
    *,
    key: str,
    caller: Caller,
    experiment_ids: list[uuid.UUID],
    last_event_id: str | None,
) -> EventSourceResponse:
    """The SSE response following these experiments from `last_event_id` to their end.

    The replay is read a page at a time (`REPLAY_PAGE_ROWS` epochs), each in its own short
    session and thread. While it waits, the stream re-checks the caller's key at least every
    heartbeat and ends once the key is revoked or its project deleted.
    """
    settings = get_settings()
    broadcaster: Broadcaster = request.app.state.broadcaster
    readers: anyio.CapacityLimiter = request.app.state.stream_readers
    owner = {"key": str(caller.key_id), "project": str(caller.project_id)}
    broadcaster.open_stream(**owner, settings=settings)

    async def events() -> AsyncIterator[bytes]:
        positions = parse_cursor(last_event_id, len(experiment_ids))
        checked = anyio.current_time()
        try:
            # Subscribed before the first read: a change committed in between still wakes us.
            with broadcaster.subscribe(key) as wake:
                while True:
                    wake.clear()
                    more = True
                    while more:
                        chunk, positions, more = await anyio.to_thread.run_sync(
                            _read, experiment_ids, positions, limiter=readers
                        )
                        if chunk:
                            yield chunk
                    if finished(positions):
                        # Only here is the end announced: a stream that stops anywhere else
                        # was cut, and its client reconnects with its Last-Event-ID.
                        yield _encode([end_event(experiment_ids, positions)])
                        return
                    with anyio.move_on_after(settings.stream_heartbeat_seconds):
                        await wake.wait()
                    if anyio.current_time() - checked >= _RECHECK_SECONDS:
                        checked = anyio.current_time()
                        if not await anyio.to_thread.run_sync(_in_force, caller.key_id):
                            log.info("ending an event stream: its key was revoked")
                            return
        except DBAPIError as exc:
            # The client reconnects with its Last-Event-ID and misses nothing.
            log.warning("ending an event stream: database unavailable (%s)", exc.orig)
        finally:
            broadcaster.close_stream(**owner)

    return EventSourceResponse(
        events(),
        ping=settings.stream_heartbeat_seconds,
        ping_message_factory=lambda: ServerSentEvent(comment="heartbeat"),
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
