"""count the attempts that handed a job back, apart from crashes

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("experiment", "range_test"):
        op.add_column(
            table,
            sa.Column("handed_back", sa.Integer(), server_default=sa.text("0"), nullable=False),
        )


def downgrade() -> None:
    for table in ("experiment", "range_test"):
        op.drop_column(table, "handed_back")
