"""The daily usage rollup (`usage_daily`): what the UsageRecorder adds per batch.

A batch is folded in Python into one row per (UTC day, user, model) first, so the upsert has
no two rows with the same key (PostgreSQL refuses to update one row twice in a statement) and
writes as few rows as possible; then one `INSERT ... ON CONFLICT DO UPDATE` adds the row's
sums to the stored ones. It runs in the recorder's transaction, so the rollup and the ledger
cannot disagree.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol, cast

from sqlalchemy import ColumnElement, Numeric, Table, select, type_coerce
from sqlalchemy.dialects import postgresql, sqlite

from modelreg.db.models import NO_ID, UsageDaily

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["Sums", "UsageLike", "fold_daily", "upsert_daily"]

_TABLE = cast(Table, UsageDaily.__table__)
_KEY = ("day", "user_id", "llm_model_id", "model_name")
# rows per statement: 14 bound parameters a row stays far below both drivers' limits (32,767)
_CHUNK = 1000
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


class UsageLike(Protocol):
    """What a usage event needs for the rollup (a UsageRecord or a usage_events row)."""

    @property
    def user_id(self) -> uuid.UUID | None: ...
    @property
    def llm_model_id(self) -> uuid.UUID | None: ...
    @property
    def model_name(self) -> str: ...
    @property
    def input_tokens(self) -> int: ...
    @property
    def output_tokens(self) -> int: ...
    @property
    def cached_tokens(self) -> int: ...
    @property
    def cost(self) -> Decimal: ...
    @property
    def latency_ms(self) -> float | None: ...
    @property
    def ttft_ms(self) -> float | None: ...
    @property
    def status(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...


@dataclass(slots=True)
class Sums:
    """The summed columns of a usage_daily row (the fold's and the report's accumulator)."""

    requests: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cost: Decimal = Decimal(0)
    latency_ms_sum: float = 0.0
    latency_count: int = 0
    ttft_ms_sum: float = 0.0
    ttft_count: int = 0


def _utc_day(moment: datetime) -> date:
    # naive datetimes in the ledger are UTC (SQLite keeps no offset)
    return moment.astimezone(UTC).date() if moment.tzinfo else moment.date()


def fold_daily(events: Iterable[UsageLike]) -> list[dict[str, Any]]:
    """One rollup row per (UTC day, user, model) of `events`, as column dicts."""
    groups: dict[tuple[date, uuid.UUID, uuid.UUID, str], Sums] = {}
    for e in events:
        key = (_utc_day(e.created_at), e.user_id or NO_ID, e.llm_model_id or NO_ID, e.model_name)
        s = groups.get(key)
        if s is None:
            s = groups[key] = Sums()
        s.requests += 1
        s.errors += e.status == "error"
        s.input_tokens += e.input_tokens
        s.output_tokens += e.output_tokens
        s.cached_tokens += e.cached_tokens
        s.cost += e.cost
        if e.latency_ms is not None:
            s.latency_ms_sum += e.latency_ms
            s.latency_count += 1
        if e.ttft_ms is not None:
            s.ttft_ms_sum += e.ttft_ms
            s.ttft_count += 1
    return [
        dict(zip(_KEY, key, strict=True)) | {name: getattr(s, name) for name in _SUMS}
        for key, s in groups.items()
    ]


async def upsert_daily(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Add `rows` (from fold_daily, unique keys) to usage_daily in the session's transaction.

    PostgreSQL adds in SQL (NUMERIC is exact). SQLite has no decimal type (costs are text
    there, and `+` would make them floats), so the stored rows of the batch's keys are read and
    added in Python first; the caller has already written in this transaction, so it holds
    SQLite's write lock and nobody can change them in between.
    """
    postgres = session.get_bind().dialect.name == "postgresql"
    for start in range(0, len(rows), _CHUNK):
        chunk = rows[start : start + _CHUNK]
        if postgres:
            await _upsert_adding_in_sql(session, chunk)
        else:
            await _upsert_adding_in_python(session, chunk)


def _pg_upsert() -> Any:
    pg = postgresql.insert(_TABLE)
    return pg.on_conflict_do_update(
        index_elements=list(_KEY),
        set_={name: _add(_TABLE.c[name], pg.excluded[name]) for name in _SUMS},
    )


def _add(stored: ColumnElement[Any], batch: ColumnElement[Any]) -> ColumnElement[Any]:
    if stored.name == "cost":  # ExactDecimal's impl is a string type: `+` would render `||`
        return type_coerce(stored, Numeric()) + type_coerce(batch, Numeric())
    return stored + batch


def _sqlite_upsert() -> Any:
    lite = sqlite.insert(_TABLE)
    return lite.on_conflict_do_update(
        index_elements=list(_KEY), set_={name: lite.excluded[name] for name in _SUMS}
    )


# Built once and run as executemany: one compiled form, cached by SQLAlchemy. A multi-row
# VALUES statement was compiled anew for every batch (its shape changes with the row count),
# which held the event loop for 4-7 ms per batch.
_PG_UPSERT = _pg_upsert()
_SQLITE_UPSERT = _sqlite_upsert()


async def _upsert_adding_in_sql(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    await session.execute(_PG_UPSERT, rows)


async def _upsert_adding_in_python(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    await session.execute(_SQLITE_UPSERT, await _add_stored(session, rows))


async def _add_stored(session: AsyncSession, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`rows` with the sums already stored under their keys added."""
    c = _TABLE.c
    stored = await session.execute(
        select(_TABLE).where(
            c.day.in_({r["day"] for r in rows}),
            c.user_id.in_({r["user_id"] for r in rows}),
            c.llm_model_id.in_({r["llm_model_id"] for r in rows}),
        )
    )
    by_key = {tuple(getattr(s, k) for k in _KEY): s for s in stored}
    merged = []
    for row in rows:
        old = by_key.get(tuple(row[k] for k in _KEY))
        if old is not None:
            row = row | {name: row[name] + getattr(old, name) for name in _SUMS}
        merged.append(row)
    return merged
