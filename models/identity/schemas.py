"""The identity API's schemas: projects, keys, quotas, and who a caller is."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from models.fields import SafeStr

Role = Literal["read", "write", "admin"]
ProjectName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]


@dataclass(frozen=True)
class Caller:
    """Who is asking: a project's key and its role."""

    project_id: uuid.UUID
    key_id: uuid.UUID
    key_label: str
    role: Role


class _Input(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class Quotas(_Input):
    """Per-project quota overrides; null means the settings default."""

    max_active_experiments: int | None = Field(default=None, ge=0, le=10_000_000)
    max_sweep_members: int | None = Field(default=None, ge=1, le=100_000)
    max_request_steps: int | None = Field(default=None, ge=1, le=10**15)
    max_active_range_tests: int | None = Field(default=None, ge=0, le=100_000)


class ProjectCreate(Quotas):
    """A new project."""

    name: ProjectName


class KeyCreate(_Input):
    """A new key of a project."""

    label: SafeStr = Field(min_length=1, max_length=200)
    role: Role = "write"


class ProjectRead(BaseModel):
    """A project as operators see it."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    max_active_experiments: int | None
    max_sweep_members: int | None
    max_request_steps: int | None
    max_active_range_tests: int | None
    created_at: datetime


class KeyRead(BaseModel):
    """A key as listed: never its secret."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    project_id: uuid.UUID
    label: str
    role: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class KeyCreated(KeyRead):
    """A key just made: the only time its secret is shown."""

    key: str
