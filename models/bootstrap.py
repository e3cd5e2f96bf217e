"""First start: an operator token, a `default` project and a write key, in a 0600 file.

Run as `python -m models.bootstrap` (`make up` does, after migrating). Idempotent: while the
file's key still works nothing changes; otherwise a new key is made and the file rewritten.
"""

import secrets

from sqlalchemy import select

from models.credentials import credentials_path, read_credentials, write_credentials
from models.db import session_scope
from models.projects import (
    KeyCreate,
    ProjectCreate,
    create_key,
    create_project,
    find_key,
)
from models.settings import get_settings
from models.tables import Project

DEFAULT_PROJECT = "default"


def bootstrap() -> str:
    """Make sure the credentials file holds a working key; returns a line saying where it is."""
    settings = get_settings()
    path = credentials_path(settings)
    found = read_credentials(path)
    with session_scope() as session:
        key = find_key(session, key=found["api_key"]) if found.get("api_key") else None
        has_token = bool(found.get("admin_token") or settings.admin_token)
        if key is not None and key.revoked_at is None and has_token:
            return f"lrlab credentials: {path}"
        project = session.scalars(
            select(Project).where(Project.name == DEFAULT_PROJECT)
        ).one_or_none() or create_project(session, project=ProjectCreate(name=DEFAULT_PROJECT))
        made = create_key(
            session,
            project_id=project.id,
            key=KeyCreate(label="local (make up)", role="write"),
        )
        values = {"project": DEFAULT_PROJECT, "api_key": made.key}
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


if __name__ == "__main__":
    print(bootstrap())
