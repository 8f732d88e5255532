#!/usr/bin/env python3
"""GET /api/analytics/models at scale: 1,000,000 usage records in PostgreSQL, then the time of
each analytics request as the app answers it (modelreg.analytics.report under row-level
security), against the goal of <= 200 ms. Printed with MET / NOT MET.

  .venv/bin/python bench/analytics_scale.py [--dsn postgresql://postgres@127.0.0.1:5432/postgres]
                                            [--rows 1000000] [--n 15] [--keep] [--reuse]

The data is bench/usage_scale.py's (its schema step and its usage_events generator: 1,000 users,
20 models, 90 days, a fifth of the events on 10 heavy users), in a throwaway database
`modelreg_bench_analytics`; the analytics rollup is filled the way migration 0014 backfills it
(one INSERT ... SELECT), plus 20,000 gateway ratings. Loading takes a minute or two.
"""

# ruff: noqa: S608 - the SQL is built from constants of this file only, never from input
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from usage_scale import DAYS, LOAD_SQL, N_MODELS, create_schema, uid

from modelreg.actor import Actor
from modelreg.analytics.backfill import BACKFILL_PG
from modelreg.analytics.report import analytics_report
from modelreg.db.engine import Database

DB = "modelreg_bench_analytics"
GOAL_MS = 200.0
USERS_SQL, MODELS_SQL, USAGE_SQL = LOAD_SQL[0], LOAD_SQL[1], LOAD_SQL[4]
FEEDBACK_SQL = f"""INSERT INTO response_feedback (request_id, user_id, llm_model_id, model_name,
    answered_at, rating, created_at, updated_at)
  SELECT 'req_' || lpad(to_hex(i), 24, '0'), md5('u' || (1 + i % 1000))::uuid,
         md5('m' || (1 + i % {N_MODELS}))::uuid, 'model-' || (1 + i % {N_MODELS}),
         now() - random() * interval '{DAYS} days', CASE WHEN i % 3 = 0 THEN -1 ELSE 1 END,
         now(), now()
  FROM generate_series(1, 20000) i"""


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


async def load(admin: asyncpg.Connection, dsn_db: str, rows: int) -> None:
    await admin.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
    await admin.execute(f"CREATE DATABASE {DB}")
    create_schema(dsn_db)  # migrations 0001-0014: the rollup is created (empty) here
    conn = await asyncpg.connect(dsn_db)
    try:
        await conn.execute("SET session_replication_role = replica")  # consistent by design
        for name, sql in [("users", USERS_SQL), ("models", MODELS_SQL), ("usage_events", USAGE_SQL),
                          ("feedback", FEEDBACK_SQL)]:  # fmt: skip
            t = time.monotonic()
            await conn.execute(sql.replace(":rows", str(rows)))
            log(f"  loaded {name} in {time.monotonic() - t:.1f} s")
        t = time.monotonic()
        await conn.execute(BACKFILL_PG)
        log(f"  rollup built in {time.monotonic() - t:.1f} s")
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


async def timed(db: Database, actor: Actor, n: int, **kwargs: Any) -> dict[str, Any]:
    times = []
    report = None
    for i in range(n + 2):
        t0 = time.perf_counter()
        report = await analytics_report(db, actor, **kwargs)
        if i >= 2:  # two warm-ups
            times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    assert report is not None
    return {
        "p50_ms": round(statistics.median(times), 1),
        "max_ms": round(times[-1], 1),
        "models": len(report.models),
        "users": len(report.users or []),
        "requests": report.totals.requests,
    }


async def measure(dsn_db: str, n: int) -> dict[str, Any]:
    db = Database(dsn_db.replace("postgresql://", "postgresql+asyncpg://", 1))
    today = datetime.now(UTC).date()
    month: tuple[date, date] = (today - timedelta(days=29), today)
    year: tuple[date, date] = (today - timedelta(days=365), today)
    admin = Actor(id=uid("u", 1), username="user1", role="admin")
    heavy = Actor(id=uid("u", 6), username="user6", role="user")
    typical = Actor(id=uid("u", 500), username="user500", role="user")
    cases: dict[str, tuple[Actor, tuple[date, date], dict[str, Any]]] = {
        "typical user, 30 days": (typical, month, {}),
        "heavy user, 30 days": (heavy, month, {}),
        "heavy user, 366 days, gateway only": (heavy, year, {"source": "gateway"}),
        "admin, everyone + per-user table, 30 days": (admin, month, {}),
        "admin, everyone + per-user table, 366 days": (admin, year, {}),
        "admin, one user, 366 days": (admin, year, {"user_id": heavy.id}),
    }
    out: dict[str, Any] = {}
    try:
        for name, (actor, (start, end), extra) in cases.items():
            out[name] = await timed(db, actor, n, start=start, end=end, **extra)
            m = out[name]
            verdict = "MET" if m["p50_ms"] <= GOAL_MS else "NOT MET"
            log(f"  {name:46} p50 {m['p50_ms']:7.1f} ms  max {m['max_ms']:7.1f} ms  "
                f"({m['requests']:,} requests, {m['models']} models, {m['users']} users)"
                f"  goal <= {GOAL_MS:.0f} ms: {verdict}")  # fmt: skip
    finally:
        await db.dispose()
    return out


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    admin = await asyncpg.connect(args.dsn)
    base, _, _ = args.dsn.rpartition("/")
    dsn_db = f"{base}/{DB}"
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DB)
        if not (args.reuse and exists):
            log(f"loading {args.rows:,} usage records into {DB} …")
            await load(admin, dsn_db, args.rows)
        conn = await asyncpg.connect(dsn_db)
        rollup_rows = await conn.fetchval("SELECT count(*) FROM usage_stats_daily")
        events = await conn.fetchval("SELECT count(*) FROM usage_events")
        await conn.close()
        log(f"{events:,} usage records; rollup usage_stats_daily {rollup_rows:,} rows")
        return {"events": events, "rollup_rows": rollup_rows, **await measure(dsn_db, args.n)}
    finally:
        if not args.keep:
            await admin.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        await admin.close()


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--n", type=int, default=15, help="timed runs per case")
    ap.add_argument("--keep", action="store_true", help="keep the database afterwards")
    ap.add_argument("--reuse", action="store_true", help="reuse a database a --keep run left")
    result = asyncio.run(main_async(ap.parse_args()))
    worst = max(v["p50_ms"] for v in result.values() if isinstance(v, dict))
    verdict = "MET" if worst <= GOAL_MS else "NOT MET"
    print(f"analytics at {result['events']:,} usage records: slowest case p50 {worst:.1f} ms; "
          f"goal <= {GOAL_MS:.0f} ms per request: {verdict}")  # fmt: skip


if __name__ == "__main__":
    main()
