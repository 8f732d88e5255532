"""row-level security on PostgreSQL (no-op on SQLite)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26

See modelreg.db.rls for the role, the policies and how the app switches to the role.
"""

from __future__ import annotations

from alembic import op

from modelreg.db.rls import disable_rls_sql, enable_rls_sql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in enable_rls_sql():
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in disable_rls_sql():
        op.execute(statement)
