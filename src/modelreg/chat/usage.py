"""UsageRecorder: the usage ledger written off the request path.

`record()` only appends to a bounded in-memory queue; one background task drains it in batches
(one multi-row INSERT into `usage_events`, one upsert of the daily rollup `usage_daily` and
one UPDATE of `llm_models.last_used_at` per batch, in one transaction; a record waits at most
`linger` seconds for others to join its batch), so a gateway request never waits for the
database. On a database error the batch is retried with backoff; `stop()` flushes everything
still queued. Nothing is dropped silently: when the queue is full or a batch finally fails,
the number of lost events is logged as an error (and counted in `lost`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Dialect, Table, update
from sqlalchemy.ext.asyncio import AsyncSession

from modelreg.actor import SYSTEM
from modelreg.chat.usage_rollup import fold_daily, upsert_daily
from modelreg.db.models import LLMModel, UsageEvent, utcnow
from modelreg.errors import DatabaseUnavailableError
from modelreg.ids import uuid7

if TYPE_CHECKING:
    from modelreg.db.engine import Database

__all__ = ["UsageRecord", "UsageRecorder"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """One upstream call, as it goes into `usage_events`."""

    user_id: uuid.UUID | None
    llm_model_id: uuid.UUID | None
    model_name: str
    source: str  # chat | openai | anthropic | embeddings
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cost: Decimal = Decimal(0)
    latency_ms: float | None = None
    ttft_ms: float | None = None
    status: str = "ok"  # ok | error | incomplete
    estimated: bool = False  # the tokens are an estimate (the usage never came)
    created_at: datetime = field(default_factory=utcnow)


_COLUMNS = tuple(f.name for f in fields(UsageRecord))
_TABLE = cast(Table, UsageEvent.__table__)
_INSERT_COLUMNS = ("id", *_COLUMNS)
# rows per statement. The database works on a chunk in aiosqlite's thread, on the same core as
# the event loop in a one-core deployment: p99 at one connection 4.1-4.9 ms with 200-row
# chunks, 1.8-2.1 ms with 50, 1.2-1.5 ms with 20 (0.4-0.5 ms with no writes at all). But
# each chunk costs a loop iteration, and a saturated loop then writes too slowly: 20-row
# chunks at 5,000 req/s put the back-pressure to work (p99 212 ms at 32 connections). So:
# small chunks for the batches of a light load, large ones for the batches of a heavy one.
_CHUNK = 20
_CHUNK_BEHIND = 200
_BEHIND = 1500  # records in one batch (the writer takes what came during its last write)


_uuids: dict[str, uuid.UUID | None] = {}  # model ids are strings in ModelConfig


def _as_uuid(value: str | uuid.UUID | None) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    if value in _uuids:
        return _uuids[value]
    try:
        parsed: uuid.UUID | None = uuid.UUID(value)
    except ValueError:  # env-sourced models may carry non-UUID ids
        parsed = None
    if len(_uuids) >= 10_000:
        _uuids.clear()
    _uuids[value] = parsed
    return parsed


class UsageRecorder:
    def __init__(
        self,
        db: Database,
        *,
        max_queue: int = 100_000,
        batch_size: int = 2000,
        high_water: int = 10_000,
        retries: int = 5,
        retry_delay: float = 0.2,
        linger: float = 0.1,
    ) -> None:
        self._db = db
        self._queue: asyncio.Queue[UsageRecord] = asyncio.Queue(maxsize=max_queue)
        self._batch_size = batch_size
        self._retries = retries
        self._retry_delay = retry_delay
        self._linger = linger  # seconds a lone record waits for company before it is written
        self._task: asyncio.Task[None] | None = None
        # above `high_water` queued records `room()` makes new requests wait for the writer
        # (until half of it is left): a sustained load beyond what the database takes slows
        # admission down instead of growing the queue until records are lost
        self._high_water = min(high_water, max_queue)
        self._room: asyncio.Future[None] | None = None
        self.written = 0
        self.lost = 0

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="usage-recorder")

    async def stop(self) -> None:
        """Write everything still queued, then end the background task."""
        await self.flush()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        # if the task never ran (or died), write what is left here
        while not self._queue.empty():
            await self._write(self._drain())
        if self._room is not None and not self._room.done():
            self._room.set_result(None)  # nobody waits for a writer that is gone

    async def flush(self) -> None:
        """Wait until every record queued so far is written (or reported lost)."""
        if self._task is None or self._task.done():
            while not self._queue.empty():
                await self._write(self._drain())
            return
        await self._queue.join()

    @property
    def backlog(self) -> int:
        return self._queue.qsize()

    async def room(self) -> None:
        """Wait while the writer is far behind (see `high_water`); at once otherwise."""
        if self._queue.qsize() < self._high_water or self._task is None or self._task.done():
            return
        if self._room is None or self._room.done():
            self._room = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._room)

    def _release_room(self) -> None:
        if self._room is not None and self._queue.qsize() <= self._high_water // 2:
            if not self._room.done():
                self._room.set_result(None)
            self._room = None

    def record(
        self,
        *,
        user_id: str | uuid.UUID | None,
        llm_model_id: str | uuid.UUID | None,
        model_name: str,
        source: str,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cached_tokens: int = 0,
        cost: Decimal = Decimal(0),
        latency_ms: float | None = None,
        ttft_ms: float | None = None,
        status: str = "ok",
        estimated: bool = False,
    ) -> None:
        """Queue one usage event; never blocks and never touches the database."""
        rec = UsageRecord(
            user_id=_as_uuid(user_id),
            llm_model_id=_as_uuid(llm_model_id),
            model_name=model_name[:100],
            source=source,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cached_tokens=cached_tokens,
            cost=cost,
            latency_ms=latency_ms,
            ttft_ms=ttft_ms,
            status=status,
            estimated=estimated,
        )
        try:
            self._queue.put_nowait(rec)
        except asyncio.QueueFull:
            self.lost += 1
            log.error("usage queue full: usage event lost (%d lost so far)", self.lost)

    def _put_back(self, record: UsageRecord) -> None:
        self._queue.task_done()
        try:
            self._queue.put_nowait(record)
        except asyncio.QueueFull:
            self.lost += 1
            log.error("usage queue full: usage event lost (%d lost so far)", self.lost)

    def _drain(self, limit: int | None = None) -> list[UsageRecord]:
        batch: list[UsageRecord] = []
        limit = self._batch_size if limit is None else limit
        while len(batch) < limit:
            try:
                batch.append(self._queue.get_nowait())
            except asyncio.QueueEmpty:
                break
        return batch

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            if self._linger > 0 and self._queue.qsize() + 1 < self._batch_size:
                # let a batch gather: one INSERT per request cost more CPU than the request
                try:
                    await asyncio.sleep(self._linger)
                except asyncio.CancelledError:
                    self._put_back(first)  # stop() writes what is left in the queue
                    raise
            batch = [first, *self._drain(self._batch_size - 1)]
            try:
                await self._write(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()
                self._release_room()

    async def _write(self, batch: list[UsageRecord]) -> None:
        chunk = _CHUNK_BEHIND if len(batch) > _BEHIND else _CHUNK
        if not batch:
            return
        model_ids = {r.llm_model_id for r in batch if r.llm_model_id is not None}
        daily = fold_daily(batch)
        delay = self._retry_delay
        for attempt in range(1, self._retries + 1):
            try:
                async with self._db.session(SYSTEM) as session:
                    await _insert_events(session, batch, chunk)
                    # the daily rollup in the same transaction: it never disagrees with the ledger
                    await upsert_daily(session, daily)
                    if model_ids:
                        await session.execute(
                            update(LLMModel)
                            .where(LLMModel.id.in_(model_ids))
                            .values(last_used_at=max(r.created_at for r in batch))
                            .execution_options(synchronize_session=False)
                        )
                self.written += len(batch)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # an outage is logged by the database in one line: no traceback for it
                trace = not isinstance(exc, DatabaseUnavailableError)
                if attempt == self._retries:
                    self.lost += len(batch)
                    log.error(
                        "usage events could not be written after %d attempts: %d lost",
                        attempt,
                        len(batch),
                        exc_info=trace,
                    )
                    return
                log.warning("usage write failed (attempt %d), retrying", attempt, exc_info=trace)
                await asyncio.sleep(delay)
                delay *= 2


async def _insert_events(
    session: AsyncSession, batch: list[UsageRecord], chunk: int = _CHUNK
) -> None:
    """INSERT the records in chunks of rows converted by the columns' own bind processors
    (SQLAlchemy's executemany did the same conversion with ~25 us of bookkeeping per row, on
    the event loop). On SQLite each chunk is one multi-row statement: an executemany steps
    once per row, and each step gives up the GIL and must win it back from a busy event loop
    (up to the switch interval each time), which let the ledger fall behind under load."""
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
    pairs = list(zip(_INSERT_COLUMNS[1:], processors[1:], strict=True))
    make_id = processors[0]

    def convert(record: UsageRecord) -> tuple[Any, ...]:
        new_id = uuid7()  # time-ordered: appends to the primary key's index
        values = [make_id(new_id) if make_id is not None else new_id]
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
