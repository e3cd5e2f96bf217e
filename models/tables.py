"""ORM tables: projects and keys, the job ledger with `JobStatus`, metrics, sweeps, range tests."""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
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
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from models.storage import Base


class JobStatus(StrEnum):
    """Where a job is in its lifecycle; a job ends in exactly one terminal status."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    # A sweep's pruning rule stopped the experiment at a rung (models.sweeps.pruning).
    PRUNED = "pruned"

    @property
    def is_terminal(self) -> bool:
        """Whether the job has ended (nothing moves it again)."""
        return self not in (JobStatus.QUEUED, JobStatus.RUNNING)


def finished_phrase(status: str) -> str:
    """How a finished job (or sweep) reads after "has already": "succeeded", "been cancelled"."""
    return f"been {status}" if status == JobStatus.CANCELLED else status


STATUSES = tuple(JobStatus)
TERMINAL_STATUSES = frozenset(status for status in JobStatus if status.is_terminal)


_CLOCK = text("clock_timestamp()")


def _status_check(column: str) -> str:
    values = ", ".join(f"'{status.value}'" for status in JobStatus)
    return f"{column} IN ({values})"


ROLES = ("read", "write", "admin")


class Project(Base):
    """A team's space: every resource belongs to one, every key opens one."""

    __tablename__ = "project"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    # Quota overrides; NULL means the settings default.
    max_active_experiments: Mapped[int | None] = mapped_column(Integer)
    max_sweep_members: Mapped[int | None] = mapped_column(Integer)
    max_request_steps: Mapped[int | None] = mapped_column(BigInteger)
    max_active_range_tests: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_CLOCK)


class ApiKey(Base):
    """A project's API key, stored only as the SHA-256 of the secret."""

    __tablename__ = "api_key"
    __table_args__ = (CheckConstraint(f"role IN {ROLES!r}", name="role"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), index=True
    )
    label: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    # The first characters of the key, enough for a human to tell keys apart.
    prefix: Mapped[str] = mapped_column(String(16))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_CLOCK)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


def _project_column() -> Mapped[uuid.UUID]:
    return mapped_column(ForeignKey("project.id", ondelete="CASCADE"))


def _key_column() -> Mapped[uuid.UUID | None]:
    return mapped_column(ForeignKey("api_key.id", ondelete="SET NULL"))


class Sweep(Base):
    """A batch of experiments: schedulers × grid points × seeds, compared together."""

    __tablename__ = "sweep"
    __table_args__ = (Index("ix_sweep_project_id_created_at", "project_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    project_id: Mapped[uuid.UUID] = _project_column()
    submitted_by_key_id: Mapped[uuid.UUID | None] = _key_column()
    cancelled_by_key_id: Mapped[uuid.UUID | None] = _key_column()
    name: Mapped[str | None] = mapped_column(String(200))
    spec: Mapped[dict[str, Any]] = mapped_column(JSONB)
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_CLOCK)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=_CLOCK, onupdate=func.clock_timestamp()
    )

    submitted_by: Mapped[ApiKey | None] = relationship(foreign_keys=[submitted_by_key_id])
    cancelled_by: Mapped[ApiKey | None] = relationship(foreign_keys=[cancelled_by_key_id])
    experiments: Mapped[list["Experiment"]] = relationship(
        back_populates="sweep", order_by="Experiment.created_at", passive_deletes=True
    )


class IdempotencyKey(Base):
    """A client's retry key for a POST, bound to the body it first came with."""

    __tablename__ = "idempotency_key"

    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), primary_key=True
    )
    scope: Mapped[str] = mapped_column(String(40), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_CLOCK)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class _Job:
    """The lifecycle columns every job a worker runs has (experiments, range tests): who owns
    and submitted it, its status, the claim's attempt (the fencing token), lease and times.

    The ledger's generic functions (claim, lease, fencing, reconciler) rely on exactly these.
    """

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    project_id: Mapped[uuid.UUID] = _project_column()
    submitted_by_key_id: Mapped[uuid.UUID | None] = _key_column()
    cancelled_by_key_id: Mapped[uuid.UUID | None] = _key_column()
    name: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED)
    spec: Mapped[dict[str, Any]] = mapped_column(JSONB)
    queue: Mapped[str] = mapped_column(String(100))
    dataset: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    # Fencing token: every write of a training attempt names it; older attempts are refused.
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    # Attempts that handed the job back (a worker's warm shutdown): they do not count
    # against max_attempts, which bounds crashes (attempt - handed_back).
    handed_back: Mapped[int] = mapped_column(Integer, server_default=text("0"), default=0)
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Names the claim that started the attempt, so a claim retried after a lost commit
    # acknowledgement recognises its own rows instead of burning another attempt.
    claim_token: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    # When a message was handed to the broker; NULL: none was, the reconciler publishes one.
    # Rows default to the INSERT's now(), their creator publishing right after its commit (a
    # SQL default, unlike a per-row value, keeps a many-row flush one multi-row INSERT).
    enqueued_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), default=func.now()
    )
    # clock_timestamp(), not now(): rows made in one transaction (a sweep) keep their order.
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_CLOCK)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=_CLOCK, onupdate=func.clock_timestamp()
    )
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @declared_attr
    def submitted_by(cls: Any) -> Mapped[ApiKey | None]:
        """The key that submitted the job (its id and label are shown, never the secret)."""
        return relationship(foreign_keys=f"{cls.__name__}.submitted_by_key_id")

    @declared_attr
    def cancelled_by(cls: Any) -> Mapped[ApiKey | None]:
        """The key that cancelled the job, if one did."""
        return relationship(foreign_keys=f"{cls.__name__}.cancelled_by_key_id")


class Experiment(_Job, Base):
    """One training run of one schedule; Postgres is its single source of truth."""

    __tablename__ = "experiment"
    # Server-set columns come back with the INSERT (RETURNING), not in a second query.
    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (
        CheckConstraint(_status_check("status"), name="status"),
        CheckConstraint("epochs_done >= 0 AND epochs_done <= epochs", name="epochs_done"),
        # Keyset pages (created_at, id) newest first within a project, per filter:
        # bench/LEDGER_PLANS.md.
        Index("ix_experiment_project_id_created_at_id", "project_id", "created_at", "id"),
        Index(
            "ix_experiment_project_id_status_created_at_id",
            "project_id",
            "status",
            "created_at",
            "id",
        ),
        Index(
            "ix_experiment_project_id_scheduler_type_created_at_id",
            "project_id",
            "scheduler_type",
            "created_at",
            "id",
        ),
        Index(
            "ix_experiment_project_id_status_scheduler_type_created_at_id",
            "project_id",
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
        # The reconciler's cross-project count and scan of queued jobs (migration 0009).
        Index(
            "ix_experiment_queued",
            "queue",
            "created_at",
            postgresql_where=text("status = 'queued'"),
        ),
    )

    scheduler_type: Mapped[str] = mapped_column(String(40))
    epochs: Mapped[int] = mapped_column(Integer)
    epochs_done: Mapped[int] = mapped_column(Integer, default=0)
    # Training wall time of every attempt so far (the time limit counts across attempts).
    training_seconds: Mapped[float] = mapped_column(Float, server_default=text("0"), default=0.0)
    # What happened to the run that is not a metric: lost checkpoints, refused attempts.
    events: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, server_default=text("'[]'::jsonb"), default=list
    )
    sweep_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("sweep.id", ondelete="CASCADE"), index=True
    )
    # The sweep configuration this run belongs to (scheduler + grid point, seeds aside).
    label: Mapped[str | None] = mapped_column(String(500))
    # Epochs a resumed attempt trained again and how they compared with the recorded rows.
    reproducibility: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # The rung epoch at which the sweep's pruning rule stopped it (status `pruned`).
    pruned_at_epoch: Mapped[int | None] = mapped_column(Integer)

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


class PruningDecision(Base):
    """One judgement of a sweep's pruning rule, committed with the rung epoch it judges.

    `id` is the decision order (the order the rung epochs committed, under the sweep's lock);
    `value` and `cutoff` are in the metric's own units.
    """

    __tablename__ = "pruning_decision"
    __table_args__ = (
        Index("ix_pruning_decision_sweep_id_rung", "sweep_id", "rung"),
        Index("uq_pruning_decision_experiment_id_rung", "experiment_id", "rung", unique=True),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    sweep_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sweep.id", ondelete="CASCADE"))
    experiment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("experiment.id", ondelete="CASCADE")
    )
    rung: Mapped[int] = mapped_column(Integer)
    epoch: Mapped[int] = mapped_column(Integer)
    metric: Mapped[str] = mapped_column(String(40))
    value: Mapped[float] = mapped_column(Float)
    cutoff: Mapped[float | None] = mapped_column(Float)
    compared: Mapped[int] = mapped_column(Integer)
    decision: Mapped[str] = mapped_column(String(16))
    attempt: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_CLOCK)


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


class RangeTest(_Job, Base):
    """A learning-rate range test (fastai's `lr_find`) run as a job, with the ledger's lifecycle.

    The same lifecycle columns as `Experiment` (`_Job`), so the ledger's generic functions
    serve both. A resumed attempt restarts the test from iteration 0 (a test is short).
    """

    __tablename__ = "range_test"
    __table_args__ = (
        CheckConstraint(_status_check("status"), name="status"),
        CheckConstraint(
            "iterations_done >= 0 AND iterations_done <= num_iter", name="iterations_done"
        ),
        Index("ix_range_test_status_created_at", "status", "created_at"),
        Index("ix_range_test_project_id_created_at", "project_id", "created_at"),
    )

    num_iter: Mapped[int] = mapped_column(Integer)
    # Iterations every seed has recorded in the running attempt (the slowest seed's count).
    iterations_done: Mapped[int] = mapped_column(Integer, default=0)


class RangeTestCurve(Base):
    """One seed's recorded curve of a succeeded range test: lr, raw and smoothed loss per step."""

    __tablename__ = "range_test_curve"

    range_test_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("range_test.id", ondelete="CASCADE"), primary_key=True
    )
    seed: Mapped[int] = mapped_column(Integer, primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer)
    lrs: Mapped[list[float]] = mapped_column(ARRAY(Float))
    losses: Mapped[list[float]] = mapped_column(ARRAY(Float))
    smoothed_losses: Mapped[list[float]] = mapped_column(ARRAY(Float))


# The tables the ledger's generic claim / lease / fence / reconcile functions work on.
JobTable = type[Experiment] | type[RangeTest]
Job = Experiment | RangeTest
