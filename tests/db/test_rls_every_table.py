"""Every table of the migrated PostgreSQL schema is under row-level security, and the attacks
that worked while users, audit_log and app_settings were not (raw SQL as `modelreg_app` in a
user's context) now fail."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from modelreg.accounts import AccountService
from modelreg.actor import Actor
from modelreg.audit import list_audit
from modelreg.db.engine import Database
from modelreg.db.rls import APP_ROLE
from modelreg.db.rls_every_table import RLS_EXEMPT_TABLES
from modelreg.registry.service import ModelManagerService

pytestmark = [pytest.mark.postgres, pytest.mark.parametrize("db_url", ["postgres"], indirect=True)]

SET_ACTOR = (
    "SELECT set_config('modelreg.user_id', $1, false), set_config('modelreg.role', $2, false)"
)


@pytest.fixture
async def conn(superuser_pg_url: str | None) -> AsyncIterator[asyncpg.Connection]:
    assert superuser_pg_url is not None
    connection = await asyncpg.connect(
        superuser_pg_url.replace("postgresql+asyncpg://", "postgresql://")
    )
    try:
        yield connection
    finally:
        await connection.close()


async def _as(conn: asyncpg.Connection, actor: Actor | None) -> None:
    await conn.execute(f"SET ROLE {APP_ROLE}")
    await conn.execute(
        SET_ACTOR, str(actor.id) if actor and actor.id else "", actor.role if actor else ""
    )


async def test_every_table_has_rls_enabled_and_forced(conn: asyncpg.Connection) -> None:
    """A new table without policies fails here, not in a probe."""
    tables = await conn.fetch(
        "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,"
        " (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid) AS policies"
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')"
    )
    names = {t["relname"] for t in tables}
    assert {"users", "audit_log", "app_settings", "llm_models"} <= names
    unprotected = [
        t["relname"]
        for t in tables
        if t["relname"] not in RLS_EXEMPT_TABLES
        and not (t["relrowsecurity"] and t["relforcerowsecurity"] and t["policies"] > 0)
    ]
    assert unprotected == []
    # the exempt table: the app role reads it and nothing more
    for table in RLS_EXEMPT_TABLES & names:
        for privilege in ("INSERT", "UPDATE", "DELETE", "TRUNCATE"):
            assert not await conn.fetchval(
                "SELECT has_table_privilege($1, $2, $3)", APP_ROLE, table, privilege
            ), (table, privilege)


async def test_a_user_sees_only_their_own_user_row_and_cannot_make_themselves_admin(
    admin_actor: Actor, user_a: Actor, user_b: Actor, conn: asyncpg.Connection
) -> None:
    await _as(conn, user_a)
    rows = await conn.fetch("SELECT id, password_hash FROM users")
    assert [r["id"] for r in rows] == [user_a.id]
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await conn.execute("UPDATE users SET role = 'admin' WHERE id = $1", user_a.id)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await conn.execute(
            "UPDATE users SET is_active = true, username = 'x' WHERE id = $1", user_a.id
        )
    # other users' rows are out of reach: nothing matches
    assert (
        await conn.execute("UPDATE users SET role = 'user' WHERE id <> $1", user_a.id) == "UPDATE 0"
    )
    assert await conn.execute("DELETE FROM users WHERE id <> $1", user_a.id) == "DELETE 0"
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await conn.execute(
            "INSERT INTO users (id, username, role, is_active, created_at)"
            " VALUES (gen_random_uuid(), 'mallory', 'admin', true, now())"
        )
    # what the app needs still works: a user changes their own password
    assert (
        await conn.execute("UPDATE users SET password_hash = 'x' WHERE id = $1", user_a.id)
        == "UPDATE 1"
    )

    await _as(conn, None)  # no context: no users at all
    assert await conn.fetchval("SELECT count(*) FROM users") == 0

    await _as(conn, admin_actor)
    assert await conn.fetchval("SELECT count(*) FROM users") == 3
    assert (
        await conn.execute("UPDATE users SET role = 'admin' WHERE id = $1", user_b.id) == "UPDATE 1"
    )


async def test_the_audit_log_is_append_only_for_the_app_role(
    registry: ModelManagerService,
    db: Database,
    admin_actor: Actor,
    user_a: Actor,
    conn: asyncpg.Connection,
) -> None:
    from modelreg.registry.schemas import ModelCreate

    # the app writes audit rows in a user's context (no RETURNING needed)
    await registry.create_model(
        user_a,
        ModelCreate(name="m", provider="openai", base_url="http://127.0.0.1:9/v1", model_id="m"),
    )
    before = await list_audit(db, admin_actor)
    assert before[0].action == "model.create"

    for actor in (user_a, admin_actor):
        await _as(conn, actor)
        for attack in (
            "DELETE FROM audit_log",
            "UPDATE audit_log SET action = 'x'",
            "TRUNCATE audit_log",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(attack)
    await _as(conn, user_a)
    assert await conn.fetchval("SELECT count(*) FROM audit_log") == 0  # admins only
    # rows only in one's own name
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await conn.execute(
            "INSERT INTO audit_log (actor_id, actor_name, action, target_type, created_at)"
            " VALUES ($1, 'admin', 'user.delete', 'user', now())",
            admin_actor.id,
        )
    await conn.execute(
        "INSERT INTO audit_log (actor_id, actor_name, action, target_type, created_at)"
        " VALUES ($1, 'alice', 'note', 'user', now())",
        user_a.id,
    )
    assert len(await list_audit(db, admin_actor)) == len(before) + 1


async def test_app_settings_are_admin_only_but_cache_generations_are_everyones(
    registry: ModelManagerService, admin_actor: Actor, user_a: Actor, conn: asyncpg.Connection
) -> None:
    await _as(conn, admin_actor)
    await conn.execute(
        "INSERT INTO app_settings (key, value, updated_at) VALUES"
        " ('default_model', '{\"id\": null}', now()), ('cache_generation:models', '{}', now())"
    )
    await _as(conn, user_a)
    assert {r["key"] for r in await conn.fetch("SELECT key FROM app_settings")} == {
        "cache_generation:models"
    }
    assert (
        await conn.execute("UPDATE app_settings SET value = '{}' WHERE key = 'default_model'")
        == "UPDATE 0"
    )
    assert await conn.execute("DELETE FROM app_settings") == "DELETE 0"
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await conn.execute(
            "INSERT INTO app_settings (key, value, updated_at) VALUES ('evil', '{}', now())"
        )
    assert (
        await conn.execute('UPDATE app_settings SET value = \'{"generation": "x"}\'') == "UPDATE 1"
    )


async def test_a_user_changes_their_own_password_through_the_service(
    accounts: AccountService, user_a: Actor
) -> None:
    await accounts.change_own_password(user_a, "alice-password", "a-new-password")
    assert await accounts.authenticate_password("alice", "a-new-password") == user_a
