"""usage_events.estimated: the tokens of a call whose usage never came are an estimate

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04

A client that leaves a stream before the upstream's usage frame is still billed: the gateway
reads on for a short grace, and where the usage never comes books an estimate from what was
relayed and sent (docs/reliability.md). The row says so.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("usage_events") as batch:
        batch.add_column(
            sa.Column("estimated", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("usage_events") as batch:
        batch.drop_column("estimated")
