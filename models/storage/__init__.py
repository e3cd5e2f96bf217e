"""Where lrlab keeps things: settings, the database engine and sessions, the schema's migrations.

- `settings`: every `LRLAB_*` knob, read once per process (and where the credentials file lives).
- `db`: the SQLAlchemy engine, session factory, `session_scope` and the declarative base.
- `migrate`: create a missing database, then bring it to Alembic's head
  (`python -m models.storage.migrate`).
- `redis_urls`: one broker URL in kombu's, redis-py's and limits' spellings.

Every other `models` package may import this one; it imports none of them."""

from models.storage.db import (
    Base,
    Sessions,
    get_engine,
    get_sessionmaker,
    session_scope,
)
from models.storage.migrate import (
    DatabaseMissing,
    ensure_database,
    may_create,
    prepare_database,
)
from models.storage.redis_urls import (
    kombu_url,
    limits_url,
    redis_py_url,
    socket_path,
)
from models.storage.settings import (
    ROOT,
    Settings,
    credentials_path,
    get_settings,
)

__all__ = [
    "ROOT",
    "Base",
    "DatabaseMissing",
    "Sessions",
    "Settings",
    "credentials_path",
    "ensure_database",
    "get_engine",
    "get_sessionmaker",
    "get_settings",
    "kombu_url",
    "limits_url",
    "may_create",
    "prepare_database",
    "redis_py_url",
    "session_scope",
    "socket_path",
]
