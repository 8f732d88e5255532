"""The rows of the usage ledger: `UsageRecord` (one upstream call) and how a batch of them is
written into `usage_events` fast (chat/usage.py decides when; this module, how)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any, cast

from sqlalchemy import Dialect, Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from modelreg.db.models import UsageEvent, utcnow

__all__ = ["UsageRecord", "insert_events", "unstored"]


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """One upstream call, as it goes into `usage_events`."""

    id: uuid.UUID  # UUIDv7, assigned by `record()`: the key that makes a replay idempotent
    user_id: uuid.UUID | None
    llm_model_id: uuid.UUID | None
    model_name: str
    source: str  # chat | openai | anthropic | embeddings
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0  # cache reads
    cache_write_tokens: int = 0
    cost: Decimal = Decimal(0)
    latency_ms: float | None = None
    ttft_ms: float | None = None
    status: str = "ok"  # ok | error | incomplete
    estimated: bool = False  # the tokens are an estimate (the usage never came)
    # the unit prices (per token) the cost was computed with; None: not known
    price_per_input_token: Decimal | None = None
    price_per_output_token: Decimal | None = None
    price_per_cache_read_token: Decimal | None = None
    price_per_cache_write_token: Decimal | None = None
    created_at: datetime = field(default_factory=utcnow)
    experiment_id: uuid.UUID | None = None  # the A/B experiment that chose the model
    experiment_arm_id: uuid.UUID | None = None
    request_id: str | None = None  # the gateway's response id (None for chat turns)


_INSERT_COLUMNS = tuple(f.name for f in fields(UsageRecord))
_TABLE = cast(Table, UsageEvent.__table__)
# rows per statement. The database works on a chunk in aiosqlite's thread, on the same core as
# the event loop in a one-core deployment: p99 at one connection 4.1-4.9 ms with 200-row
# chunks, 1.8-2.1 ms with 50, 1.2-1.5 ms with 20 (0.4-0.5 ms with no writes at all). But
# each chunk costs a loop iteration, and a saturated loop then writes too slowly: 20-row
# chunks at 5,000 req/s put the back-pressure to work (p99 212 ms at 32 connections). So:
# small chunks for the batches of a light load, large ones for the batches of a heavy one.
_CHUNK = 20
_CHUNK_BEHIND = 200
_BEHIND = 1500  # records in one batch (the writer takes what came during its last write)


async def unstored(session: AsyncSession, records: list[UsageRecord]) -> list[UsageRecord]:
    """`records` less those already in usage_events (a replay, or a retry whose commit went
    through although its answer did not come back)."""
    stored: set[uuid.UUID] = set()
    for start in range(0, len(records), 500):
        ids = [r.id for r in records[start : start + 500]]
        found = await session.execute(select(UsageEvent.id).where(UsageEvent.id.in_(ids)))
        stored.update(found.scalars())
    return [r for r in records if r.id not in stored]


async def insert_events(session: AsyncSession, batch: list[UsageRecord]) -> None:
    """INSERT the records in chunks of rows converted by the columns' own bind processors
    (SQLAlchemy's executemany did the same conversion with ~25 us of bookkeeping per row, on
    the event loop). On SQLite each chunk is one multi-row statement: an executemany steps
    once per row, and each step gives up the GIL and must win it back from a busy event loop
    (up to the switch interval each time), which let the ledger fall behind under load."""
    chunk = _CHUNK_BEHIND if len(batch) > _BEHIND else _CHUNK
    conn = await session.connection()
    plan = _insert_plan(conn.dialect)
    for start in range(0, len(batch), chunk):
        rows = [plan.convert(record) for record in batch[start : start + chunk]]
        if plan.multirow is None:
            await conn.exec_driver_sql(plan.statement, rows)
        else:
            statement = plan.multirow(len(rows))
            await conn.exec_driver_sql(statement, tuple(v for row in rows for v in row))


@dataclass(frozen=True, slots=True)
class _InsertPlan:
    statement: str  # one row, for executemany
    convert: Callable[[UsageRecord], tuple[Any, ...]]  # record -> row of driver values
    multirow: Callable[[int], str] | None  # n -> an INSERT of n rows (SQLite only)


_plans: dict[str, _InsertPlan] = {}


def _insert_plan(dialect: Dialect) -> _InsertPlan:
    """The INSERT in the driver's parameter style, and record -> row of driver values."""
    plan = _plans.get(dialect.name)
    if plan is not None:
        return plan
    preparer = dialect.identifier_preparer
    names = ", ".join(preparer.quote(name) for name in _INSERT_COLUMNS)
    width = len(_INSERT_COLUMNS)
    style = dialect.paramstyle
    if style == "qmark":
        marks = ["?"] * width
    elif style == "numeric_dollar":
        marks = [f"${i}" for i in range(1, width + 1)]
    else:  # aiosqlite is qmark, asyncpg numeric_dollar; nothing else is supported
        raise RuntimeError(f"unsupported DB-API parameter style {style!r}")
    table = preparer.format_table(_TABLE)
    # identifiers from our own table definition, quoted by the dialect; values are bound
    head = f"INSERT INTO {table} ({names}) VALUES "  # noqa: S608
    one_row = f"({', '.join(marks)})"
    processors = [
        _TABLE.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        for name in _INSERT_COLUMNS
    ]
    pairs = list(zip(_INSERT_COLUMNS, processors, strict=True))

    def convert(record: UsageRecord) -> tuple[Any, ...]:
        values = []
        for name, process in pairs:
            value = getattr(record, name)
            values.append(process(value) if process is not None and value is not None else value)
        return tuple(values)

    multirow = None
    if dialect.name == "sqlite" and style == "qmark":

        @cache
        def multirow(n: int) -> str:
            return head + ", ".join([one_row] * n)

    _plans[dialect.name] = plan = _InsertPlan(head + one_row, convert, multirow)
    return plan
