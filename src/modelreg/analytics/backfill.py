"""The analytics rollup rebuilt from the ledger in PostgreSQL (migration 0014, and the
benchmark's load): every usage event under its user and under EVERYONE, summed per (user,
UTC day, source, model), with its latency and TTFT histograms, in one INSERT ... SELECT.

`bucket_of` (modelreg.analytics.buckets) is written again in SQL here; both compute
floor(log2(ms) * 8) + 1 in double precision, so a value lands in the same bucket
(tests/db/test_analytics_backfill.py compares this with what the recorder writes).
`HIST_ADD_PG` creates modelreg_hist_add(), which the recorder's upsert uses to add two
histograms on PostgreSQL.
"""

from __future__ import annotations

from modelreg.analytics.buckets import OVERFLOW, PER_DOUBLING
from modelreg.db.analytics_models import EVERYONE
from modelreg.db.models import NO_ID

__all__ = ["BACKFILL_PG", "HIST_ADD_PG"]

# PostgreSQL folds the ledger in the server: every event under its user and under EVERYONE
_EVENTS_PG = f"""
WITH base AS (
  SELECT COALESCE(user_id, '{NO_ID}'::uuid) AS uid, (created_at AT TIME ZONE 'UTC')::date AS day,
         CASE WHEN source = 'chat' THEN 'chat' ELSE 'gateway' END AS src,
         COALESCE(llm_model_id, '{NO_ID}'::uuid) AS mid, model_name,
         status = 'error' AS failed, input_tokens, output_tokens, cost, latency_ms, ttft_ms
  FROM usage_events
), ev AS (
  SELECT * FROM base UNION ALL SELECT '{EVERYONE}'::uuid, day, src, mid, model_name, failed,
         input_tokens, output_tokens, cost, latency_ms, ttft_ms FROM base
)"""  # noqa: S608 - constants only
HIST_ADD_PG = """
CREATE OR REPLACE FUNCTION modelreg_hist_add(a jsonb, b jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT COALESCE(jsonb_object_agg(k, n), '{}'::jsonb)
  FROM (SELECT k, sum(v::bigint) AS n
        FROM (SELECT * FROM jsonb_each_text(COALESCE(a, '{}'::jsonb))
              UNION ALL SELECT * FROM jsonb_each_text(COALESCE(b, '{}'::jsonb))) t(k, v)
        GROUP BY k) s
$$"""


def _bucket_sql(column: str) -> str:
    """modelreg.analytics.buckets.bucket_of in SQL."""
    return (
        f"(CASE WHEN {column} >= 1 THEN LEAST(floor(log(2.0, {column}::numeric)"
        f" * {PER_DOUBLING})::int + 1, {OVERFLOW}) ELSE 0 END)::text"
    )


def _hist_sql(column: str) -> str:
    return f"""(SELECT COALESCE(jsonb_object_agg(b, n), '{{}}'::jsonb) FROM
       (SELECT {_bucket_sql("x")} AS b, count(*) AS n FROM unnest(array_agg({column})
        FILTER (WHERE NOT failed AND {column} IS NOT NULL)) AS u(x) GROUP BY 1) h)"""  # noqa: S608


BACKFILL_PG = f"""{_EVENTS_PG}
INSERT INTO usage_stats_daily (user_id, day, source, llm_model_id, model_name, requests,
    errors, input_tokens, output_tokens, cost, latency_ms_sum, latency_count, ttft_ms_sum,
    ttft_count, latency_hist, ttft_hist)
SELECT uid, day, src, mid, model_name, count(*), count(*) FILTER (WHERE failed),
       sum(input_tokens), sum(output_tokens), sum(cost),
       COALESCE(sum(latency_ms) FILTER (WHERE NOT failed), 0),
       count(latency_ms) FILTER (WHERE NOT failed),
       COALESCE(sum(ttft_ms) FILTER (WHERE NOT failed), 0),
       count(ttft_ms) FILTER (WHERE NOT failed),
       {_hist_sql("latency_ms")}, {_hist_sql("ttft_ms")}
FROM ev GROUP BY 1, 2, 3, 4, 5
"""  # noqa: S608 - constants only
