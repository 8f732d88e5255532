#!/usr/bin/env python3
"""Usage storage at scale: 1,000,000 messages and 1,000,000 usage_events in PostgreSQL, then the
p50 of the two reads the UI and the admin need, without and with extra indexes / a rollup.

  .venv/bin/python bench/usage_scale.py [--dsn postgresql://postgres@127.0.0.1:5432/postgres]
                                        [--rows 1000000] [--keep]

The schema is the project's own (`modelreg db upgrade`, row-level security included), in a
throwaway database `modelreg_bench_usage` (dropped at the end unless --keep). Rows are made
with generate_series in the server, so loading takes seconds, not minutes. Every query runs
twice per variant: as the superuser (no RLS) and the way the app runs it (role modelreg_app with
the actor in transaction-local settings, so the RLS policies apply).

Queries:
  recent_messages    a user's 50 most recent messages with their usage (chat history page)
  recent_usage       a user's 50 most recent usage_events (usage page)
  user_month_totals  one user's per-model totals over a calendar month
  model_month_totals per-model totals over a calendar month for everyone (admin analytics)
Variants:
  baseline       the indexes of the migrations
  covering       + an index on usage_events (created_at) INCLUDE (the summed columns),
                 so the month totals are an index-only scan
  rollup         the project's usage_daily (day, user, model; migration 0003, kept by the
                 recorder) filled from the ledger, read with GET /api/usage's query: a user's
                 month reads <= 31 x models rows, the admin's per-model month every
                 (day, user, model) row of the month instead of ~1/3 of the ledger
"""

# ruff: noqa: S608 - the SQL is built from constants of this file only, never from input
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg

HERE = Path(__file__).resolve().parent
DB = "modelreg_bench_usage"
N_USERS, N_MODELS, N_CONVERSATIONS, DAYS = 1000, 20, 50_000, 90


def uid(kind: str, i: int) -> uuid.UUID:
    """The same deterministic ids the SQL below makes with md5(kind || i)::uuid."""
    import hashlib

    return uuid.UUID(hashlib.md5(f"{kind}{i}".encode()).hexdigest())  # noqa: S324 - ids only


LOAD_SQL = [
    # users: u1 is an admin, a few heavy users get most traffic (skew below)
    f"""INSERT INTO users (id, username, role, is_active, created_at)
        SELECT md5('u' || i)::uuid, 'user' || i, CASE WHEN i = 1 THEN 'admin' ELSE 'user' END,
               true, now() - interval '{DAYS + 1} days'
        FROM generate_series(1, {N_USERS}) i""",
    f"""INSERT INTO llm_models (id, user_id, name, description, provider, base_url, model_id,
               auth_type, supports_streaming, supports_functions, supports_vision,
               price_per_input_token, price_per_output_token, enabled, is_global,
               fallback_model_ids, options, source, created_at, updated_at)
        SELECT md5('m' || i)::uuid, NULL, 'model-' || i, '', 'openai',
               'https://api.example.invalid/v1', 'gpt-' || i, 'bearer', true, true, false,
               0.00000015, 0.0000006, true, true, '[]', '{{}}', 'db', now(), now()
        FROM generate_series(1, {N_MODELS}) i""",
    f"""INSERT INTO conversations (id, user_id, title, llm_model_id, created_at, updated_at)
        SELECT md5('c' || i)::uuid, md5('u' || (1 + i % {N_USERS}))::uuid, 'Conversation ' || i,
               md5('m' || (1 + i % {N_MODELS}))::uuid, now() - interval '{DAYS} days', now()
        FROM generate_series(1, {N_CONVERSATIONS}) i""",
    # messages: conversation i % N; even rows are the user's, odd rows the assistant's answer
    # with usage; timestamps spread over DAYS days
    f"""INSERT INTO messages (id, conversation_id, user_id, role, content, llm_model_id,
               model_name, input_tokens, output_tokens, cost, latency_ms, finish_reason,
               status, created_at)
        SELECT gen_random_uuid(), md5('c' || (1 + i % {N_CONVERSATIONS}))::uuid,
               md5('u' || (1 + (1 + i % {N_CONVERSATIONS}) % {N_USERS}))::uuid,
               CASE WHEN i % 2 = 0 THEN 'user' ELSE 'assistant' END,
               repeat('lorem ipsum ', 16),
               CASE WHEN i % 2 = 1 THEN md5('m' || (1 + i % {N_MODELS}))::uuid END,
               CASE WHEN i % 2 = 1 THEN 'model-' || (1 + i % {N_MODELS}) END,
               CASE WHEN i % 2 = 1 THEN 200 + (i % 800) END,
               CASE WHEN i % 2 = 1 THEN 50 + (i % 400) END,
               CASE WHEN i % 2 = 1 THEN 0.0001 * (i % 97) END,
               CASE WHEN i % 2 = 1 THEN 300 + (i % 2000) END,
               CASE WHEN i % 2 = 1 THEN 'stop' END,
               'complete', now() - random() * interval '{DAYS} days'
        FROM generate_series(1, :rows) i""",
    # usage_events: users skewed (a fifth of the events go to 10 users), 20 models
    f"""INSERT INTO usage_events (id, user_id, llm_model_id, model_name, source, input_tokens,
               output_tokens, cached_tokens, cost, latency_ms, ttft_ms, status, created_at)
        SELECT gen_random_uuid(),
               md5('u' || CASE WHEN i % 5 = 0 THEN 1 + i % 10
                               ELSE 1 + (i::bigint * 7919) % {N_USERS} END)::uuid,
               md5('m' || (1 + i % {N_MODELS}))::uuid, 'model-' || (1 + i % {N_MODELS}),
               CASE WHEN i % 3 = 0 THEN 'chat' ELSE 'openai' END,
               200 + (i % 800), 50 + (i % 400), 0, 0.0001 * (i % 97), 300 + (i % 2000),
               20 + (i % 200), 'ok', now() - random() * interval '{DAYS} days'
        FROM generate_series(1, :rows) i""",
]

# usage_daily is the project's own (migration 0003, with its RLS policies); it is empty after
# the load (the schema is made first), so fill it the way the migration backfills it
ROLLUP_SQL = [
    """INSERT INTO usage_daily (day, user_id, llm_model_id, model_name, requests, errors,
           input_tokens, output_tokens, cached_tokens, cost, latency_ms_sum, latency_count,
           ttft_ms_sum, ttft_count)
         SELECT (created_at AT TIME ZONE 'UTC')::date,
                COALESCE(user_id, '00000000-0000-0000-0000-000000000000'::uuid),
                COALESCE(llm_model_id, '00000000-0000-0000-0000-000000000000'::uuid),
                model_name, count(*), count(*) FILTER (WHERE status = 'error'),
                sum(input_tokens), sum(output_tokens), sum(cached_tokens), sum(cost),
                COALESCE(sum(latency_ms), 0), count(latency_ms),
                COALESCE(sum(ttft_ms), 0), count(ttft_ms)
         FROM usage_events GROUP BY 1, 2, 3, 4""",
    "VACUUM ANALYZE usage_daily",
]
COVERING_SQL = [
    """CREATE INDEX ix_usage_events_created_totals ON usage_events (created_at)
         INCLUDE (user_id, llm_model_id, model_name, input_tokens, output_tokens, cost)""",
    """CREATE INDEX ix_usage_events_user_created_totals ON usage_events (user_id, created_at)
         INCLUDE (llm_model_id, model_name, input_tokens, output_tokens, cost)""",
    "VACUUM ANALYZE usage_events",
]
DROP_COVERING_SQL = [
    "DROP INDEX ix_usage_events_created_totals",
    "DROP INDEX ix_usage_events_user_created_totals",
]
# what the recorder would run per batch to keep the rollup (measured for its cost)
ROLLUP_UPSERT = """
INSERT INTO usage_daily
SELECT (now() AT TIME ZONE 'UTC')::date, u, m, 'model-1', 1, 0, 300, 100, 0, 0.001, 500, 1, 0, 0
FROM unnest($1::uuid[], $2::uuid[]) AS t(u, m)
ON CONFLICT (day, user_id, llm_model_id, model_name) DO UPDATE SET
  requests = usage_daily.requests + excluded.requests,
  errors = usage_daily.errors + excluded.errors,
  input_tokens = usage_daily.input_tokens + excluded.input_tokens,
  output_tokens = usage_daily.output_tokens + excluded.output_tokens,
  cached_tokens = usage_daily.cached_tokens + excluded.cached_tokens,
  cost = usage_daily.cost + excluded.cost,
  latency_ms_sum = usage_daily.latency_ms_sum + excluded.latency_ms_sum,
  latency_count = usage_daily.latency_count + excluded.latency_count,
  ttft_ms_sum = usage_daily.ttft_ms_sum + excluded.ttft_ms_sum,
  ttft_count = usage_daily.ttft_count + excluded.ttft_count"""

MONTH = (
    "date_trunc('month', now() AT TIME ZONE 'UTC') - interval '1 month'",
    "date_trunc('month', now() AT TIME ZONE 'UTC')",
)
QUERIES: dict[str, str] = {
    "recent_messages": """SELECT id, conversation_id, role, model_name, input_tokens,
            output_tokens, cost, created_at FROM messages WHERE user_id = $1
            ORDER BY created_at DESC LIMIT 50""",
    "recent_usage": """SELECT id, model_name, source, input_tokens, output_tokens, cost,
            latency_ms, created_at FROM usage_events WHERE user_id = $1
            ORDER BY created_at DESC LIMIT 50""",
    "user_month_totals": f"""SELECT llm_model_id, model_name, count(*), sum(input_tokens),
            sum(output_tokens), sum(cost) FROM usage_events
            WHERE user_id = $1 AND created_at >= ({MONTH[0]}) AT TIME ZONE 'UTC'
              AND created_at < ({MONTH[1]}) AT TIME ZONE 'UTC'
            GROUP BY llm_model_id, model_name""",
    "model_month_totals": f"""SELECT llm_model_id, model_name, count(*), sum(input_tokens),
            sum(output_tokens), sum(cost) FROM usage_events
            WHERE created_at >= ({MONTH[0]}) AT TIME ZONE 'UTC'
              AND created_at < ({MONTH[1]}) AT TIME ZONE 'UTC'
            GROUP BY llm_model_id, model_name""",
}
# what GET /api/usage runs (modelreg.chat.usage_report, group_by=model), in the month
_ROLLUP_TOTALS = """SELECT llm_model_id, model_name, sum(requests), sum(errors),
            sum(input_tokens), sum(output_tokens), sum(cached_tokens), sum(latency_count),
            sum(ttft_count), sum(latency_ms_sum), sum(ttft_ms_sum), sum(cost) FROM usage_daily"""
_IN_MONTH = f"day >= ({MONTH[0]})::date AND day < ({MONTH[1]})::date"
ROLLUP_QUERIES: dict[str, str] = {
    "user_month_totals": f"""{_ROLLUP_TOTALS} WHERE user_id = $1 AND {_IN_MONTH}
            GROUP BY llm_model_id, model_name""",
    "model_month_totals": f"""{_ROLLUP_TOTALS} WHERE {_IN_MONTH}
            GROUP BY llm_model_id, model_name""",
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


async def timed(
    conn: asyncpg.Connection,
    sql: str,
    args: list[Any],
    as_app: str | None,
    actor: uuid.UUID,
    n: int,
) -> dict[str, Any]:
    """p50/p90/max of `n` runs (after 3 warm-ups); as_app = the actor role under RLS."""
    stmt = await conn.prepare(sql)
    times, rows = [], 0
    for i in range(n + 3):
        t0 = time.perf_counter()
        async with conn.transaction():
            if as_app:
                await conn.execute(
                    "SELECT set_config('modelreg.user_id', $1, true), "
                    "set_config('modelreg.role', $2, true), "
                    "set_config('role', 'modelreg_app', true)",
                    str(actor),
                    as_app,
                )
            result = await stmt.fetch(*args)
        if i >= 3:
            times.append((time.perf_counter() - t0) * 1000)
        rows = len(result)
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 3),
        "p90_ms": round(times[int(0.9 * (len(times) - 1))], 3),
        "max_ms": round(times[-1], 3),
        "rows": rows,
        "n": n,
    }


async def plan(
    conn: asyncpg.Connection,
    sql: str,
    args: list[Any],
    as_app: str | None = None,
    actor: uuid.UUID | None = None,
) -> str:
    """The executed plan's node lines, as the superuser or under the app role (RLS)."""
    async with conn.transaction():
        if as_app:
            await conn.execute(
                "SELECT set_config('modelreg.user_id', $1, true), "
                "set_config('modelreg.role', $2, true), "
                "set_config('role', 'modelreg_app', true)",
                str(actor),
                as_app,
            )
        rows = await conn.fetch("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + sql, *args)
    lines = [r[0] for r in rows]
    return " | ".join(line.strip() for line in lines if "->" in line or not line.startswith(" "))


async def measure(conn: asyncpg.Connection, variant: str, n: int) -> dict[str, Any]:
    heavy, typical, admin = uid("u", 1), uid("u", 500), uid("u", 1)
    out: dict[str, Any] = {}
    for name, sql in QUERIES.items():
        if variant == "rollup" and name in ROLLUP_QUERIES:
            sql = ROLLUP_QUERIES[name]
        if name == "model_month_totals":
            cases = {"admin": ([], "admin", admin)}
        else:
            cases = {
                "typical_user": ([typical], "user", typical),
                "heavy_user": ([heavy], "user", heavy),
            }
        for case, (args, role, actor) in cases.items():
            key = f"{name}/{case}"
            out[key] = {
                "superuser": await timed(conn, sql, args, None, actor, n),
                "app_rls": await timed(conn, sql, args, role, actor, n),
                "plan": await plan(conn, sql, args),
                "plan_app": await plan(conn, sql, args, role, actor),
            }
            log(
                f"  {variant:9} {key:32} superuser p50 {out[key]['superuser']['p50_ms']:8.2f} ms"
                f"   app+RLS p50 {out[key]['app_rls']['p50_ms']:8.2f} ms"
                f"   rows {out[key]['superuser']['rows']}"
            )
    return out


def create_schema(dsn_db: str) -> None:
    """The project's schema through its own CLI (migrations incl. RLS)."""
    url = dsn_db.replace("postgresql://", "postgresql+asyncpg://", 1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELREG_")}
    env.update(
        MODELREG_DATABASE_URL=url, MODELREG_ENCRYPTION_KEY=base64.b64encode(os.urandom(32)).decode()
    )
    exe = Path(sys.executable).with_name("modelreg")
    subprocess.run([str(exe), "db", "upgrade"], env=env, check=True, capture_output=True)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    admin_conn = await asyncpg.connect(args.dsn)
    base, _, _ = args.dsn.rpartition("/")
    dsn_db = f"{base}/{DB}"
    result: dict[str, Any] = {
        "rows": args.rows,
        "users": N_USERS,
        "models": N_MODELS,
        "days": DAYS,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    exists = await admin_conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DB)
    try:
        if args.reuse and exists:
            conn = await asyncpg.connect(dsn_db)
            await conn.execute("TRUNCATE usage_daily")
            for statement in DROP_COVERING_SQL:
                await conn.execute(statement.replace("INDEX", "INDEX IF EXISTS"))
            result["load_s"] = "reused the database of an earlier run"
        else:
            conn = await load(admin_conn, dsn_db, args, result)
        result["server"] = await conn.fetchval("SHOW server_version")
        result["sizes"] = {
            r["relname"]: r["size"]
            for r in await conn.fetch(
                "SELECT relname, pg_size_pretty(pg_total_relation_size(oid)) AS size "
                "FROM pg_class WHERE relname IN ('messages', 'usage_events')"
            )
        }
        result["baseline"] = await measure(conn, "baseline", args.n)
        for statement in COVERING_SQL:
            await conn.execute(statement)
        result["covering"] = await measure(conn, "covering", args.n)
        for statement in DROP_COVERING_SQL:
            await conn.execute(statement)
        t = time.monotonic()
        for statement in ROLLUP_SQL:
            await conn.execute(statement)
        result["rollup_build_s"] = round(time.monotonic() - t, 1)
        result["rollup_rows"] = await conn.fetchval("SELECT count(*) FROM usage_daily")
        result["rollup"] = await measure(conn, "rollup", args.n)
        result["rollup_upsert_100"] = await upsert_cost(conn)
        await conn.close()
    finally:
        if not args.keep:
            await admin_conn.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        await admin_conn.close()
    return result


async def load(
    admin_conn: asyncpg.Connection, dsn_db: str, args: argparse.Namespace, result: dict[str, Any]
) -> asyncpg.Connection:
    """A fresh database with the project's schema and the generated rows."""
    await admin_conn.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
    await admin_conn.execute(f"CREATE DATABASE {DB}")
    t0 = time.monotonic()
    create_schema(dsn_db)
    result["schema_s"] = round(time.monotonic() - t0, 1)
    conn = await asyncpg.connect(dsn_db)
    load_times = {}
    # the rows are consistent by construction: skip the per-row foreign-key triggers
    await conn.execute("SET session_replication_role = replica")
    for sql in LOAD_SQL:
        t = time.monotonic()
        await conn.execute(sql.replace(":rows", str(args.rows)))
        load_times[sql.split()[2]] = round(time.monotonic() - t, 1)
    await conn.execute("SET session_replication_role = DEFAULT")
    t = time.monotonic()
    await conn.execute("VACUUM ANALYZE")
    load_times["vacuum_analyze"] = round(time.monotonic() - t, 1)
    result["load_s"] = load_times
    log(f"loaded: {load_times}")
    return conn


async def upsert_cost(conn: asyncpg.Connection) -> dict[str, float]:
    """Cost of keeping the rollup: one upsert of a 100-event batch (what the recorder writes)."""
    users = [uid("u", 1 + i % 50) for i in range(100)]
    models = [uid("m", 1 + i % N_MODELS) for i in range(100)]
    # a batch has one row per (user, model): aggregate in Python first, as the recorder would
    pairs = sorted(set(zip(users, models, strict=True)))
    times = []
    for _ in range(23):
        t0 = time.perf_counter()
        await conn.execute(ROLLUP_UPSERT, [p[0] for p in pairs], [p[1] for p in pairs])
        times.append((time.perf_counter() - t0) * 1000)
    return {"p50_ms": round(statistics.median(times[3:]), 3), "distinct_pairs": len(pairs)}


def to_markdown(res: dict[str, Any]) -> str:
    lines = [
        f"{res['rows']:,} messages + {res['rows']:,} usage_events, {res['users']} users, "
        f"{res['models']} models, {res['days']} days (PostgreSQL {res.get('server')}); "
        f"load {res['load_s']}; sizes {res.get('sizes')}",
        "",
        "| query | case | baseline (superuser / app+RLS) | + covering index | + daily rollup |",
        "|---|---|---|---|---|",
    ]
    for key in res["baseline"]:
        name, case = key.split("/")
        cells = []
        for variant in ("baseline", "covering", "rollup"):
            m = res[variant][key]
            cells.append(f"{m['superuser']['p50_ms']:.2f} / {m['app_rls']['p50_ms']:.2f} ms")
        lines.append(f"| {name} | {case} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"rollup: usage_daily (day, user, model) {res['rollup_rows']:,} rows, built in "
        f"{res['rollup_build_s']} s; "
        f"upsert of one 100-event batch p50 {res['rollup_upsert_100']['p50_ms']} ms",
        "",
    ]
    for key, m in res["baseline"].items():
        lines.append(f"- plan baseline {key}: superuser: {m['plan'][:300]}")
        lines.append(f"  app+RLS: {m['plan_app'][:300]}")
    lines.append(
        f"- plan covering model_month_totals: "
        f"{res['covering']['model_month_totals/admin']['plan'][:300]}"
    )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--n", type=int, default=20, help="timed runs per query")
    ap.add_argument("--keep", action="store_true", help="keep the database afterwards")
    ap.add_argument(
        "--reuse", action="store_true", help="reuse the database a --keep run left (skips the load)"
    )
    ap.add_argument("--out-dir", type=Path, default=HERE / "results")
    args = ap.parse_args()
    res = asyncio.run(main_async(args))
    md = to_markdown(res)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{time.strftime('%Y-%m-%d-%H%M')}-usage-scale"
    (args.out_dir / f"{stem}.json").write_text(json.dumps(res, indent=1, default=str))
    (args.out_dir / f"{stem}.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
