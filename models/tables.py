"""ORM tables: the experiment ledger and its per-epoch metrics."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.db import Base

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})


_CLOCK = text("clock_timestamp()")


def _status_check(column: str) -> str:
    return f"{column} IN ({', '.join(repr(s) for s in STATUSES)})"


class Sweep(Base):
    """A batch of experiments: schedulers × grid points × seeds, compared together."""

    __tablename__ = "sweep"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    name: Mapped[str | None] = mapped_column(String(200))
    spec: Mapped[dict[str, Any]] = mapped_column(JSONB)
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_CLOCK)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=_CLOCK, onupdate=func.clock_timestamp()
    )

    experiments: Mapped[list["Experiment"]] = relationship(
        back_populates="sweep", order_by="Experiment.created_at", passive_deletes=True
    )


class IdempotencyKey(Base):
    """A client's retry key for a POST, bound to the body it first came with."""

    __tablename__ = "idempotency_key"

    scope: Mapped[str] = mapped_column(String(40), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_CLOCK)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class Experiment(Base):
    """One training run of one schedule; Postgres is its single source of truth."""

    __tablename__ = "experiment"
    __table_args__ = (
        CheckConstraint(_status_check("status"), name="status"),
        CheckConstraint("epochs_done >= 0 AND epochs_done <= epochs", name="epochs_done"),
        # Keyset pages (created_at, id) newest first, per filter: bench/LEDGER_PLANS.md.
        Index("ix_experiment_created_at_id", "created_at", "id"),
        Index("ix_experiment_status_created_at_id", "status", "created_at", "id"),
        Index("ix_experiment_scheduler_type_created_at_id", "scheduler_type", "created_at", "id"),
        Index(
            "ix_experiment_status_scheduler_type_created_at_id",
            "status",
            "scheduler_type",
            "created_at",
            "id",
        ),
        Index(
            "ix_experiment_running_lease",
            "lease_expires_at",
            postgresql_where=text("status = 'running'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    name: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    scheduler_type: Mapped[str] = mapped_column(String(40))
    spec: Mapped[dict[str, Any]] = mapped_column(JSONB)
    queue: Mapped[str] = mapped_column(String(100))
    epochs: Mapped[int] = mapped_column(Integer)
    epochs_done: Mapped[int] = mapped_column(Integer, default=0)
    dataset: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    # Fencing token: every write of a training attempt names it; older attempts are refused.
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    enqueued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # clock_timestamp(), not now(): rows made in one transaction (a sweep) keep their order.
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_CLOCK)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=_CLOCK, onupdate=func.clock_timestamp()
    )
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    sweep_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("sweep.id", ondelete="CASCADE"), index=True
    )
    # The sweep configuration this run belongs to (scheduler + grid point, seeds aside).
    label: Mapped[str | None] = mapped_column(String(500))
    # Epochs a resumed attempt trained again and how they compared with the recorded rows.
    reproducibility: Mapped[dict[str, Any] | None] = mapped_column(JSONB)

    metrics: Mapped[list["Metric"]] = relationship(
        back_populates="experiment", order_by="Metric.epoch", passive_deletes=True
    )
    sweep: Mapped[Sweep | None] = relationship(back_populates="experiments")


class Metric(Base):
    """One epoch of one experiment, committed when the epoch ends."""

    __tablename__ = "metric"
    __table_args__ = (CheckConstraint("epoch >= 1", name="epoch_positive"),)

    experiment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("experiment.id", ondelete="CASCADE"), primary_key=True
    )
    epoch: Mapped[int] = mapped_column(Integer, primary_key=True)
    lr: Mapped[float] = mapped_column(Float)
    loss: Mapped[float] = mapped_column(Float)
    accuracy: Mapped[float] = mapped_column(Float)
    val_loss: Mapped[float] = mapped_column(Float)
    val_accuracy: Mapped[float] = mapped_column(Float)
    seconds: Mapped[float] = mapped_column(Float)
    # The lr of every optimizer step of the epoch: the engine's optimizer applies the lr the
    # schedule gives it, and reports that value.
    # Deferred: hundreds of values per epoch that only GET /experiments/<id>/lr needs.
    step_lrs: Mapped[list[float]] = mapped_column(ARRAY(Float), deferred=True)
    attempt: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    experiment: Mapped[Experiment] = relationship(back_populates="metrics")


class Checkpoint(Base):
    """The latest resumable state of a running experiment; gone once it finishes."""

    __tablename__ = "checkpoint"

    experiment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("experiment.id", ondelete="CASCADE"), primary_key=True
    )
    epoch: Mapped[int] = mapped_column(Integer)
    attempt: Mapped[int] = mapped_column(Integer)
    # The engine's opaque blob, or NULL when it lives in LRLAB_CHECKPOINT_DIR.
    data: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_CLOCK)
