"""ASHA pruning: the `pruned` status, `pruned_at_epoch`, and the pruning decision log

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD = "status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')"
_NEW = "status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'pruned')"


def upgrade() -> None:
    for table in ("experiment", "range_test"):
        op.drop_constraint(op.f(f"ck_{table}_status"), table, type_="check")
        op.create_check_constraint(op.f(f"ck_{table}_status"), table, _NEW)
    op.add_column("experiment", sa.Column("pruned_at_epoch", sa.Integer(), nullable=True))
    op.create_table(
        "pruning_decision",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("sweep_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("experiment_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("rung", sa.Integer(), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("metric", sa.String(length=40), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("cutoff", sa.Float(), nullable=True),
        sa.Column("compared", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("clock_timestamp()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiment.id"],
            name="fk_pruning_decision_experiment_id_experiment",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sweep_id"],
            ["sweep.id"],
            name="fk_pruning_decision_sweep_id_sweep",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_pruning_decision"),
    )
    op.create_index("ix_pruning_decision_sweep_id_rung", "pruning_decision", ["sweep_id", "rung"])
    op.create_index(
        "uq_pruning_decision_experiment_id_rung",
        "pruning_decision",
        ["experiment_id", "rung"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_table("pruning_decision")
    op.drop_column("experiment", "pruned_at_epoch")
    # The old schema has no `pruned`: such runs read as cancelled (their metrics stay).
    op.execute("UPDATE experiment SET status = 'cancelled' WHERE status = 'pruned'")
    for table in ("experiment", "range_test"):
        op.drop_constraint(op.f(f"ck_{table}_status"), table, type_="check")
        op.create_check_constraint(op.f(f"ck_{table}_status"), table, _OLD)
