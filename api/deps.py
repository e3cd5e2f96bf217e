"""FastAPI dependencies, as `Annotated` aliases used by every route."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header
from sqlalchemy.orm import Session

from models.db import get_sessionmaker
from models.settings import Settings, get_settings


def get_session() -> Iterator[Session]:
    """Yield a session per request; routes commit, anything uncommitted is rolled back."""
    with get_sessionmaker()() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Retry key: the same key and body return the original resource.",
    ),
]
