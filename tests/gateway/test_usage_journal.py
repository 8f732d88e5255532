"""The usage journal with the UsageRecorder on a real database (SQLite and PostgreSQL): a dead
process's journal is replayed once (again: nothing counted twice), a live one is never taken,
committed records leave no file behind, and rows the database refuses are set aside on disk.
The end-to-end SIGKILL and outage tests are in tests/test_usage_durability.py."""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select

from modelreg.actor import SYSTEM, Actor
from modelreg.chat.usage import UsageRecord, UsageRecorder
from modelreg.chat.usage_journal import UsageJournal, decode, encode
from modelreg.db.engine import Database
from modelreg.db.models import UsageDaily, UsageEvent
from modelreg.ids import uuid7
from tests.fixtures.outage import before_each_transaction
from tests.gateway.test_usage_rollup import assert_rollup_matches


def _records(user: Actor, n: int) -> list[UsageRecord]:
    assert isinstance(user.id, uuid.UUID)
    return [
        UsageRecord(
            id=uuid7(), user_id=user.id, llm_model_id=None, model_name=f"m{i % 2}",
            source="openai", input_tokens=i, output_tokens=2 * i,
            cost=Decimal("0.000001") * i, latency_ms=i + 0.5, ttft_ms=None,
        )
        for i in range(n)
    ]  # fmt: skip


async def _ledger(db: Database) -> tuple[list[UsageEvent], list[UsageDaily]]:
    async with db.session(SYSTEM) as session:
        events = list(await session.scalars(select(UsageEvent)))
        rollup = list(await session.scalars(select(UsageDaily)))
    return events, rollup


def _leave_journal(directory: Path, name: str, records: list[UsageRecord]) -> Path:
    """A journal as a killed process leaves it (its lock died with it)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_bytes(b"".join(encode(r) for r in records))
    return path


def test_a_record_round_trips_through_its_journal_line(user_a: Actor) -> None:
    [record] = _records(user_a, 1)
    assert decode(encode(record)) == record


async def test_a_dead_process_journal_is_replayed_once_and_never_counted_twice(
    db: Database, user_a: Actor, tmp_path: Path
) -> None:
    directory = tmp_path / "journal"
    records = _records(user_a, 30)
    _leave_journal(directory, "111-1-1.jsonl", records[:20])
    _leave_journal(directory, "222-1-1.jsonl", records[20:])
    recorder = UsageRecorder(db, journal=UsageJournal(directory), linger=0)
    await recorder.start()
    assert await recorder.recover() == 30
    await recorder.stop()
    assert list(directory.iterdir()) == []  # replayed and committed: the files are gone

    # the kill came after the commit but before the journal was emptied: same file again
    _leave_journal(directory, "111-1-1.jsonl", records[:20])
    again = UsageRecorder(db, journal=UsageJournal(directory), linger=0)
    await again.start()
    assert await again.recover() == 20
    await again.stop()
    events, rollup = await _ledger(db)
    assert sorted(e.id for e in events) == sorted(r.id for r in records)
    assert_rollup_matches(rollup, events)  # the rollup did not count the replay again
    assert sum(r.requests for r in rollup) == 30


async def test_a_live_process_journal_is_not_taken(
    db: Database, user_a: Actor, tmp_path: Path
) -> None:
    directory = tmp_path / "journal"
    live_journal = UsageJournal(directory)
    live = UsageRecorder(db, journal=live_journal)  # not started: its event stays queued
    live_journal.open()
    live.record(user_id=user_a.id, llm_model_id=None, model_name="m", source="chat")
    [path] = directory.iterdir()
    assert path.stat().st_size > 0  # on disk as soon as record() returned

    other = UsageRecorder(db, journal=UsageJournal(directory), linger=0)
    await other.start()
    assert await other.recover() == 0  # locked by its (live) owner
    await other.stop()
    await live.stop()  # writes it itself
    events, _ = await _ledger(db)
    assert len(events) == 1
    assert list(directory.iterdir()) == []


async def test_rows_the_database_refuses_are_set_aside_and_the_rest_written(
    db: Database, user_a: Actor, tmp_path: Path
) -> None:
    directory = tmp_path / "journal"
    recorder = UsageRecorder(
        db, journal=UsageJournal(directory), retries=2, retry_delay=0.01, linger=0.05
    )
    await recorder.start()
    ghost = uuid.uuid4()  # no such user: the foreign key refuses the row
    recorder.record(user_id=user_a.id, llm_model_id=None, model_name="ok-1", source="chat")
    recorder.record(user_id=ghost, llm_model_id=None, model_name="refused", source="chat")
    recorder.record(user_id=user_a.id, llm_model_id=None, model_name="ok-2", source="chat")
    await recorder.stop()
    events, rollup = await _ledger(db)
    assert sorted(e.model_name for e in events) == ["ok-1", "ok-2"]
    assert_rollup_matches(rollup, events)
    assert (recorder.rejected, recorder.lost) == (1, 0)
    [rejected] = directory.iterdir()
    assert rejected.name.startswith("rejected-")
    [line] = rejected.read_bytes().splitlines()
    assert decode(line).user_id == ghost


async def test_events_not_written_by_the_end_of_a_stop_stay_for_the_next_start(
    db: Database, user_a: Actor, tmp_path: Path
) -> None:
    directory = tmp_path / "journal"
    recorder = UsageRecorder(
        db, journal=UsageJournal(directory), retry_delay=0.01, max_retry_delay=0.05,
        stop_timeout=0.3,
    )  # fmt: skip
    await recorder.start()

    async def down() -> None:
        raise ConnectionError("database is down")

    with before_each_transaction(db, down):
        for _ in range(5):
            recorder.record(user_id=user_a.id, llm_model_id=None, model_name="m", source="chat")
        await recorder.stop()  # gives up after stop_timeout; nothing is counted lost
    assert recorder.lost == 0
    async with db.session(SYSTEM) as session:
        assert await session.scalar(select(func.count()).select_from(UsageEvent)) == 0

    following = UsageRecorder(db, journal=UsageJournal(directory), linger=0)
    await following.start()
    assert await following.recover() == 5
    await following.stop()
    events, _ = await _ledger(db)
    assert len(events) == 5
