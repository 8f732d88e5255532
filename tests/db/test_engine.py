"""Database: SQLite pragmas, transactions, the per-transaction RLS context on PostgreSQL."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select, text

from modelreg.actor import SYSTEM, Actor
from modelreg.db.engine import Database, normalize_url
from modelreg.db.models import AuditLog


def test_plain_urls_get_async_drivers() -> None:
    assert normalize_url("sqlite:///x.db") == "sqlite+aiosqlite:///x.db"
    assert normalize_url("postgresql://u@h/d") == "postgresql+asyncpg://u@h/d"
    assert normalize_url("postgres://u@h/d") == "postgresql+asyncpg://u@h/d"


def test_in_memory_sqlite_and_unknown_backends_are_refused() -> None:
    with pytest.raises(ValueError, match="SQLite file"):
        Database("sqlite+aiosqlite:///:memory:")
    with pytest.raises(ValueError, match="unsupported"):
        Database("mysql+aiomysql://u@h/d")


def test_repr_hides_the_password() -> None:
    database = Database("postgresql://modelreg:hunter2-password@127.0.0.1/modelreg")
    assert "hunter2" not in repr(database)


async def test_ping(db: Database) -> None:
    await db.ping()  # raises when the database does not answer


async def test_sqlite_pragmas(sqlite_settings: object) -> None:
    from modelreg.settings import Settings

    assert isinstance(sqlite_settings, Settings)
    database = Database.from_settings(sqlite_settings)
    try:
        async with database.session(SYSTEM) as session:
            assert (await session.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await session.execute(text("PRAGMA foreign_keys"))).scalar() == 1
            assert (await session.execute(text("PRAGMA busy_timeout"))).scalar() == 10000
    finally:
        await database.dispose()


async def test_session_rolls_back_on_error(db: Database) -> None:
    async def write_then_fail() -> None:
        async with db.session(SYSTEM) as session:
            session.add(AuditLog(actor_name="t", action="x", target_type="t"))
            await session.flush()
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await write_then_fail()
    async with db.session(SYSTEM) as session:
        assert await session.scalar(select(func.count()).select_from(AuditLog)) == 0


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_rls_context_is_transaction_local(db: Database) -> None:
    actor = Actor(id=uuid.uuid4(), username="a", role="user")
    query = text(
        "SELECT current_setting('modelreg.user_id', true), current_setting('modelreg.role', true),"
        " current_user"
    )
    async with db.session(actor) as session:
        uid, role, user = (await session.execute(query)).one()
    assert (uid, role, user) == (str(actor.id), "user", "modelreg_app")
    # the same pooled connection, outside any actor context: nothing is left behind
    async with db.engine.connect() as conn:
        uid, role, user = (await conn.execute(query)).one()
    assert (uid or "", role or "") == ("", "")
    assert user != "modelreg_app"
