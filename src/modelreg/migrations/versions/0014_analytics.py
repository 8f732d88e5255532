"""feedback (message_feedback, response_feedback), usage_events.request_id, and the analytics
rollup (usage_stats_daily) backfilled from the ledger

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05

Thumbs up / down on chat answers and on gateway responses (by the request id the gateway
returned, now stored with each usage event); the rollup that GET /api/analytics/models reads:
sums and latency histograms per (user or everyone, UTC day, source, model), kept by the usage
recorder from now on (modelreg.analytics.rollup). RLS: modelreg.db.rls_analytics.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from modelreg.analytics.backfill import BACKFILL_PG, HIST_ADD_PG
from modelreg.analytics.rollup import fold_stats
from modelreg.db.analytics_models import HIST
from modelreg.db.rls_analytics import disable_sql, enable_sql
from modelreg.db.types import ExactDecimal, UTCDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_KEY = ("user_id", "day", "source", "llm_model_id", "model_name")


def _key_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("llm_model_id", sa.Uuid(), nullable=False),
        sa.Column("model_name", sa.String(length=100), nullable=False),
    ]


def _feedback_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("user_id", sa.Uuid(), sa.ForeignKey("users.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("rating", sa.SmallInteger(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    ]  # fmt: skip


def upgrade() -> None:
    with op.batch_alter_table("usage_events") as batch:
        batch.add_column(sa.Column("request_id", sa.String(length=64), nullable=True))
        batch.create_index("ix_usage_events_request_id", ["request_id"])
    op.create_table(
        "message_feedback",
        sa.Column("message_id", sa.Uuid(), sa.ForeignKey("messages.id", ondelete="CASCADE"),
                  primary_key=True),
        *_feedback_columns(),
        sa.CheckConstraint("rating IN (-1, 1)", name="ck_message_feedback_rating"),
    )  # fmt: skip
    op.create_index("ix_message_feedback_user", "message_feedback", ["user_id"])
    op.create_table(
        "response_feedback",
        sa.Column("request_id", sa.String(length=64), primary_key=True),
        sa.Column("llm_model_id", sa.Uuid(), nullable=True),
        sa.Column("model_name", sa.String(length=100), nullable=False),
        sa.Column("answered_at", UTCDateTime(), nullable=False),
        *_feedback_columns(),
        sa.CheckConstraint("rating IN (-1, 1)", name="ck_response_feedback_rating"),
    )
    op.create_index(
        "ix_response_feedback_user_answered", "response_feedback", ["user_id", "answered_at"]
    )
    op.create_index("ix_response_feedback_answered", "response_feedback", ["answered_at"])
    stats = op.create_table(
        "usage_stats_daily",
        *_key_columns(),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("errors", sa.BigInteger(), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost", ExactDecimal(), nullable=False),
        sa.Column("latency_ms_sum", sa.Float(), nullable=False),
        sa.Column("latency_count", sa.BigInteger(), nullable=False),
        sa.Column("ttft_ms_sum", sa.Float(), nullable=False),
        sa.Column("ttft_count", sa.BigInteger(), nullable=False),
        sa.Column("latency_hist", HIST, nullable=False),
        sa.Column("ttft_hist", HIST, nullable=False),
        sa.PrimaryKeyConstraint(*_KEY),
    )
    op.create_index("ix_usage_stats_daily_day", "usage_stats_daily", ["day"])
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(HIST_ADD_PG)
        op.execute(BACKFILL_PG)
        for statement in enable_sql():
            op.execute(statement)
    else:
        _backfill_in_python(bind, stats)


def _backfill_in_python(bind: sa.Connection, stats: sa.Table) -> None:
    """SQLite has no exact decimal sum: fold the ledger with the recorder's own code."""
    events = sa.table(
        "usage_events",
        sa.column("user_id", sa.Uuid()),
        sa.column("llm_model_id", sa.Uuid()),
        sa.column("model_name", sa.String()),
        sa.column("source", sa.String()),
        sa.column("input_tokens", sa.Integer()),
        sa.column("output_tokens", sa.Integer()),
        sa.column("cached_tokens", sa.Integer()),
        sa.column("cost", ExactDecimal()),
        sa.column("latency_ms", sa.Float()),
        sa.column("ttft_ms", sa.Float()),
        sa.column("status", sa.String()),
        sa.column("created_at", UTCDateTime()),
    )
    folded = fold_stats(bind.execute(sa.select(events)))
    for start in range(0, len(folded), 1000):
        bind.execute(sa.insert(stats), folded[start : start + 1000])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in disable_sql():
            op.execute(statement)
    op.drop_index("ix_usage_stats_daily_day", table_name="usage_stats_daily")
    op.drop_table("usage_stats_daily")
    op.drop_index("ix_response_feedback_answered", table_name="response_feedback")
    op.drop_index("ix_response_feedback_user_answered", table_name="response_feedback")
    op.drop_table("response_feedback")
    op.drop_index("ix_message_feedback_user", table_name="message_feedback")
    op.drop_table("message_feedback")
    with op.batch_alter_table("usage_events") as batch:
        batch.drop_index("ix_usage_events_request_id")
        batch.drop_column("request_id")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS modelreg_hist_add(jsonb, jsonb)")
