"""First start: an operator token, a `default` project and a write key, in a 0600 file.

Run as `python -m models.identity` (`make up` does, after migrating). Idempotent:
while the file's key still works nothing changes; when its key is revoked (or its database was
recreated at the same URL) a new key is made and the file rewritten. A file whose key belongs to
another database is never overwritten: that is a mistyped URL or a second database, and the file
may be the only copy of a key the user still needs.
"""

import secrets
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import make_url

from models.identity.credentials import read_credentials, write_credentials
from models.identity.projects import (
    create_key,
    create_project,
    find_key,
)
from models.identity.schemas import KeyCreate, ProjectCreate
from models.storage import credentials_path, get_settings, session_scope
from models.tables import Project

DEFAULT_PROJECT = "default"


class ForeignCredentials(RuntimeError):
    """The credentials file holds a key of another database."""


def _database_label(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _refuse(path: Path, found: dict[str, str], database: str) -> ForeignCredentials:
    other = found.get("database") or "another database"
    return ForeignCredentials(
        f"{path} holds a key of {other}, not of {database}; it is left as it is. "
        "Point LRLAB_CREDENTIALS_FILE at another file for this database, or check "
        "LRLAB_DATABASE_URL"
    )


def first_start() -> str:
    """Make sure the credentials file holds a working key; returns a line saying where it is."""
    settings = get_settings()
    path = credentials_path(settings)
    found = read_credentials(path)
    database = _database_label(settings.database_url)
    with session_scope() as session:
        key = find_key(session, key=found["api_key"]) if found.get("api_key") else None
        has_token = bool(found.get("admin_token") or settings.admin_token)
        if key is not None and key.revoked_at is None and has_token:
            return f"lrlab credentials: {path}"
        if found.get("api_key") and key is None and found.get("database") != database:
            raise _refuse(path, found, database)
        project = session.scalars(
            select(Project).where(Project.name == DEFAULT_PROJECT)
        ).one_or_none() or create_project(session, project=ProjectCreate(name=DEFAULT_PROJECT))
        made = create_key(
            session,
            project_id=project.id,
            key=KeyCreate(label="local (make up)", role="write"),
        )
        values = {"project": DEFAULT_PROJECT, "api_key": made.key, "database": database}
        # An operator token from the environment stays there; only a generated one is written.
        if not settings.admin_token:
            values["admin_token"] = found.get("admin_token") or "lrlabop_" + secrets.token_urlsafe(
                32
            )
        write_credentials(path, values)
    return (
        f"lrlab credentials written to {path} (mode 0600): "
        f"a write key of project {DEFAULT_PROJECT!r} and the operator token"
    )


def main() -> None:
    """`python -m models.identity`: the first start, or exit naming why the file is refused."""
    try:
        print(first_start())
    except ForeignCredentials as exc:
        raise SystemExit(f"lrlab: {exc}") from None
