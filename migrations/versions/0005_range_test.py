"""range_test and range_test_curve tables

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CLOCK = sa.text("clock_timestamp()")
STATUSES = "'queued', 'running', 'succeeded', 'failed', 'cancelled'"


def upgrade() -> None:
    op.create_table(
        "range_test",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("project_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("submitted_by_key_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("cancelled_by_key_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("spec", postgresql.JSONB(), nullable=False),
        sa.Column("queue", sa.String(100), nullable=False),
        sa.Column("num_iter", sa.Integer(), nullable=False),
        sa.Column("iterations_done", sa.Integer(), nullable=False),
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_range_test")),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_range_test_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["submitted_by_key_id"],
            ["api_key.id"],
            name=op.f("fk_range_test_submitted_by_key_id_api_key"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["cancelled_by_key_id"],
            ["api_key.id"],
            name=op.f("fk_range_test_cancelled_by_key_id_api_key"),
            ondelete="SET NULL",
        ),
        sa.CheckConstraint(f"status IN ({STATUSES})", name=op.f("ck_range_test_status")),
        sa.CheckConstraint(
            "iterations_done >= 0 AND iterations_done <= num_iter",
            name=op.f("ck_range_test_iterations_done"),
        ),
    )
    op.create_index("ix_range_test_status_created_at", "range_test", ["status", "created_at"])
    op.create_index(
        "ix_range_test_project_id_created_at", "range_test", ["project_id", "created_at"]
    )
    op.create_table(
        "range_test_curve",
        sa.Column("range_test_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("lrs", postgresql.ARRAY(sa.Float()), nullable=False),
        sa.Column("losses", postgresql.ARRAY(sa.Float()), nullable=False),
        sa.Column("smoothed_losses", postgresql.ARRAY(sa.Float()), nullable=False),
        sa.ForeignKeyConstraint(
            ["range_test_id"],
            ["range_test.id"],
            name=op.f("fk_range_test_curve_range_test_id_range_test"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("range_test_id", "seed", name=op.f("pk_range_test_curve")),
    )


def downgrade() -> None:
    op.drop_table("range_test_curve")
    op.drop_index("ix_range_test_status_created_at", table_name="range_test")
    op.drop_table("range_test")
