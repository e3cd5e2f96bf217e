"""Where lrlab keeps things: settings, the database engine and sessions, the schema's migrations.

- `settings`: every `LRLAB_*` knob, read once per process (and where the credentials file lives).
- `db`: the SQLAlchemy engine, session factory, `session_scope` and the declarative base.
- `migrate`: create a missing database, then bring it to Alembic's head
  (`python -m models.storage`).
- `pages`: `Page[T]` and keyset cursors, the one way every list pages.
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
from models.storage.pages import (
    COUNT_CAP,
    Page,
    decode_cursor,
    encode_cursor,
    newest_first,
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
    "COUNT_CAP",
    "ROOT",
    "Base",
    "DatabaseMissing",
    "Page",
    "Sessions",
    "Settings",
    "credentials_path",
    "decode_cursor",
    "encode_cursor",
    "ensure_database",
    "get_engine",
    "get_sessionmaker",
    "get_settings",
    "kombu_url",
    "limits_url",
    "may_create",
    "newest_first",
    "prepare_database",
    "redis_py_url",
    "session_scope",
    "socket_path",
]
