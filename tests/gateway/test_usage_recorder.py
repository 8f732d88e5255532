"""UsageRecorder on a real database (SQLite and PostgreSQL): batched, flushed on stop,
retried on database errors, and never losing rows silently."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from modelreg.actor import SYSTEM, Actor
from modelreg.chat.usage import UsageRecorder
from modelreg.db.engine import Database
from modelreg.db.models import UsageEvent


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


async def test_a_failing_write_is_retried_then_reported(
    db: Database, user_a: Actor, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = UsageRecorder(db, retries=3, retry_delay=0.01)
    await recorder.start()
    real_session = db.session
    failures = {"left": 2}

    def flaky(actor: Actor):  # type: ignore[no-untyped-def]
        if failures["left"] > 0:
            failures["left"] -= 1
            raise ConnectionError("database is down")
        return real_session(actor)

    db.session = flaky  # type: ignore[method-assign]
    try:
        recorder.record(user_id=user_a.id, llm_model_id=None, model_name="m", source="chat")
        await recorder.flush()
        assert recorder.written == 1  # third attempt succeeded

        failures["left"] = 10  # more failures than retries
        with caplog.at_level(logging.ERROR, logger="modelreg.chat.usage"):
            recorder.record(user_id=user_a.id, llm_model_id=None, model_name="m", source="chat")
            await recorder.flush()
    finally:
        db.session = real_session  # type: ignore[method-assign]
        await recorder.stop()
    assert recorder.lost == 1
    assert "1 lost" in caplog.text
    assert await count(db) == 1


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
