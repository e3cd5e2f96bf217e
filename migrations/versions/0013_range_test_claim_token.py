"""range tests name their claim, as experiments do

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("range_test", sa.Column("claim_token", UUID(as_uuid=True), nullable=True))
    op.create_index("ix_range_test_claim_token", "range_test", ["claim_token"])


def downgrade() -> None:
    op.drop_index("ix_range_test_claim_token", table_name="range_test")
    op.drop_column("range_test", "claim_token")
