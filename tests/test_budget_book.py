"""The budget book's count of this process's own spend, on real SQLite and PostgreSQL: a
record counts once whether a refresh reads the rollup before its row is committed, after, or
in the moment between the commit and the recorder telling the book about it."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

import pytest

from modelreg.actor import SYSTEM, Actor
from modelreg.budgets.book import BudgetBook
from modelreg.chat.usage import UsageRecorder
from modelreg.db.engine import Database
from modelreg.db.models import Budget

COST = Decimal("0.0035")


async def a_user_budget(db: Database, user: Actor) -> None:
    async with db.session(SYSTEM) as session:
        session.add(Budget(scope="user", user_id=uuid.UUID(str(user.id)), limit_usd=Decimal(1)))


def spend(recorder: UsageRecorder, user: Actor) -> None:
    recorder.record(user_id=user.id, llm_model_id=None, model_name="m", source="openai", cost=COST)


async def test_a_refresh_between_a_commit_and_its_notice_counts_the_spend_once(
    db: Database, user_a: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    await a_user_budget(db, user_a)
    book = BudgetBook(db, interval=3600)  # refreshed by hand only
    await book.refresh()
    recorder = UsageRecorder(db, linger=0)
    recorder.listener = book
    refreshes: list[asyncio.Task[None]] = []
    store = recorder._store  # the seam: the moment after the commit, before the notice

    async def store_then_let_a_refresh_run(*args: Any) -> int:
        stored = await store(*args)
        refreshes.append(asyncio.create_task(book.refresh()))
        await asyncio.sleep(0.2)  # the refresh reads the rollup now, unless it must wait
        return stored

    monkeypatch.setattr(recorder, "_store", store_then_let_a_refresh_run)
    await recorder.start()
    try:
        spend(recorder, user_a)
        await recorder.flush()
        await asyncio.gather(*refreshes)
        key = ("user", uuid.UUID(str(user_a.id)))
        assert book.spent(key) == COST  # counted twice: stored by the refresh and local
        await book.refresh()  # and after a later refresh, still once
        assert book.spent(key) == COST
        spend(recorder, user_a)  # a record the refresh did not see is still counted
        assert book.spent(key) == 2 * COST
    finally:
        await recorder.stop()
