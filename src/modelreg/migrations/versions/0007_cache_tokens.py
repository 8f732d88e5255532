"""usage_events.cache_write_tokens: prompt tokens written to the provider's prompt cache

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04

Anthropic prices cache writes above the input price (1.25x) and cache reads far below it
(0.1x); the cost of a call is booked with both (ModelConfig.cost), and the row keeps the
write count beside the read count (`cached_tokens`) so the cost can be explained. A column
on a table that has its policies already: RLS is unaffected.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("usage_events") as batch:
        batch.add_column(
            sa.Column("cache_write_tokens", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("usage_events") as batch:
        batch.drop_column("cache_write_tokens")
