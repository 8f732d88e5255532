"""The usage_daily rollup on real SQLite and PostgreSQL: kept by the UsageRecorder across many
batches equal to the ledger, and backfilled from an existing ledger by migration 0003."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, column, insert, select, table
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.sql.expression import TableClause

from modelreg.actor import SYSTEM, Actor
from modelreg.chat.usage import UsageRecorder
from modelreg.db.engine import Database
from modelreg.db.migrate import upgrade_database
from modelreg.db.models import NO_ID, LLMModel, UsageDaily, UsageEvent, User
from modelreg.registry.schemas import ModelCreate
from modelreg.registry.service import ModelManagerService

SUMS = ("requests", "errors", "input_tokens", "output_tokens", "cached_tokens", "cost")


def expected_rollup(events: list[Any]) -> dict[tuple[Any, ...], dict[str, Any]]:
    """The rollup computed the plain way, independently of the code under test."""
    out: dict[tuple[Any, ...], dict[str, Any]] = defaultdict(
        lambda: dict.fromkeys(SUMS, 0) | {"cost": Decimal(0), "latency": [], "ttft": []}
    )
    for e in events:
        day = e.created_at.astimezone(UTC).date()
        row = out[(day, e.user_id or NO_ID, e.llm_model_id or NO_ID, e.model_name)]
        row["requests"] += 1
        row["errors"] += 1 if e.status == "error" else 0
        row["input_tokens"] += e.input_tokens
        row["output_tokens"] += e.output_tokens
        row["cached_tokens"] += e.cached_tokens
        row["cost"] += e.cost
        if e.latency_ms is not None:
            row["latency"].append(e.latency_ms)
        if e.ttft_ms is not None:
            row["ttft"].append(e.ttft_ms)
    return out


def assert_rollup_matches(rollup: list[Any], events: list[Any]) -> None:
    expected = expected_rollup(events)
    got = {(r.day, r.user_id, r.llm_model_id, r.model_name): r for r in rollup}
    assert set(got) == set(expected)
    for key, want in expected.items():
        row = got[key]
        assert {name: getattr(row, name) for name in SUMS} == {n: want[n] for n in SUMS}, key
        assert isinstance(row.cost, Decimal)
        assert row.latency_count == len(want["latency"])
        assert abs(row.latency_ms_sum - sum(want["latency"])) < 1e-6
        assert row.ttft_count == len(want["ttft"])
        assert abs(row.ttft_ms_sum - sum(want["ttft"])) < 1e-6


async def read_all(db: Database) -> tuple[list[Any], list[Any]]:
    async with db.session(SYSTEM) as session:
        events = list(await session.scalars(select(UsageEvent)))
        rollup = list(await session.scalars(select(UsageDaily)))
    return events, rollup


async def test_the_recorder_keeps_the_rollup_equal_to_the_ledger_across_batches(
    db: Database, registry: ModelManagerService, user_a: Actor, user_b: Actor
) -> None:
    created = await registry.create_model(
        user_a,
        ModelCreate(
            name="alpha", provider="openai", base_url="http://127.0.0.1:9/v1", model_id="m"
        ),
    )
    model = created.id
    recorder = UsageRecorder(db, batch_size=7, linger=0)
    await recorder.start()
    for i in range(60):
        recorder.record(
            user_id=[user_a.id, user_b.id, None][i % 3],
            llm_model_id=[model, None][i % 2],
            model_name=["alpha", "beta"][i % 2],
            source="openai",
            input_tokens=i,
            output_tokens=2 * i,
            cached_tokens=i % 4,
            cost=Decimal("0.0000001") * (i + 1) + Decimal("1E-15"),
            latency_ms=None if i % 5 == 0 else 10.5 * i,
            ttft_ms=3.25 * i if i % 2 else None,
            status="error" if i % 7 == 0 else "ok",
        )
        if i % 13 == 0:
            await recorder.flush()  # later batches then update rows earlier ones created
    await recorder.stop()

    events, rollup = await read_all(db)
    assert len(events) == 60
    assert len(rollup) == 6  # 3 users (one none) x 2 models, all today
    assert_rollup_matches(rollup, events)
    assert sum((r.cost for r in rollup), Decimal(0)) == sum((e.cost for e in events), Decimal(0))


def _at_revision(orm: Any, *names: str) -> TableClause:
    """`orm`'s table with only the named columns (with their types), as an older revision
    had it."""
    full = cast(Table, orm.__table__)
    return table(full.name, *(column(n, full.c[n].type) for n in names))


async def test_the_migration_backfills_the_rollup_from_the_ledger(empty_db_url: str) -> None:
    await upgrade_database(empty_db_url, "0002")
    user, model = uuid.uuid4(), uuid.uuid4()
    midnight = datetime(2026, 3, 1, tzinfo=UTC)
    moments = [
        midnight - timedelta(microseconds=1),  # the last instant of Feb 28
        midnight,
        midnight + timedelta(hours=23, minutes=59),
        datetime(2026, 3, 1, 22, 30, tzinfo=UTC).astimezone(),  # an offset, same UTC day
        midnight + timedelta(days=10),
    ]
    rows = [
        {
            "id": uuid.uuid4(),
            "user_id": None if i == 3 else user,
            "llm_model_id": None if i == 4 else model,
            "model_name": "m",
            "source": "chat",
            "input_tokens": 100 + i,
            "output_tokens": 7 * i,
            "cached_tokens": i,
            "cost": Decimal("0.000000000000001") * i + Decimal("0.1"),
            "latency_ms": None if i == 2 else 100.0 + i,
            "ttft_ms": 5.0 if i % 2 else None,
            "status": "error" if i == 1 else "ok",
            "created_at": moment,
        }
        for i, moment in enumerate(moments * 3)
    ]
    # the ledger as an existing installation has it
    engine = create_async_engine(empty_db_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                insert(cast(Table, User.__table__)), {"id": user, "username": "someone"}
            )
            # the model as revision 0002 had it: later revisions add columns (kind, ...)
            now = datetime.now(UTC)
            model_row: dict[str, Any] = {
                "id": model,
                "name": "m",
                "description": "",
                "provider": "openai",
                "base_url": "http://127.0.0.1:9/v1",
                "model_id": "m",
                "auth_type": "bearer",
                "supports_streaming": True,
                "supports_functions": True,
                "supports_vision": False,
                "price_per_input_token": Decimal(0),
                "price_per_output_token": Decimal(0),
                "enabled": True,
                "is_global": True,
                "fallback_model_ids": [],
                "options": {},
                "created_at": now,
                "updated_at": now,
            }
            await conn.execute(insert(_at_revision(LLMModel, *model_row)), model_row)
            # the ledger's columns of that revision only: later ones add their own
            await conn.execute(insert(_at_revision(UsageEvent, *rows[0])), rows)
        await upgrade_database(empty_db_url)
        async with engine.connect() as conn:
            events = list(await conn.execute(select(UsageEvent.__table__)))
            rollup = list(await conn.execute(select(UsageDaily.__table__)))
    finally:
        await engine.dispose()
    assert len(events) == 15
    assert_rollup_matches(rollup, events)
    assert {r.day for r in rollup} == {date(2026, 2, 28), date(2026, 3, 1), date(2026, 3, 11)}
