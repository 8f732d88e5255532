"""UsageRecorder: the usage ledger written off the request path.

`record()` only appends to a bounded in-memory queue; one background task drains it in batches
(one multi-row INSERT into `usage_events`, one upsert of the daily rollup `usage_daily` and
one UPDATE of `llm_models.last_used_at` per batch, in one transaction; a record waits at most
`linger` seconds for others to join its batch), so a gateway request never waits for the
database. `stop()` flushes everything still queued (for at most `stop_timeout` seconds).

Durability (chat/usage_journal.py): with a journal, `record()` first appends the event to a
local file, so it survives a SIGKILL of the process from the moment `record()` returns; the
file is emptied once the rows are committed, and the journals of dead processes are replayed
by `recover()` at start (and by a sweep every `sweep_interval` seconds). Each event has its id
from `record()` on, so a replay skips rows already stored and the rollup never counts twice.

A database outage never drops events: a batch is retried, with backoff up to
`max_retry_delay`, until the database answers again, while `room()` holds new calls back once
`high_water` events are queued. Only a batch the database refuses while it answers (e.g. a
constraint) is written row by row, and the rows it still refuses are set aside in
`<journal>/rejected-*.jsonl` and logged (or, without a journal, counted in `lost`).

The record type and the fast multi-row INSERT are in chat/usage_rows.py. A `listener`
(modelreg.budgets) hears of each record when it is booked and when its row is committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncSession

from modelreg.actor import SYSTEM
from modelreg.analytics.rollup import upsert_stats
from modelreg.chat.usage_journal import Segment, UsageJournal
from modelreg.chat.usage_rollup import fold_daily, upsert_daily
from modelreg.chat.usage_rows import UsageRecord, insert_events, unstored
from modelreg.db.models import LLMModel
from modelreg.db.sync_session import run_to_completion, sync_session
from modelreg.errors import DatabaseUnavailableError
from modelreg.experiments.context import current as assigned_experiment
from modelreg.ids import uuid7

if TYPE_CHECKING:
    from collections.abc import Sequence

    from modelreg.db.engine import Database
    from modelreg.model_config import UnitPrices

__all__ = ["UsageListener", "UsageRecord", "UsageRecorder"]

log = logging.getLogger(__name__)

_Item = tuple[UsageRecord, Segment | None]  # a queued record and the journal file holding it

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


class UsageListener(Protocol):
    # held from before a commit until `written` is called for its records
    commit_gate: asyncio.Lock

    def booked(self, record: UsageRecord) -> None: ...
    def written(self, records: Sequence[UsageRecord]) -> None: ...


class UsageRecorder:
    def __init__(
        self,
        db: Database,
        *,
        journal: UsageJournal | None = None,
        max_queue: int = 100_000,
        batch_size: int = 2000,
        high_water: int = 10_000,
        retries: int = 5,
        retry_delay: float = 0.2,
        max_retry_delay: float = 5.0,
        linger: float = 0.1,
        stop_timeout: float = 10.0,
        sweep_interval: float = 30.0,
    ) -> None:
        self._db = db
        self._journal = journal
        self._queue: asyncio.Queue[_Item] = asyncio.Queue(maxsize=max_queue)
        self._batch_size = batch_size
        # attempts before asking whether the database answers at all: if it does, the batch
        # itself is refused and is written row by row; if not, it is an outage: wait on
        self._retries = retries
        self._retry_delay = retry_delay
        self._max_retry_delay = max_retry_delay
        self._linger = linger  # seconds a lone record waits for company before it is written
        self._stop_timeout = stop_timeout
        self._sweep_interval = sweep_interval
        self._task: asyncio.Task[None] | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._in_flight = 0
        # above `high_water` queued records `room()` makes new requests wait for the writer
        # (until half of it is left): a sustained load beyond what the database takes slows
        # admission down instead of growing the queue until records are lost
        self._high_water = min(high_water, max_queue)
        self._room: asyncio.Future[None] | None = None
        self.written = 0
        self.lost = 0  # only without a journal: queue full, or not written by the end of stop()
        self.rejected = 0  # refused by a database that answers; kept in rejected-*.jsonl
        self.replayed = 0  # records taken from dead processes' journals
        self.listener: UsageListener | None = None

    async def start(self) -> None:
        if self._journal is not None and self._sweeper is None:
            self._journal.open()
            if self._sweep_interval > 0:
                self._sweeper = asyncio.create_task(self._sweep(), name="usage-journal-sweep")
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="usage-recorder")

    async def recover(self) -> int:
        """Replay the journals that dead processes left into the database, and wait until
        they are written; the number of events replayed."""
        if self._journal is None:
            return 0
        replayed = 0
        while taken := await self._adopt():
            replayed += taken
        await self.flush()
        return replayed

    async def _adopt(self) -> int:
        """Queue the records of dead processes' journals (a few files at a time)."""
        if self._journal is None:
            return 0
        room = self._high_water // 2 - self._queue.qsize()
        if room <= 0:
            return 0
        taken = 0
        for segment, records in self._journal.adopt(room):
            for record in records:
                await self._queue.put((record, segment))
            taken += len(records)
        self.replayed += taken
        return taken

    async def _sweep(self) -> None:
        # in a multi-worker or multi-replica setup another process may die while this one
        # lives on: take its journal over without waiting for a restart
        while True:
            await asyncio.sleep(self._sweep_interval)
            try:
                await self._adopt()
            except Exception:
                log.exception("replaying usage journals failed")

    async def stop(self) -> None:
        """Write everything still queued (for at most `stop_timeout` seconds), then end the
        background tasks. What could not be written stays in the journal for the next start."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        try:
            async with asyncio.timeout(self._stop_timeout):
                await self.flush()
        except TimeoutError:
            left = self._queue.qsize() + self._in_flight
            if self._journal is None:
                self.lost += left
                log.error("usage: %d events not written by the end of the stop: lost", left)
            else:
                log.error(
                    "usage: %d events not written by the end of the stop; they stay in %s "
                    "and are written at the next start",
                    left,
                    self._journal.directory,
                )
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._journal is not None:
            self._journal.close()
        if self._room is not None and not self._room.done():
            self._room.set_result(None)  # nobody waits for a writer that is gone

    async def flush(self) -> None:
        """Wait until every record queued so far is written (or set aside)."""
        if self._task is None or self._task.done():
            while not self._queue.empty():
                batch = self._drain()
                await self._write(batch)
                for _ in batch:
                    self._queue.task_done()
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
        cache_write_tokens: int = 0,
        cost: Decimal = Decimal(0),
        latency_ms: float | None = None,
        ttft_ms: float | None = None,
        status: str = "ok",
        estimated: bool = False,
        prices: UnitPrices | None = None,
        request_id: str | None = None,
    ) -> None:
        """Queue one usage event (journaled first, when there is a journal); never blocks on
        the database. Call it before the response's last bytes are sent: from then on the
        event survives a kill of the process. The A/B experiment arm that chose the model,
        if any, comes from the request's context (modelreg.experiments.context)."""
        experiment = assigned_experiment()
        rec = UsageRecord(
            id=uuid7(),  # time-ordered: appends to the primary key's index
            user_id=_as_uuid(user_id),
            llm_model_id=_as_uuid(llm_model_id),
            model_name=model_name[:100],
            source=source,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cached_tokens=cached_tokens,
            cache_write_tokens=cache_write_tokens,
            cost=cost,
            latency_ms=latency_ms,
            ttft_ms=ttft_ms,
            status=status,
            estimated=estimated,
            experiment_id=experiment.experiment_id if experiment else None,
            experiment_arm_id=experiment.arm_id if experiment else None,
            price_per_input_token=prices.input if prices else None,
            price_per_output_token=prices.output if prices else None,
            price_per_cache_read_token=prices.cache_read if prices else None,
            price_per_cache_write_token=prices.cache_write if prices else None,
            request_id=request_id,
        )
        if self.listener is not None:
            self.listener.booked(rec)
        segment = None
        if self._journal is not None:
            try:
                segment = self._journal.append(rec)
            except OSError:
                log.exception("usage journal write failed: this event is only in memory")
        self._enqueue((rec, segment))

    def _enqueue(self, item: _Item) -> None:
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            segment = item[1]
            if segment is not None and self._journal is not None:
                # on disk already: leave its file for a replay once the queue has room again
                segment.pending -= 1
                self._journal.rotate(keep=True)
                log.warning("usage queue full: event kept in the journal, written later")
                return
            self.lost += 1
            log.error("usage queue full: usage event lost (%d lost so far)", self.lost)

    def _put_back(self, item: _Item) -> None:
        self._queue.task_done()
        self._enqueue(item)

    def _drain(self, limit: int | None = None) -> list[_Item]:
        batch: list[_Item] = []
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
                    self._put_back(first)  # stop() leaves it in the journal
                    raise
            batch = [first, *self._drain(self._batch_size - 1)]
            self._in_flight = len(batch)
            try:
                await self._write(batch)
            finally:
                self._in_flight = 0
                for _ in batch:
                    self._queue.task_done()
                self._release_room()

    async def _write(self, batch: list[_Item]) -> None:
        """Store `batch`, retrying for as long as the database does not answer."""
        if not batch:
            return
        remaining = batch
        replayed = any(segment is not None and segment.replayed for _, segment in batch)
        delay = self._retry_delay
        attempt = 0
        gate = self._gate()
        while remaining:
            attempt += 1
            try:
                async with gate:  # the listener hears of the commit before anyone reads it
                    # after a failed attempt the commit may have happened all the same
                    self.written += await self._store(
                        [r for r, _ in remaining], replayed or attempt > 1
                    )
                    self._committed(batch)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if attempt >= self._retries and await self._database_answers():
                    async with gate:
                        refused = await self._store_each(remaining)
                        if not refused or await self._database_answers():
                            self._set_aside([r for r, _ in refused])
                            self._committed(batch)
                            return
                    remaining = refused  # the database went away meanwhile: wait for it
                if attempt == 1 or attempt % 10 == 0:
                    log.warning(
                        "usage write failed (attempt %d, %d events waiting); retrying until "
                        "the database answers",
                        attempt,
                        len(remaining) + self._queue.qsize(),
                        # an outage is logged by the database in one line: no traceback
                        exc_info=not isinstance(exc, DatabaseUnavailableError),
                    )
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._max_retry_delay)

    def _gate(self) -> contextlib.AbstractAsyncContextManager[object]:
        if self.listener is None:
            return contextlib.nullcontext()
        return self.listener.commit_gate

    def _committed(self, batch: list[_Item]) -> None:
        if self._journal is not None:
            self._journal.committed(segment for _, segment in batch)
        if self.listener is not None:
            self.listener.written([record for record, _ in batch])

    async def _store(self, records: list[UsageRecord], dedupe: bool) -> int:
        """INSERT the records, the rollup and last_used_at in one transaction; with `dedupe`
        the records whose ids are stored already are left out (of the rollup too). On SQLite
        the transaction runs on the writer thread, in one hop (db/sync_session.py)."""
        if self._db.runs_sync:
            return await self._db.run_sync(
                lambda conn: run_to_completion(_store_in(sync_session(conn), records, dedupe)),
                write=True,
            )
        async with self._db.session(SYSTEM) as session:
            return await _store_in(session, records, dedupe)

    async def _store_each(self, items: list[_Item]) -> list[_Item]:
        """Store the items one by one; those the database refuses."""
        refused = []
        for item in items:
            try:
                self.written += await self._store([item[0]], True)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("usage event %s refused by the database", item[0].id, exc_info=True)
                refused.append(item)
        return refused

    async def _database_answers(self) -> bool:
        try:
            async with self._db.session(SYSTEM) as session:
                await session.execute(text("SELECT 1"))
        except asyncio.CancelledError:
            raise
        except Exception:
            return False
        return True

    def _set_aside(self, records: list[UsageRecord]) -> None:
        if not records:
            return
        if self._journal is not None:
            try:
                path = self._journal.reject(records)
            except OSError:
                log.exception("could not keep %d refused usage events", len(records))
            else:
                self.rejected += len(records)
                log.error(
                    "%d usage events refused by the database; kept in %s (see docs/operations.md)",
                    len(records),
                    path,
                )
                return
        self.lost += len(records)
        log.error("%d usage events refused by the database: lost", len(records))


async def _store_in(session: AsyncSession, records: list[UsageRecord], dedupe: bool) -> int:
    if dedupe:
        records = await unstored(session, records)
    if not records:
        return 0
    await insert_events(session, records)
    # the daily rollup in the same transaction: it never disagrees with the ledger
    await upsert_daily(session, fold_daily(records))
    await upsert_stats(session, records)  # the analytics rollup, likewise
    model_ids = {r.llm_model_id for r in records if r.llm_model_id is not None}
    if model_ids:
        await session.execute(
            update(LLMModel)
            .where(LLMModel.id.in_(model_ids))
            .values(last_used_at=max(r.created_at for r in records))
            .execution_options(synchronize_session=False)
        )
    return len(records)
