"""Create the database if it is missing, then bring its schema to Alembic's head.

Run as `python -m models.storage`; tests call `prepare_database` for their own databases.
"""

import logging

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from models.storage.settings import ROOT, Settings, credentials_path, get_settings

log = logging.getLogger("lrlab.migrate")


class DatabaseMissing(RuntimeError):
    """The configured database does not exist and creating it was not asked for."""


def may_create(settings: Settings) -> bool:
    """A first start (no credentials file yet), or `LRLAB_CREATE_DATABASE=true`."""
    return settings.create_database or not credentials_path(settings).exists()


def ensure_database(url: str, *, recreate: bool = False, create: bool = True) -> None:
    """Create the database named in `url` when missing and `create` (dropping it first when
    `recreate`); DatabaseMissing when it is missing and not `create`."""
    target = make_url(url)
    name = target.database
    if not name:
        raise ValueError(f"database URL names no database: {target!r}")
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            quoted = '"' + name.replace('"', '""') + '"'
            if recreate:
                conn.execute(text(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
            exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
            if not exists and not create:
                raise DatabaseMissing(
                    f"database {name!r} does not exist at {target!r}; a mistyped "
                    "LRLAB_DATABASE_URL? To create it, run again with "
                    "LRLAB_CREATE_DATABASE=true (or `make up CREATE_DB=1`)"
                )
            if not exists:
                conn.execute(text(f"CREATE DATABASE {quoted}"))
                log.info("created database %s", name)
    finally:
        admin.dispose()


def upgrade(url: str) -> None:
    """Apply every Alembic migration up to head."""
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["database_url"] = url
    config.attributes["configure_logger"] = False
    command.upgrade(config, "head")


def prepare_database(url: str, *, recreate: bool = False, create: bool = True) -> None:
    """Create (or recreate) the database and migrate it to head."""
    ensure_database(url, recreate=recreate, create=create)
    upgrade(url)


def main() -> None:
    """`python -m models.storage`: prepare the configured database, or exit naming why not."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    settings = get_settings()
    try:
        prepare_database(settings.database_url, create=may_create(settings))
    except DatabaseMissing as exc:
        raise SystemExit(f"lrlab: {exc}") from None
    print("database is at the latest migration")
