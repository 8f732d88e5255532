"""usage_daily: usage_events summed per UTC day, user and model, backfilled from the ledger

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26

Reports read the rollup instead of the ledger (docs/performance.md, "Usage storage at
scale"); the UsageRecorder keeps it from now on (modelreg.chat.usage_rollup). On PostgreSQL
it gets row-level security like usage_events (modelreg.db.rls).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from modelreg.chat.usage_rollup import fold_daily
from modelreg.db.models import NO_ID
from modelreg.db.rls import disable_usage_daily_rls_sql, enable_usage_daily_rls_sql
from modelreg.db.types import ExactDecimal, UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_SUMS = (
    "requests",
    "errors",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "cost",
    "latency_ms_sum",
    "latency_count",
    "ttft_ms_sum",
    "ttft_count",
)

# PostgreSQL sums in the server (NUMERIC is exact; a million events take seconds)
_BACKFILL_PG = f"""
INSERT INTO usage_daily (day, user_id, llm_model_id, model_name, {", ".join(_SUMS)})
SELECT (created_at AT TIME ZONE 'UTC')::date,
       COALESCE(user_id, '{NO_ID}'::uuid), COALESCE(llm_model_id, '{NO_ID}'::uuid), model_name,
       count(*), count(*) FILTER (WHERE status = 'error'),
       sum(input_tokens), sum(output_tokens), sum(cached_tokens), sum(cost),
       COALESCE(sum(latency_ms), 0), count(latency_ms),
       COALESCE(sum(ttft_ms), 0), count(ttft_ms)
FROM usage_events
GROUP BY 1, 2, 3, 4
"""  # noqa: S608 - constants only


def upgrade() -> None:
    table = op.create_table(
        "usage_daily",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("llm_model_id", sa.Uuid(), nullable=False),
        sa.Column("model_name", sa.String(length=100), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("errors", sa.BigInteger(), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cached_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost", ExactDecimal(), nullable=False),
        sa.Column("latency_ms_sum", sa.Float(), nullable=False),
        sa.Column("latency_count", sa.BigInteger(), nullable=False),
        sa.Column("ttft_ms_sum", sa.Float(), nullable=False),
        sa.Column("ttft_count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "user_id", "llm_model_id", "model_name"),
    )
    op.create_index("ix_usage_daily_user_day", "usage_daily", ["user_id", "day"])
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(_BACKFILL_PG)
        for statement in enable_usage_daily_rls_sql():
            op.execute(statement)
    else:
        _backfill_in_python(bind, table)


def _backfill_in_python(bind: sa.Connection, table: sa.Table) -> None:
    """SQLite has no exact decimal sum: fold the ledger with the recorder's own code."""
    events = sa.table(
        "usage_events",
        sa.column("user_id", sa.Uuid()),
        sa.column("llm_model_id", sa.Uuid()),
        sa.column("model_name", sa.String()),
        sa.column("input_tokens", sa.Integer()),
        sa.column("output_tokens", sa.Integer()),
        sa.column("cached_tokens", sa.Integer()),
        sa.column("cost", ExactDecimal()),
        sa.column("latency_ms", sa.Float()),
        sa.column("ttft_ms", sa.Float()),
        sa.column("status", sa.String()),
        sa.column("created_at", UTCDateTime()),
    )
    rows = fold_daily(bind.execute(sa.select(events)))
    for start in range(0, len(rows), 1000):
        bind.execute(sa.insert(table), rows[start : start + 1000])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in disable_usage_daily_rls_sql():
            op.execute(statement)
    op.drop_index("ix_usage_daily_user_day", table_name="usage_daily")
    op.drop_table("usage_daily")
