"""Row-level security of arena_votes on PostgreSQL, with raw SQL under the app role: a user
sees, adds and votes on their own battles only; admins read all; no context sees nothing."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from modelreg.actor import Actor
from tests.db.conftest import act_as

pytestmark = [pytest.mark.postgres, pytest.mark.parametrize("db_url", ["postgres"], indirect=True)]

_INSERT = (
    "INSERT INTO arena_votes (id, user_id, model_a_name, model_b_name, company, created_at)"
    " VALUES ($1, $2, 'x', 'y', true, now())"
)


async def test_only_the_owner_reads_and_votes_admins_read_all(
    admin_actor: Actor, user_a: Actor, user_b: Actor, app_conn: asyncpg.Connection
) -> None:
    a_battle, b_battle = uuid.uuid4(), uuid.uuid4()
    await act_as(app_conn, user_a)
    await app_conn.execute(_INSERT, a_battle, user_a.id)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):  # not in someone else's name
        await app_conn.execute(_INSERT, uuid.uuid4(), user_b.id)
    await act_as(app_conn, user_b)
    await app_conn.execute(_INSERT, b_battle, user_b.id)

    rows = "SELECT id FROM arena_votes ORDER BY id"
    assert [r["id"] for r in await app_conn.fetch(rows)] == [b_battle]
    # B can neither vote on nor remove A's battle
    vote = "UPDATE arena_votes SET vote = 'a' WHERE id = $1"
    assert await app_conn.execute(vote, a_battle) == "UPDATE 0"
    assert await app_conn.execute("DELETE FROM arena_votes WHERE id = $1", a_battle) == "DELETE 0"
    assert await app_conn.execute(vote, b_battle) == "UPDATE 1"

    await act_as(app_conn, None)
    assert await app_conn.fetch(rows) == []

    await act_as(app_conn, admin_actor)
    assert {r["id"] for r in await app_conn.fetch(rows)} == {a_battle, b_battle}
    assert await app_conn.execute(vote, a_battle) == "UPDATE 0"  # admins read, never vote
