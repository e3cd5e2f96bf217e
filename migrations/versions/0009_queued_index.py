"""the reconciler's queued jobs: a partial index, since the keyset indexes lead with project_id

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
# Helper "tests10" may add 0008 (also after 0007); whichever merges second re-points this.
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The reconciler counts and scans queued experiments across projects; since 0007 no index
    # leads with status, so each pass read the whole (project_id, status, ...) index: ~80-250
    # ms on a million rows (bench/LEDGER_PLANS.md). Queued rows are few: the index stays tiny.
    op.create_index(
        "ix_experiment_queued",
        "experiment",
        ["queue", "created_at"],
        postgresql_where=sa.text("status = 'queued'"),
    )


def downgrade() -> None:
    op.drop_index("ix_experiment_queued", table_name="experiment")
