"""row-level security on every table: users, audit_log (append-only), app_settings

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27

See modelreg.db.rls_every_table for the rules. No-op on SQLite (the service layer applies
the same rules there).
"""

from __future__ import annotations

from alembic import op

from modelreg.db.rls_every_table import disable_sql, enable_sql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in enable_sql():
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in disable_sql():
        op.execute(statement)
