"""user_sessions: browser sessions kept in the database, so that they can be ended

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04

A session cookie used to be a signed user id, valid for 7 days whatever happened; now it
names a row here (modelreg.sessions), and logout, a password change, disabling or deleting
the user delete the row. Cookies issued before this migration are no longer accepted: every
browser signs in once more. On PostgreSQL the table gets row-level security (modelreg.db.rls).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from modelreg.db.rls import disable_user_sessions_rls_sql, enable_user_sessions_rls_sql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id_hash"),
    )
    op.create_index("ix_user_sessions_user", "user_sessions", ["user_id"])
    if op.get_bind().dialect.name == "postgresql":
        for statement in enable_user_sessions_rls_sql():
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in disable_user_sessions_rls_sql():
            op.execute(statement)
    op.drop_index("ix_user_sessions_user", table_name="user_sessions")
    op.drop_table("user_sessions")
