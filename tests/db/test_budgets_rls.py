"""Row-level security of budgets on PostgreSQL, with raw SQL under the app role: everyone
reads the company-wide budgets and their own user budgets; a user writes only user budgets
they set for themselves; admins and the system context read and write all."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from modelreg.actor import Actor
from tests.db.conftest import act_as

pytestmark = [pytest.mark.postgres, pytest.mark.parametrize("db_url", ["postgres"], indirect=True)]

INSERT = (
    "INSERT INTO budgets (id, scope, user_id, limit_usd, period, created_by, set_by_admin,"
    " alert_level, created_at, updated_at) VALUES ($1, $2, $3, 5, 'month', $4, $5, 0, now(), now())"
)
ROWS = "SELECT id FROM budgets"


async def test_users_see_company_and_own_budgets_and_write_only_their_own(
    admin_actor: Actor, user_a: Actor, user_b: Actor, app_conn: asyncpg.Connection
) -> None:
    company, for_b, a_own = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await act_as(app_conn, admin_actor)
    await app_conn.execute(INSERT, company, "global", None, admin_actor.id, True)
    await app_conn.execute(INSERT, for_b, "user", user_b.id, admin_actor.id, True)

    await act_as(app_conn, user_a)
    await app_conn.execute(INSERT, a_own, "user", user_a.id, user_a.id, False)
    assert {r[0] for r in await app_conn.fetch(ROWS)} == {company, a_own}
    for scope, owner in (("global", None), ("user", user_b.id)):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await app_conn.execute(INSERT, uuid.uuid4(), scope, owner, user_a.id, False)
    # the company's budget: visible, not changeable or removable by a user
    assert await app_conn.execute("UPDATE budgets SET limit_usd = 1e9") == "UPDATE 1"
    assert await app_conn.execute("DELETE FROM budgets WHERE id = $1", company) == "DELETE 0"

    await act_as(app_conn, None)  # no context: nothing
    assert await app_conn.fetch(ROWS) == []

    await act_as(app_conn, admin_actor)
    assert {r[0] for r in await app_conn.fetch(ROWS)} == {company, for_b, a_own}
    assert await app_conn.execute("DELETE FROM budgets WHERE id = $1", for_b) == "DELETE 1"
