"""chat: selected alternatives, per-conversation settings, images of messages

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05

- messages.selected_at: when the user picked this answer among its alternatives (answers
  replying to the same user message); the history sent to the model uses, per user message,
  the alternative with the latest `coalesce(selected_at, created_at)`.
- conversations.system_prompt, temperature, top_p, max_tokens: used on every turn of the
  conversation (a turn's own values win).
- message_images: the images attached to a user message, stored with the conversation so the
  history and a reload show them. Owner-only row-level security like messages
  (modelreg.db.rls.enable_message_images_rls_sql).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from modelreg.db.rls import disable_message_images_rls_sql, enable_message_images_rls_sql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("selected_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("system_prompt", sa.Text(), nullable=True))
        batch.add_column(sa.Column("temperature", sa.Float(), nullable=True))
        batch.add_column(sa.Column("top_p", sa.Float(), nullable=True))
        batch.add_column(sa.Column("max_tokens", sa.Integer(), nullable=True))
    op.create_table(
        "message_images",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "message_id", sa.Uuid(), sa.ForeignKey("messages.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "conversation_id", sa.Uuid(),
            sa.ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False,
        ),
        sa.Column(
            "user_id", sa.Uuid(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("media_type", sa.String(32), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )  # fmt: skip
    op.create_index("ix_message_images_message", "message_images", ["message_id"])
    op.create_index("ix_message_images_conversation", "message_images", ["conversation_id"])
    if op.get_bind().dialect.name == "postgresql":
        for statement in enable_message_images_rls_sql():
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in disable_message_images_rls_sql():
            op.execute(statement)
    op.drop_index("ix_message_images_conversation", "message_images")
    op.drop_index("ix_message_images_message", "message_images")
    op.drop_table("message_images")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("max_tokens")
        batch.drop_column("top_p")
        batch.drop_column("temperature")
        batch.drop_column("system_prompt")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("selected_at")
