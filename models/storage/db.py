"""SQLAlchemy engine, session factory and declarative base."""

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import lru_cache

import orjson
from sqlalchemy import MetaData, create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from models.storage.settings import get_settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base whose constraints follow one naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


@lru_cache
def get_engine() -> Engine:
    """Return the process-wide engine for `LRLAB_DATABASE_URL`."""
    return create_engine(
        get_settings().database_url,
        pool_pre_ping=True,
        # A page of 50 experiments parses 200 JSONB documents: orjson reads them ~5× faster.
        json_deserializer=orjson.loads,
        # A dead or silent database must surface as an error within seconds, never hang a
        # request or a worker: bounded connects, keepalives for idle connections, and a cap
        # on how long sent data may stay unacknowledged.
        connect_args={
            "connect_timeout": 3,
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 3,
            "keepalives_count": 3,
            "tcp_user_timeout": 20_000,
            # Short ledger queries over large tables cross JIT's cost threshold and then spend
            # ~50 ms compiling: more than they run (bench/LEDGER_PLANS.md).
            "options": "-c jit=off",
        },
    )


@lru_cache
def get_sessionmaker() -> sessionmaker[Session]:
    """Return the session factory bound to the process engine."""
    return sessionmaker(get_engine(), expire_on_commit=False)


# Where short sessions come from: `session_scope`, or in tests their rolled-back session.
Sessions = Callable[[], AbstractContextManager[Session]]


@contextmanager
def session_scope() -> Iterator[Session]:
    """Yield a session that commits on success and rolls back on error."""
    with get_sessionmaker()() as session, session.begin():
        yield session
