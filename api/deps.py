"""FastAPI dependencies, as `Annotated` aliases used by every route."""

import logging
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Header, Query
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from models.fields import SafeStr
from models.storage import Sessions, Settings, get_sessionmaker, get_settings, session_scope

log = logging.getLogger("lrlab.api")


async def get_session() -> AsyncIterator[Session]:
    """Yield a session per request; routes commit, anything uncommitted is rolled back.

    Made and closed on the event loop (no hop to a thread) unless closing must talk to the
    database: a session still in a transaction rolls it back, in a thread.
    """
    session = get_sessionmaker()()
    try:
        yield session
    finally:
        if session.in_transaction():
            await run_in_threadpool(_close, session)
        else:
            _close(session)


def _close(session: Session) -> None:
    # Runs after the response went out: a connection that died meanwhile is only logged
    # (the pool discards it), since there is no response left to turn into a 503.
    try:
        session.close()
    except DBAPIError as exc:
        log.warning("closing a session on a lost connection: %s", str(exc).splitlines()[0])


async def get_sessions() -> Sessions:
    """Short sessions for work done after the route returns (a streamed answer's pages).

    A dependency, so that tests hand out their own rolled-back session instead."""
    return session_scope


async def current_settings() -> Settings:
    """The process settings, without a hop to a thread."""
    return get_settings()


# Closed when the route function returns, before the response goes out: a streamed answer
# (event streams, large CSVs) never holds a pooled connection while it is being sent.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(current_settings)]
SessionsDep = Annotated[Sessions, Depends(get_sessions)]
# Bounded so that a page costs at most a bounded scan and the values fit Postgres' bigint.
PageLimit = Annotated[int, Query(ge=1, le=500, description="Items per page.")]
PageOffset = Annotated[int, Query(ge=0, le=1_000_000, description="Items to skip.")]
PageAfter = Annotated[
    SafeStr | None,
    Query(
        max_length=200,
        description="`next` of the previous page: keyset paging. An opaque cursor; one no page "
        "handed out → 422.",
    ),
]
IdempotencyKeyHeader = Annotated[
    SafeStr | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Retry key: the same key and body return the original resource.",
    ),
]
