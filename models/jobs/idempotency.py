"""Idempotency keys: a retried POST gets the original resource, never a second one."""

import hashlib
import json
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from models.errors import ConflictError
from models.tables import IdempotencyKey


def request_hash(document: Any) -> str:
    """Hash of a JSON-able request, independent of key order."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def reserve_key(
    session: Session,
    *,
    project_id: uuid.UUID,
    scope: str,
    key: str,
    body_hash: str,
    resource_id: uuid.UUID,
    ttl_hours: int,
) -> uuid.UUID | None:
    """Bind the project's `key` to `resource_id`; if already bound, return the original id.

    Concurrent callers with the same key serialise on the primary key: the second waits for the
    first transaction and then sees its row. A key bound to another body is a ConflictError.
    """
    session.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.project_id == project_id,
            IdempotencyKey.scope == scope,
            IdempotencyKey.key == key,
            IdempotencyKey.expires_at < func.now(),
        )
    )
    inserted = session.scalar(
        insert(IdempotencyKey)
        .values(
            project_id=project_id,
            scope=scope,
            key=key,
            request_hash=body_hash,
            resource_id=resource_id,
            expires_at=func.now() + timedelta(hours=ttl_hours),
        )
        .on_conflict_do_nothing()
        .returning(IdempotencyKey.key)
    )
    if inserted is not None:
        return None
    existing = session.scalars(
        select(IdempotencyKey).where(
            IdempotencyKey.project_id == project_id,
            IdempotencyKey.scope == scope,
            IdempotencyKey.key == key,
        )
    ).one()
    if existing.request_hash != body_hash:
        raise ConflictError(f"Idempotency-Key {key!r} was already used with a different body")
    return existing.resource_id


def purge_expired_keys(session: Session) -> int:
    """Delete keys past their expiry; returns how many."""
    result = session.execute(delete(IdempotencyKey).where(IdempotencyKey.expires_at < func.now()))
    return int(getattr(result, "rowcount", 0) or 0)
