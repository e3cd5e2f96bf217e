"""a per-project quota override for queued and running range tests

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # NULL: the settings default (LRLAB_QUOTA_ACTIVE_RANGE_TESTS), as for the other quotas.
    op.add_column("project", sa.Column("max_active_range_tests", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("project", "max_active_range_tests")
