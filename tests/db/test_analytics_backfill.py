"""The analytics rollup two ways on PostgreSQL: kept batch by batch by the usage recorder
(Python folding, histograms added by modelreg_hist_add() in the upsert), and rebuilt from the
ledger by migration 0014's one INSERT ... SELECT. Both must give the same rows."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from modelreg.actor import Actor
from modelreg.analytics.backfill import BACKFILL_PG
from modelreg.chat.usage import UsageRecorder
from modelreg.db.engine import Database

pytestmark = [pytest.mark.postgres, pytest.mark.parametrize("db_url", ["postgres"], indirect=True)]

_ROWS = """SELECT user_id, day, source, llm_model_id, model_name, requests, errors,
  input_tokens, output_tokens, cost, round(latency_ms_sum::numeric, 3), latency_count,
  round(ttft_ms_sum::numeric, 3), ttft_count, latency_hist, ttft_hist
FROM {table} WHERE model_name = ANY($1) ORDER BY 1, 2, 3, 4, 5"""


async def _snapshot(
    conn: asyncpg.Connection, table: str, names: list[str]
) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in await conn.fetch(_ROWS.format(table=table), names)]


async def test_the_backfill_rebuilds_what_the_recorder_kept(
    db: Database, user_a: Actor, user_b: Actor, app_conn: asyncpg.Connection
) -> None:
    # several batches (each upsert adds to the stored rows), both sources, failures, calls
    # without times, and latencies on bucket edges (powers of two) and below 1 ms
    names = [f"m-{uuid.uuid4().hex[:8]}", f"env-{uuid.uuid4().hex[:8]}"]  # this test's rows
    recorder = UsageRecorder(db, linger=0, batch_size=7)
    await recorder.start()
    latencies = [0.4, 1.0, 2.0, 512.0, 1024.0, 37.5, 300.2, None, 90_000.0, 1500.0]
    for i in range(60):
        owner = (user_a, user_b, None)[i % 3]
        recorder.record(
            user_id=owner.id if owner else None,
            llm_model_id=None,  # (a registered model's id is a key column like the name)
            model_name=names[0] if i % 5 else names[1],
            source=("chat", "openai", "anthropic", "embeddings")[i % 4],
            input_tokens=i,
            output_tokens=2 * i,
            cost=Decimal("0.000001") * i,
            latency_ms=latencies[i % len(latencies)],
            ttft_ms=None if i % 2 else 10.0 + i,
            status="error" if i % 7 == 0 else "ok",
        )
        if i % 9 == 0:
            await recorder.flush()
    await recorder.stop()
    await app_conn.execute("RESET ROLE")  # the superuser: every row, and the owner's rights
    kept = await _snapshot(app_conn, "public.usage_stats_daily", names)

    # rebuilt into an empty copy: a temporary table comes first in the search path
    await app_conn.execute("CREATE TEMP TABLE usage_stats_daily (LIKE public.usage_stats_daily)")
    await app_conn.execute(BACKFILL_PG)
    rebuilt = await _snapshot(app_conn, "pg_temp.usage_stats_daily", names)
    assert len(kept) > 10
    assert rebuilt == kept
