"""The analytics rollup `usage_stats_daily`: sums and latency histograms, kept by the
UsageRecorder in the transaction of each batch, next to usage_daily.

Each event is folded in twice: under its user and under EVERYONE (the company-wide rows), so
an admin's figures read one row per (day, source, model) whatever the number of users.
Sources: `chat` (the web chat, /api/chat) and `gateway` (everything under /v1). Latency and
time to first token go into the means and histograms only for calls that did not fail (an
error's "latency" is how fast it failed). A histogram is a JSON object {"bucket": calls}
(modelreg.analytics.buckets): sparse, and added key by key.

The upsert adds the batch to the stored row: in SQL on PostgreSQL (NUMERIC for the cost, the
function modelreg_hist_add() of migration 0014 for the histograms), in Python on SQLite
(costs are text there), as modelreg.chat.usage_rollup does for usage_daily.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, Protocol, cast

from sqlalchemy import Numeric, Table, func, select, type_coerce
from sqlalchemy.dialects import postgresql, sqlite

from modelreg.analytics.buckets import bucket_of
from modelreg.chat.usage_rollup import UsageLike
from modelreg.db.analytics_models import EVERYONE, UsageStatsDaily
from modelreg.db.models import NO_ID

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["EventLike", "add_histograms", "fold_stats", "source_group", "upsert_stats"]

_TABLE = cast(Table, UsageStatsDaily.__table__)
_KEY: Final = ("user_id", "day", "source", "llm_model_id", "model_name")
_SUMS: Final = (
    "requests",
    "errors",
    "input_tokens",
    "output_tokens",
    "cost",
    "latency_ms_sum",
    "latency_count",
    "ttft_ms_sum",
    "ttft_count",
)
_HISTS: Final = ("latency_hist", "ttft_hist")
_CHUNK = 1000

Key = tuple[uuid.UUID, date, str, uuid.UUID, str]


class EventLike(UsageLike, Protocol):
    """A usage event as the analytics rollup reads it (a UsageRecord or a ledger row)."""

    @property
    def source(self) -> str: ...


def source_group(source: str) -> str:
    """usage_events.source (chat | openai | anthropic | embeddings) -> chat | gateway."""
    return "chat" if source == "chat" else "gateway"


def add_histograms(a: Mapping[str, int], b: Mapping[str, int]) -> dict[str, int]:
    """Two histograms {"bucket": calls} added."""
    out = dict(a)
    for bucket, count in b.items():
        out[bucket] = out.get(bucket, 0) + int(count)
    return out


def _day(moment: datetime) -> date:
    return moment.astimezone(UTC).date() if moment.tzinfo else moment.date()


def _keys(e: EventLike) -> tuple[Key, Key]:
    rest = (_day(e.created_at), source_group(e.source), e.llm_model_id or NO_ID, e.model_name)
    return (e.user_id or NO_ID, *rest), (EVERYONE, *rest)


def _empty() -> dict[str, Any]:
    return dict.fromkeys(_SUMS, 0) | {
        "cost": Decimal(0),
        "latency_ms_sum": 0.0,
        "ttft_ms_sum": 0.0,
        "latency_hist": {},
        "ttft_hist": {},
    }


def fold_stats(events: Iterable[EventLike]) -> list[dict[str, Any]]:
    """One usage_stats_daily row per key of `events` (each event under two keys)."""
    groups: dict[Key, dict[str, Any]] = {}
    for e in events:
        failed = e.status == "error"
        latency = None if failed or e.latency_ms is None else str(bucket_of(e.latency_ms))
        ttft = None if failed or e.ttft_ms is None else str(bucket_of(e.ttft_ms))
        for key in _keys(e):
            s = groups.get(key)
            if s is None:
                s = groups[key] = _empty()
            s["requests"] += 1
            s["errors"] += failed
            s["input_tokens"] += e.input_tokens
            s["output_tokens"] += e.output_tokens
            s["cost"] += e.cost
            if latency is not None:
                s["latency_ms_sum"] += e.latency_ms
                s["latency_count"] += 1
                s["latency_hist"][latency] = s["latency_hist"].get(latency, 0) + 1
            if ttft is not None:
                s["ttft_ms_sum"] += e.ttft_ms
                s["ttft_count"] += 1
                s["ttft_hist"][ttft] = s["ttft_hist"].get(ttft, 0) + 1
    return [dict(zip(_KEY, key, strict=True)) | sums for key, sums in groups.items()]


async def upsert_stats(session: AsyncSession, events: Sequence[EventLike]) -> None:
    """Add `events` (UsageRecords) to usage_stats_daily in the session's transaction."""
    postgres = session.get_bind().dialect.name == "postgresql"
    rows = fold_stats(events)
    for start in range(0, len(rows), _CHUNK):
        chunk = rows[start : start + _CHUNK]
        if postgres:
            await session.execute(_PG_UPSERT, chunk)
        else:
            await session.execute(_SQLITE_UPSERT, await _add_stored(session, chunk))


def _pg_upsert() -> Any:
    pg = postgresql.insert(_TABLE)
    c = _TABLE.c
    setters: dict[str, Any] = {}
    for name in _SUMS:
        if name == "cost":  # ExactDecimal's impl is a string type: `+` would render `||`
            setters[name] = type_coerce(c.cost, Numeric()) + type_coerce(
                pg.excluded.cost, Numeric()
            )
        else:
            setters[name] = c[name] + pg.excluded[name]
    for name in _HISTS:
        setters[name] = func.modelreg_hist_add(c[name], pg.excluded[name])
    return pg.on_conflict_do_update(index_elements=list(_KEY), set_=setters)


def _sqlite_upsert() -> Any:
    lite = sqlite.insert(_TABLE)
    return lite.on_conflict_do_update(
        index_elements=list(_KEY), set_={n: lite.excluded[n] for n in (*_SUMS, *_HISTS)}
    )


# built once: one compiled form each, run as executemany
_PG_UPSERT = _pg_upsert()
_SQLITE_UPSERT = _sqlite_upsert()


async def _add_stored(session: AsyncSession, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """SQLite: `rows` with what is already stored under their keys added (the recorder's
    transaction holds SQLite's write lock, so nobody changes them in between)."""
    c = _TABLE.c
    stored = await session.execute(
        select(_TABLE).where(
            c.user_id.in_({r["user_id"] for r in rows}),
            c.day.in_({r["day"] for r in rows}),
            c.llm_model_id.in_({r["llm_model_id"] for r in rows}),
        )
    )
    by_key = {tuple(getattr(s, k) for k in _KEY): s for s in stored}
    merged = []
    for row in rows:
        old = by_key.get(tuple(row[k] for k in _KEY))
        if old is not None:
            row = row | {name: row[name] + getattr(old, name) for name in _SUMS}
            row |= {name: add_histograms(getattr(old, name) or {}, row[name]) for name in _HISTS}
        merged.append(row)
    return merged
