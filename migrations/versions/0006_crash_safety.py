"""crash safety: claim token, training time across attempts, events on the experiment

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("experiment", sa.Column("claim_token", postgresql.UUID(as_uuid=True)))
    op.add_column(
        "experiment",
        sa.Column("training_seconds", sa.Float(), server_default=sa.text("0"), nullable=False),
    )
    op.add_column(
        "experiment",
        sa.Column(
            "events",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
    )
    op.create_index("ix_experiment_claim_token", "experiment", ["claim_token"])


def downgrade() -> None:
    op.drop_index("ix_experiment_claim_token", table_name="experiment")
    op.drop_column("experiment", "events")
    op.drop_column("experiment", "training_seconds")
    op.drop_column("experiment", "claim_token")
