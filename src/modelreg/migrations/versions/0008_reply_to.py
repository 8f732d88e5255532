"""messages.reply_to_id: the user message an assistant answer replies to

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05

Several answers can reply to one user message: a regenerated answer keeps the previous ones
as alternatives, and a side-by-side compare stores one answer per model. They are siblings
under the same `reply_to_id`. NULL on rows written before this revision (and on user and
tool messages), which read as one linear thread as before. A column on a table that has its
policies already: RLS is unaffected.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("reply_to_id", sa.Uuid(), nullable=True))
        batch.create_foreign_key(
            "fk_messages_reply_to_id", "messages", ["reply_to_id"], ["id"], ondelete="CASCADE"
        )
        batch.create_index("ix_messages_reply_to", ["reply_to_id"])


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_index("ix_messages_reply_to")
        batch.drop_constraint("fk_messages_reply_to_id", type_="foreignkey")
        batch.drop_column("reply_to_id")
