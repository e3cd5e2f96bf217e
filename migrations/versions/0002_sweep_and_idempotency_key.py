"""sweep, experiment.sweep_id/label, idempotency_key

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CLOCK = sa.text("clock_timestamp()")


def upgrade() -> None:
    op.create_table(
        "sweep",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("spec", postgresql.JSONB(), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=CLOCK, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=CLOCK, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sweep")),
    )
    op.add_column("experiment", sa.Column("sweep_id", postgresql.UUID(as_uuid=True), nullable=True))
    op.add_column("experiment", sa.Column("label", sa.String(500), nullable=True))
    op.create_foreign_key(
        op.f("fk_experiment_sweep_id_sweep"),
        "experiment",
        "sweep",
        ["sweep_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.create_index(op.f("ix_experiment_sweep_id"), "experiment", ["sweep_id"])
    op.create_table(
        "idempotency_key",
        sa.Column("scope", sa.String(40), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("resource_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=CLOCK, nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope", "key", name=op.f("pk_idempotency_key")),
    )
    op.create_index(op.f("ix_idempotency_key_expires_at"), "idempotency_key", ["expires_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_idempotency_key_expires_at"), table_name="idempotency_key")
    op.drop_table("idempotency_key")
    op.drop_index(op.f("ix_experiment_sweep_id"), table_name="experiment")
    op.drop_constraint(op.f("fk_experiment_sweep_id_sweep"), "experiment", type_="foreignkey")
    op.drop_column("experiment", "label")
    op.drop_column("experiment", "sweep_id")
    op.drop_table("sweep")
