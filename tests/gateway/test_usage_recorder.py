"""UsageRecorder on a real database (SQLite and PostgreSQL): batched, flushed on stop,
retried on database errors, and never losing rows silently."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from modelreg.actor import SYSTEM, Actor
from modelreg.chat.usage import UsageRecorder
from modelreg.db.engine import Database
from modelreg.db.models import UsageEvent
from tests.fixtures.outage import before_each_transaction


async def count(db: Database) -> int:
    async with db.session(SYSTEM) as session:
        return int(await session.scalar(select(func.count()).select_from(UsageEvent)) or 0)


async def test_records_are_written_in_the_background_and_flushed_on_stop(
    db: Database, user_a: Actor
) -> None:
    recorder = UsageRecorder(db, batch_size=7)
    await recorder.start()
    for i in range(20):
        recorder.record(
            user_id=user_a.id,
            llm_model_id=None,
            model_name="m",
            source="openai",
            input_tokens=i,
            output_tokens=1,
            cost=Decimal("0.000001") * i,
        )
    await recorder.stop()
    assert await count(db) == 20
    assert recorder.written == 20
    async with db.session(SYSTEM) as session:
        total = sum((e.cost for e in await session.scalars(select(UsageEvent))), Decimal(0))
    assert total == Decimal("0.000190")


async def test_a_failing_write_is_retried_until_the_database_answers(
    db: Database, user_a: Actor
) -> None:
    recorder = UsageRecorder(db, retries=3, retry_delay=0.01, max_retry_delay=0.02)
    await recorder.start()
    failures = {"left": 2}

    async def flaky() -> None:
        if failures["left"] > 0:
            failures["left"] -= 1
            raise ConnectionError("database is down")

    try:
        with before_each_transaction(db, flaky):
            recorder.record(user_id=user_a.id, llm_model_id=None, model_name="m", source="chat")
            await recorder.flush()
            assert recorder.written == 1  # third attempt succeeded

            # an outage far longer than the retries: the event waits for the database, and
            # the probe ("does the database answer?") tells the outage from a refused batch
            failures["left"] = 30
            recorder.record(user_id=user_a.id, llm_model_id=None, model_name="m", source="chat")
            await asyncio.wait_for(recorder.flush(), 10)
    finally:
        await recorder.stop()
    assert failures["left"] == 0
    assert recorder.lost == 0
    assert recorder.written == 2
    assert await count(db) == 2


async def test_full_queue_counts_and_logs_the_loss(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = UsageRecorder(db, max_queue=2)  # not started: nothing drains the queue
    with caplog.at_level(logging.ERROR, logger="modelreg.chat.usage"):
        for _ in range(3):
            recorder.record(user_id=None, llm_model_id=None, model_name="m", source="chat")
    assert recorder.lost == 1
    assert "lost" in caplog.text
    await recorder.stop()  # flushes the two queued ones even without the task
    assert await count(db) == 2


async def test_a_batch_larger_than_one_insert_chunk_round_trips_every_field(
    db: Database, user_a: Actor
) -> None:
    recorder = UsageRecorder(db, batch_size=500, linger=0)
    for i in range(150):  # several executemany chunks in one transaction
        recorder.record(
            user_id=user_a.id if i % 2 else None,
            llm_model_id=None,
            model_name=f"m{i % 3}",
            source="anthropic" if i % 5 == 0 else "openai",
            input_tokens=i,
            output_tokens=2 * i,
            cached_tokens=i % 4,
            cost=Decimal("0.000000123") * i,
            latency_ms=i + 0.25,
            ttft_ms=None if i % 3 else i / 8,
            status="error" if i % 7 == 0 else "ok",
        )
    # what was recorded: (record, journal segment) pairs
    queued = [item[0] for item in recorder._queue._queue]  # type: ignore[attr-defined]
    await recorder.stop()
    assert recorder.written == 150
    async with db.session(SYSTEM) as session:
        rows = list(await session.scalars(select(UsageEvent)))
    assert {r.id for r in rows} == {q.id for q in queued}  # the ids given at record()
    stored = sorted(
        (r.input_tokens, r.output_tokens, r.cached_tokens, r.cost, r.latency_ms, r.ttft_ms,
         r.status, r.source, r.model_name, r.user_id, r.created_at.replace(tzinfo=None))
        for r in rows
    )  # fmt: skip
    expected = sorted(
        (q.input_tokens, q.output_tokens, q.cached_tokens, q.cost, q.latency_ms, q.ttft_ms,
         q.status, q.source, q.model_name, q.user_id, q.created_at.replace(tzinfo=None))
        for q in queued
    )  # fmt: skip
    assert stored == expected


async def test_new_calls_wait_while_the_ledger_is_far_behind_and_none_is_lost(
    db: Database, user_a: Actor
) -> None:
    recorder = UsageRecorder(db, batch_size=4, high_water=8, linger=0)
    await recorder.start()
    gate = asyncio.Event()

    async def slow_database() -> None:
        await gate.wait()  # the database is slow until the gate opens

    try:
        with before_each_transaction(db, slow_database):
            for _ in range(16):
                recorder.record(user_id=user_a.id, llm_model_id=None, model_name="m", source="chat")
            await asyncio.sleep(0.05)
            assert recorder.backlog == 12  # one batch of 4 is stuck at the database
            waiting = asyncio.create_task(recorder.room())
            await asyncio.sleep(0.05)
            assert not waiting.done()  # held back while the writer is behind
            gate.set()
            await asyncio.wait_for(waiting, 5)  # let through once half the backlog is written
            assert recorder.backlog <= 4
            await asyncio.wait_for(recorder.room(), 1)  # below the mark: at once
    finally:
        gate.set()  # a failed assertion must not leave stop() waiting for the database
        await recorder.stop()
    assert recorder.lost == 0
    assert await count(db) == 16
