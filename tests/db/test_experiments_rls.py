"""Row-level security of experiments on PostgreSQL (migration 0009), with raw SQL under the
app role: a user reads company experiments and their own, writes only their own; admins read
all (a company model's name must not clash with anyone's experiment) and write company ones."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from modelreg.actor import SYSTEM, Actor
from tests.db.conftest import act_as

pytestmark = [pytest.mark.postgres, pytest.mark.parametrize("db_url", ["postgres"], indirect=True)]

INSERT = (
    "INSERT INTO experiments (id, user_id, name, description, status, arms, created_at,"
    " updated_at) VALUES ($1, $2, $3, '', 'draft', '[]', now(), now())"
)


async def _insert(conn: asyncpg.Connection, owner: uuid.UUID | None) -> uuid.UUID:
    made = uuid.uuid4()
    await conn.execute(INSERT, made, owner, f"exp-{made.hex[:8]}")
    return made


async def test_users_see_their_own_and_the_company_experiments(
    admin_actor: Actor, user_a: Actor, user_b: Actor, app_conn: asyncpg.Connection
) -> None:
    await act_as(app_conn, SYSTEM)
    a = await _insert(app_conn, user_a.id)
    b = await _insert(app_conn, user_b.id)
    company = await _insert(app_conn, None)
    seen = "SELECT id FROM experiments WHERE id = ANY($1::uuid[])"
    ids = [a, b, company]

    await act_as(app_conn, user_a)
    assert {r[0] for r in await app_conn.fetch(seen, ids)} == {a, company}
    assert await app_conn.execute("UPDATE experiments SET status = 'running' WHERE id = $1", b) == (
        "UPDATE 0"
    )
    assert (
        await app_conn.execute("UPDATE experiments SET status = 'running' WHERE id = $1", company)
        == "UPDATE 0"
    )
    for owner in (user_b.id, None):  # not in someone else's name, nor the company's
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await _insert(app_conn, owner)
    await _insert(app_conn, user_a.id)

    await act_as(app_conn, admin_actor)
    assert {r[0] for r in await app_conn.fetch(seen, ids)} == {a, b, company}
    await _insert(app_conn, None)
    assert await app_conn.execute("DELETE FROM experiments WHERE id = $1", b) == "DELETE 0"
