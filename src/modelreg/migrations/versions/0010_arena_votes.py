"""arena_votes: blind arena battles and their votes, for the Bradley-Terry leaderboard

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05

One row per battle (two models drawn at random answer one prompt, names hidden); `vote` is
NULL until the user votes (a, b, tie, both_bad; once). `company` marks battles between two
company models, the only ones on the company-wide leaderboard. On PostgreSQL the table gets
row-level security (modelreg.db.rls_arena).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from modelreg.db.rls_arena import disable_sql, enable_sql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "arena_votes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=True),
        sa.Column("prompt_message_id", sa.Uuid(), nullable=True),
        sa.Column("model_a_id", sa.Uuid(), nullable=True),
        sa.Column("model_a_name", sa.String(length=100), nullable=False),
        sa.Column("model_b_id", sa.Uuid(), nullable=True),
        sa.Column("model_b_name", sa.String(length=100), nullable=False),
        sa.Column("answer_a_id", sa.Uuid(), nullable=True),
        sa.Column("answer_b_id", sa.Uuid(), nullable=True),
        sa.Column("company", sa.Boolean(), nullable=False),
        sa.Column("vote", sa.String(length=16), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("voted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["model_a_id"], ["llm_models.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["model_b_id"], ["llm_models.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_arena_votes_user_created", "arena_votes", ["user_id", "created_at"])
    op.create_index("ix_arena_votes_company_voted", "arena_votes", ["company", "voted_at"])
    if op.get_bind().dialect.name == "postgresql":
        for statement in enable_sql():
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in disable_sql():
            op.execute(statement)
    op.drop_index("ix_arena_votes_company_voted", table_name="arena_votes")
    op.drop_index("ix_arena_votes_user_created", table_name="arena_votes")
    op.drop_table("arena_votes")
