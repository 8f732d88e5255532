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
from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, cast

from sqlalchemy import Table, insert, update

from modelreg.actor import SYSTEM
from modelreg.chat.usage_rollup import fold_daily, upsert_daily
from modelreg.db.models import LLMModel, UsageEvent, utcnow

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
    created_at: datetime = field(default_factory=utcnow)


_COLUMNS = tuple(f.name for f in fields(UsageRecord))
# a Core INSERT of the table (one executemany per batch, its compiled form cached), not the
# ORM's bulk path, whose per-batch bookkeeping was ~6 % of a gateway request's CPU
_INSERT = insert(cast(Table, UsageEvent.__table__))


def _as_uuid(value: str | uuid.UUID | None) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(value)
    except ValueError:  # env-sourced models may carry non-UUID ids
        return None


class UsageRecorder:
    def __init__(
        self,
        db: Database,
        *,
        max_queue: int = 100_000,
        batch_size: int = 500,
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

    async def flush(self) -> None:
        """Wait until every record queued so far is written (or reported lost)."""
        if self._task is None or self._task.done():
            while not self._queue.empty():
                await self._write(self._drain())
            return
        await self._queue.join()

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

    def _drain(self) -> list[UsageRecord]:
        batch: list[UsageRecord] = []
        while len(batch) < self._batch_size:
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
            batch = [first, *self._drain()]
            try:
                await self._write(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _write(self, batch: list[UsageRecord]) -> None:
        if not batch:
            return
        # a shallow copy per row: dataclasses.asdict deep-copies every Decimal and datetime
        rows = [{name: getattr(r, name) for name in _COLUMNS} for r in batch]
        model_ids = {r.llm_model_id for r in batch if r.llm_model_id is not None}
        daily = fold_daily(batch)
        delay = self._retry_delay
        for attempt in range(1, self._retries + 1):
            try:
                async with self._db.session(SYSTEM) as session:
                    await session.execute(_INSERT, rows)
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
            except Exception:
                if attempt == self._retries:
                    self.lost += len(batch)
                    log.exception(
                        "usage events could not be written after %d attempts: %d lost",
                        attempt,
                        len(batch),
                    )
                    return
                log.warning("usage write failed (attempt %d), retrying", attempt, exc_info=True)
                await asyncio.sleep(delay)
                delay *= 2
