"""Row-level security of the usage_daily rollup on PostgreSQL, with raw SQL under the app role:
the owner reads their rows, admins read all, only the system context (the recorder) writes."""

from __future__ import annotations

import uuid
from decimal import Decimal

import asyncpg
import pytest

from modelreg.actor import Actor
from modelreg.chat.usage import UsageRecorder
from modelreg.db.engine import Database
from tests.db.conftest import act_as

pytestmark = [pytest.mark.postgres, pytest.mark.parametrize("db_url", ["postgres"], indirect=True)]


async def _seed(db: Database, *owners: Actor) -> None:
    recorder = UsageRecorder(db, linger=0)
    await recorder.start()
    for n, owner in enumerate(owners, start=1):
        for _ in range(n):
            recorder.record(
                user_id=owner.id,
                llm_model_id=None,
                model_name="m",
                source="chat",
                input_tokens=10,
                cost=Decimal("0.25"),
            )
    await recorder.stop()


async def test_owner_reads_own_rows_admin_all_and_only_system_writes(
    db: Database, admin_actor: Actor, user_a: Actor, user_b: Actor, app_conn: asyncpg.Connection
) -> None:
    await _seed(db, user_a, user_b)
    rows = "SELECT user_id, requests FROM usage_daily"

    await act_as(app_conn, user_a)
    assert await app_conn.fetch(rows) == [(user_a.id, 1)]
    # a user cannot inflate, rewrite or remove rollup rows, their own included
    assert await app_conn.execute("UPDATE usage_daily SET requests = 0") == "UPDATE 0"
    assert await app_conn.execute("DELETE FROM usage_daily") == "DELETE 0"
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await app_conn.execute(
            "INSERT INTO usage_daily"
            " VALUES (current_date, $1, $2, 'x', 1, 0, 0, 0, 0, 0, 0, 0, 0, 0)",
            user_a.id,
            uuid.UUID(int=0),
        )

    await act_as(app_conn, None)  # no context: nothing
    assert await app_conn.fetch(rows) == []

    await act_as(app_conn, admin_actor)
    assert sorted(await app_conn.fetch(rows), key=lambda r: r[1]) == [
        (user_a.id, 1),
        (user_b.id, 2),
    ]
    assert await app_conn.execute("DELETE FROM usage_daily") == "DELETE 0"  # read-only for admins
