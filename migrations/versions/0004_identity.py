"""project, api_key; project_id and submitting/cancelling key on experiment, sweep, idempotency

Existing rows move into a `default` project; the downgrade drops the columns and tables.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CLOCK = sa.text("clock_timestamp()")
_UUID = postgresql.UUID(as_uuid=True)


def upgrade() -> None:
    op.create_table(
        "project",
        sa.Column("id", _UUID, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("max_active_experiments", sa.Integer(), nullable=True),
        sa.Column("max_sweep_members", sa.Integer(), nullable=True),
        sa.Column("max_request_steps", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_CLOCK, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project")),
        sa.UniqueConstraint("name", name=op.f("uq_project_name")),
    )
    op.create_table(
        "api_key",
        sa.Column("id", _UUID, nullable=False),
        sa.Column("project_id", _UUID, nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_CLOCK, nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("role IN ('read', 'write', 'admin')", name=op.f("ck_api_key_role")),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_api_key_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_key")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_api_key_secret_hash")),
    )
    op.create_index(op.f("ix_api_key_project_id"), "api_key", ["project_id"])
    op.execute(
        "INSERT INTO project (id, name) VALUES (gen_random_uuid(), 'default')"
        " ON CONFLICT (name) DO NOTHING"
    )
    default = "(SELECT id FROM project WHERE name = 'default')"
    for table in ("experiment", "sweep", "idempotency_key"):
        op.add_column(table, sa.Column("project_id", _UUID, nullable=True))
        op.execute(f"UPDATE {table} SET project_id = {default}")
        op.alter_column(table, "project_id", nullable=False)
        op.create_foreign_key(
            op.f(f"fk_{table}_project_id_project"),
            table,
            "project",
            ["project_id"],
            ["id"],
            ondelete="CASCADE",
        )
    for table in ("experiment", "sweep"):
        for column in ("submitted_by_key_id", "cancelled_by_key_id"):
            op.add_column(table, sa.Column(column, _UUID, nullable=True))
            op.create_foreign_key(
                op.f(f"fk_{table}_{column}_api_key"),
                table,
                "api_key",
                [column],
                ["id"],
                ondelete="SET NULL",
            )
        op.create_index(
            op.f(f"ix_{table}_project_id_created_at"), table, ["project_id", "created_at"]
        )
    op.drop_constraint("pk_idempotency_key", "idempotency_key", type_="primary")
    op.create_primary_key("pk_idempotency_key", "idempotency_key", ["project_id", "scope", "key"])


def downgrade() -> None:
    # Keys of different projects may collide once the project is gone: keep the newest.
    op.execute(
        "DELETE FROM idempotency_key a USING idempotency_key b"
        " WHERE a.scope = b.scope AND a.key = b.key AND a.created_at < b.created_at"
    )
    op.drop_constraint("pk_idempotency_key", "idempotency_key", type_="primary")
    op.create_primary_key("pk_idempotency_key", "idempotency_key", ["scope", "key"])
    for table in ("experiment", "sweep"):
        op.drop_index(op.f(f"ix_{table}_project_id_created_at"), table_name=table)
        for column in ("submitted_by_key_id", "cancelled_by_key_id"):
            op.drop_constraint(op.f(f"fk_{table}_{column}_api_key"), table, type_="foreignkey")
            op.drop_column(table, column)
    for table in ("experiment", "sweep", "idempotency_key"):
        op.drop_constraint(op.f(f"fk_{table}_project_id_project"), table, type_="foreignkey")
        op.drop_column(table, "project_id")
    op.drop_index(op.f("ix_api_key_project_id"), table_name="api_key")
    op.drop_table("api_key")
    op.drop_table("project")
