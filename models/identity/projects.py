"""Projects and their API keys: creation, listing, revocation, and who a key is.

Keys are `lrlab_` + 256 random bits. Only their SHA-256 is stored: with that much entropy a
fast hash cannot be brute-forced, and a lookup by hash needs no per-row key derivation.
"""

import hashlib
import secrets
import uuid
from datetime import timedelta

from sqlalchemy import exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models.errors import ConflictError, NotFoundError
from models.identity.schemas import (
    KeyCreate,
    KeyCreated,
    KeyRead,
    ProjectCreate,
    Quotas,
)
from models.tables import ApiKey, Project

KEY_PREFIX = "lrlab_"
# What a human sees of a key: the fixed prefix and six random characters.
SHOWN_CHARS = 12
KEY_PATTERN = r"^lrlab_[A-Za-z0-9_-]{43}$"
LAST_USED_EVERY_SECONDS = 60


def hash_key(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode()).hexdigest()


def create_project(session: Session, *, project: ProjectCreate) -> Project:
    """Store a new project (ConflictError if the name is taken)."""
    row = Project(id=uuid.uuid4(), **project.model_dump())
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        raise ConflictError(f"project {project.name!r} already exists") from None
    return row


def list_projects(session: Session) -> list[Project]:
    """Every project, by name."""
    return list(session.scalars(select(Project).order_by(Project.name)))


def get_project(session: Session, *, name: str) -> Project:
    """The project called `name`, or NotFoundError."""
    row = session.scalars(select(Project).where(Project.name == name)).one_or_none()
    if row is None:
        raise NotFoundError(f"project {name!r} not found")
    return row


def update_quotas(session: Session, *, name: str, quotas: Quotas) -> Project:
    """Set the quota overrides named in `quotas` (null resets one to the default)."""
    row = get_project(session, name=name)
    for field in quotas.model_fields_set:
        setattr(row, field, getattr(quotas, field))
    session.flush()
    return row


def create_key(session: Session, *, project_id: uuid.UUID, key: KeyCreate) -> KeyCreated:
    """Make a key for the project; its secret is in the answer and nowhere else."""
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        id=uuid.uuid4(),
        project_id=project_id,
        label=key.label,
        role=key.role,
        prefix=secret[:SHOWN_CHARS],
        secret_hash=hash_key(secret),
    )
    session.add(row)
    session.flush()
    return KeyCreated.model_validate({**KeyRead.model_validate(row).model_dump(), "key": secret})


def list_keys(session: Session, *, project_id: uuid.UUID) -> list[ApiKey]:
    """The project's keys, oldest first, revoked ones included."""
    return list(
        session.scalars(
            select(ApiKey).where(ApiKey.project_id == project_id).order_by(ApiKey.created_at)
        )
    )


def revoke_key(session: Session, *, key_id: uuid.UUID, project_id: uuid.UUID | None) -> ApiKey:
    """Revoke a key (of `project_id`, or of any project when None); revoking twice is fine."""
    query = select(ApiKey).where(ApiKey.id == key_id)
    if project_id is not None:
        query = query.where(ApiKey.project_id == project_id)
    row = session.scalars(query.with_for_update()).one_or_none()
    if row is None:
        raise NotFoundError(f"key {key_id} not found")
    if row.revoked_at is None:
        row.revoked_at = func.now()
        session.flush()
        session.refresh(row)
    return row


def find_key(session: Session, *, key: str) -> ApiKey | None:
    """The key row whose hash matches `key`, revoked or not."""
    # The lookup is by hash through a unique index: no secret is compared byte by byte.
    return session.scalars(select(ApiKey).where(ApiKey.secret_hash == hash_key(key))).one_or_none()


def touch_key(session: Session, *, key_id: uuid.UUID) -> None:
    """Record a use, at most once a minute per key."""
    session.execute(
        update(ApiKey)
        .where(
            ApiKey.id == key_id,
            (ApiKey.last_used_at.is_(None))
            | (ApiKey.last_used_at < func.now() - timedelta(seconds=LAST_USED_EVERY_SECONDS)),
        )
        .values(last_used_at=func.now())
    )


def key_in_force(session: Session, *, key_id: uuid.UUID) -> bool:
    """Whether the key still exists (its project too) and is not revoked."""
    return bool(
        session.scalar(select(exists().where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))))
    )
