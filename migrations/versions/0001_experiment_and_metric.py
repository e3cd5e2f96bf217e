"""experiment and metric tables

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CLOCK = sa.text("clock_timestamp()")
STATUSES = "'queued', 'running', 'succeeded', 'failed', 'cancelled'"


def upgrade() -> None:
    op.create_table(
        "experiment",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("scheduler_type", sa.String(40), nullable=False),
        sa.Column("spec", postgresql.JSONB(), nullable=False),
        sa.Column("queue", sa.String(100), nullable=False),
        sa.Column("epochs", sa.Integer(), nullable=False),
        sa.Column("epochs_done", sa.Integer(), nullable=False),
        sa.Column("dataset", postgresql.JSONB(), nullable=True),
        sa.Column("result", postgresql.JSONB(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=CLOCK, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=CLOCK, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiment")),
        sa.CheckConstraint(f"status IN ({STATUSES})", name=op.f("ck_experiment_status")),
        sa.CheckConstraint(
            "epochs_done >= 0 AND epochs_done <= epochs", name=op.f("ck_experiment_epochs_done")
        ),
    )
    op.create_index("ix_experiment_status_created_at", "experiment", ["status", "created_at"])
    op.create_index(
        "ix_experiment_scheduler_type_created_at", "experiment", ["scheduler_type", "created_at"]
    )
    op.create_table(
        "metric",
        sa.Column("experiment_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("lr", sa.Float(), nullable=False),
        sa.Column("loss", sa.Float(), nullable=False),
        sa.Column("accuracy", sa.Float(), nullable=False),
        sa.Column("val_loss", sa.Float(), nullable=False),
        sa.Column("val_accuracy", sa.Float(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("step_lrs", postgresql.ARRAY(sa.Float()), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiment.id"],
            name=op.f("fk_metric_experiment_id_experiment"),
            ondelete="CASCADE",
        ),
        # The primary key is what makes (experiment_id, epoch) unique.
        sa.PrimaryKeyConstraint("experiment_id", "epoch", name=op.f("pk_metric")),
        sa.CheckConstraint("epoch >= 1", name=op.f("ck_metric_epoch_positive")),
    )


def downgrade() -> None:
    op.drop_table("metric")
    op.drop_index("ix_experiment_scheduler_type_created_at", table_name="experiment")
    op.drop_index("ix_experiment_status_created_at", table_name="experiment")
    op.drop_table("experiment")
