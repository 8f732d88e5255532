"""The least-privilege login role of docs/operations.md: `modelreg db create-login-role` makes
a role that cannot get out from under row-level security, and the PostgreSQL variant of the
API and RLS tests passes when the app connects as such a role instead of the superuser."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from modelreg.actor import Actor
from modelreg.db.engine import Database
from modelreg.db.models import Conversation, Message
from modelreg.db.roles import create_login_role
from modelreg.errors import ValidationFailedError
from tests.fixtures.db import LOGIN_ROLE_ENV, PG_HOST, PG_PORT, drop_login_role

pytestmark = [pytest.mark.postgres, pytest.mark.parametrize("db_url", ["postgres"], indirect=True)]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def login_role(db_url: str) -> AsyncIterator[str]:
    name = f"modelreg_t_{uuid.uuid4().hex[:10]}"
    await create_login_role(db_url, name, "a-password")
    try:
        yield name
    finally:
        await drop_login_role(name)


async def test_reset_role_under_the_login_role_sees_no_private_rows(
    db_url: str, db: Database, admin_actor: Actor, user_a: Actor, login_role: str
) -> None:
    async with db.session(user_a) as session:
        conversation = Conversation(id=uuid.uuid4(), user_id=user_a.id)
        session.add(conversation)
        await session.flush()
        session.add(
            Message(conversation_id=conversation.id, user_id=user_a.id, role="user", content="x")
        )
    database = db_url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(
        user=login_role, password="a-password", host=PG_HOST, port=PG_PORT, database=database
    )
    try:
        await conn.execute("RESET ROLE")
        assert await conn.fetchval("SELECT current_user") == login_role
        assert not await conn.fetchval(
            "SELECT rolsuper FROM pg_roles WHERE rolname = $1", login_role
        )
        for table in (
            "users",
            "conversations",
            "messages",
            "api_tokens",
            "audit_log",
            "app_settings",
        ):
            assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0, table  # noqa: S608
        # and no way out: not the owner, not a superuser, no DDL
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("ALTER TABLE users DISABLE ROW LEVEL SECURITY")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("SET ROLE postgres")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("CREATE TABLE sneaky (id int)")
        assert await conn.execute("UPDATE users SET role = 'admin'") == "UPDATE 0"
    finally:
        await conn.close()


async def test_create_login_role_refuses_odd_names_and_existing_roles(
    db_url: str, login_role: str
) -> None:
    for bad in ("Robert'); DROP TABLE users;--", "", "1abc", "a" * 64):
        with pytest.raises(ValidationFailedError):
            await create_login_role(db_url, bad, None)
    with pytest.raises(ValidationFailedError, match="exists"):
        await create_login_role(db_url, login_role, None)


@pytest.mark.slow
@pytest.mark.skipif(bool(os.environ.get(LOGIN_ROLE_ENV)), reason="already under the login role")
def test_api_and_rls_tests_pass_under_a_least_privilege_login_role(db_url: str) -> None:
    """tests/api (every live server on PostgreSQL under LOGIN_ROLE_ENV) and the RLS tests,
    with the app connecting as a login role that owns nothing (tests/fixtures/db.py,
    tests/fixtures/server.py). About 2.5 minutes."""
    targets = [
        "tests/api",
        "tests/db/test_rls.py",
        "tests/db/test_rls_every_table.py",
        "tests/db/test_usage_daily_rls.py",
        "tests/db/test_store_turns.py",  # the batch function switches roles itself
    ]
    env = {**os.environ, LOGIN_ROLE_ENV: "1"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *targets, "-q", "-x", "-p", "no:randomly",
         "-p", "no:cacheprovider"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200, check=False,
    )  # fmt: skip
    tail = (result.stdout + result.stderr)[-4000:]
    assert result.returncode == 0, tail
    assert " passed" in tail
