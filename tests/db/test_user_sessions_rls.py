"""Row-level security of user_sessions on PostgreSQL, with raw SQL under the app role: a user
sees and ends only their own sessions, admins and the system context all of them."""

from __future__ import annotations

import asyncpg
import pytest

from modelreg.accounts import AccountService
from modelreg.actor import Actor
from tests.db.conftest import act_as

pytestmark = [pytest.mark.postgres, pytest.mark.parametrize("db_url", ["postgres"], indirect=True)]

ROWS = "SELECT user_id FROM user_sessions ORDER BY user_id"


async def test_owner_sees_and_ends_only_their_sessions_admin_all(
    accounts: AccountService,
    admin_actor: Actor,
    user_a: Actor,
    user_b: Actor,
    app_conn: asyncpg.Connection,
) -> None:
    await accounts.sessions.start(user_a)
    b_session = await accounts.sessions.start(user_b)

    await act_as(app_conn, user_a)
    assert [r[0] for r in await app_conn.fetch(ROWS)] == [user_a.id]
    assert await app_conn.execute("DELETE FROM user_sessions WHERE user_id = $1", user_b.id) == (
        "DELETE 0"
    )
    with pytest.raises(asyncpg.InsufficientPrivilegeError):  # no session in someone's name
        await app_conn.execute(
            "INSERT INTO user_sessions VALUES ($1, $2, now(), now() + interval '1 day')",
            "f" * 64,
            user_b.id,
        )

    await act_as(app_conn, None)  # no context: nothing
    assert await app_conn.fetch(ROWS) == []

    await act_as(app_conn, admin_actor)
    assert {r[0] for r in await app_conn.fetch(ROWS)} == {user_a.id, user_b.id}

    # the service's own paths work under the policies: lookup and logout as system
    found = await accounts.sessions.user_of(b_session)
    assert found is not None
    assert found.id == user_b.id
    await accounts.sessions.end(b_session)
    assert await accounts.sessions.user_of(b_session) is None
