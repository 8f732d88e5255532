"""Raw SQL under the app role, for the row-level security tests on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from modelreg.actor import Actor

SET_ACTOR = (
    "SELECT set_config('modelreg.user_id', $1, false), set_config('modelreg.role', $2, false)"
)


@pytest.fixture
async def app_conn(superuser_pg_url: str | None) -> AsyncIterator[asyncpg.Connection]:
    """A connection that has switched to `modelreg_app`, as every app transaction does."""
    assert superuser_pg_url is not None
    conn = await asyncpg.connect(superuser_pg_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute("SET ROLE modelreg_app")
        yield conn
    finally:
        await conn.close()


async def act_as(conn: asyncpg.Connection, actor: Actor | None) -> None:
    """The acting user of `conn` from now on (None: no context at all)."""
    await conn.execute(
        SET_ACTOR, str(actor.id) if actor and actor.id else "", actor.role if actor else ""
    )
