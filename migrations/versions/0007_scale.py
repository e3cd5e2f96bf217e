"""scale: recomputation record, keyset and reconciler indexes, a bloat-free checkpoint table

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Checkpoint rows are few and short-lived: vacuum them (and their TOAST chunks) after a few
# dead rows rather than after 20% of the table, so deleted blobs are reused, not piled up.
_CHECKPOINT_VACUUM = (
    "autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 16, "
    "toast.autovacuum_vacuum_scale_factor = 0, toast.autovacuum_vacuum_threshold = 16"
)


_KEYSET = {
    "ix_experiment_project_id_created_at_id": ["project_id", "created_at", "id"],
    "ix_experiment_project_id_status_created_at_id": ["project_id", "status", "created_at", "id"],
    "ix_experiment_project_id_scheduler_type_created_at_id": [
        "project_id",
        "scheduler_type",
        "created_at",
        "id",
    ],
    "ix_experiment_project_id_status_scheduler_type_created_at_id": [
        "project_id",
        "status",
        "scheduler_type",
        "created_at",
        "id",
    ],
}


def upgrade() -> None:
    op.add_column("experiment", sa.Column("reproducibility", postgresql.JSONB(), nullable=True))
    # Keyset pagination (created_at, id) newest first within a project, per filter (every list
    # is scoped by project); see bench/LEDGER_PLANS.md.
    for name in (
        "ix_experiment_status_created_at",
        "ix_experiment_scheduler_type_created_at",
        "ix_experiment_project_id_created_at",
    ):
        op.drop_index(name, table_name="experiment")
    for name, columns in _KEYSET.items():
        op.create_index(name, "experiment", columns)
    # The reconciler's pass: expired leases among running rows only.
    op.create_index(
        "ix_experiment_running_lease",
        "experiment",
        ["lease_expires_at"],
        postgresql_where=sa.text("status = 'running'"),
    )
    # Blobs arrive compressed by the worker: Postgres should not try to compress them again.
    op.execute("ALTER TABLE checkpoint ALTER COLUMN data SET STORAGE EXTERNAL")
    op.execute(f"ALTER TABLE checkpoint SET ({_CHECKPOINT_VACUUM})")


def downgrade() -> None:
    op.execute(
        "ALTER TABLE checkpoint RESET (autovacuum_vacuum_scale_factor, "
        "autovacuum_vacuum_threshold, toast.autovacuum_vacuum_scale_factor, "
        "toast.autovacuum_vacuum_threshold)"
    )
    op.execute("ALTER TABLE checkpoint ALTER COLUMN data SET STORAGE EXTENDED")
    op.drop_index("ix_experiment_running_lease", table_name="experiment")
    for name in _KEYSET:
        op.drop_index(name, table_name="experiment")
    op.create_index(
        "ix_experiment_project_id_created_at", "experiment", ["project_id", "created_at"]
    )
    op.create_index(
        "ix_experiment_scheduler_type_created_at", "experiment", ["scheduler_type", "created_at"]
    )
    op.create_index("ix_experiment_status_created_at", "experiment", ["status", "created_at"])
    op.drop_column("experiment", "reproducibility")
