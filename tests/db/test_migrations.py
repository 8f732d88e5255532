"""Migrations run from an empty database on SQLite and PostgreSQL, and are idempotent."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from modelreg.db.migrate import (
    current_revision,
    downgrade_database,
    head_revision,
    upgrade_database,
)
from modelreg.db.models import Base

EXPECTED_TABLES = {
    "users",
    "api_tokens",
    "llm_models",
    "conversations",
    "messages",
    "usage_events",
    "audit_log",
    "app_settings",
    "usage_daily",
    "user_sessions",
}


async def _tables_and_indexes(url: str) -> tuple[set[str], set[str]]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:

            def read(sync_conn: object) -> tuple[set[str], set[str]]:
                insp = inspect(sync_conn)
                tables = set(insp.get_table_names())
                if "llm_models" not in tables:
                    return tables, set()
                indexes = {i["name"] for i in insp.get_indexes("llm_models") if i["name"]}
                return tables, indexes

            return await conn.run_sync(read)
    finally:
        await engine.dispose()


async def test_upgrade_from_empty_creates_the_schema(empty_db_url: str) -> None:
    assert await current_revision(empty_db_url) is None
    await upgrade_database(empty_db_url)
    assert await current_revision(empty_db_url) == head_revision()
    tables, indexes = await _tables_and_indexes(empty_db_url)
    assert tables >= EXPECTED_TABLES
    assert {
        "ix_llm_models_user_enabled",
        "ix_llm_models_global_enabled",
        "ix_llm_models_name",
        "uq_llm_models_global_name",
    } <= indexes


async def test_upgrade_twice_is_a_no_op(empty_db_url: str) -> None:
    await upgrade_database(empty_db_url)
    await upgrade_database(empty_db_url)
    assert await current_revision(empty_db_url) == head_revision()


async def test_migrations_match_the_orm_models(empty_db_url: str) -> None:
    """Autogenerate finds nothing to do: the migrations create what models.py declares."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    await upgrade_database(empty_db_url)
    engine = create_async_engine(empty_db_url)
    try:
        async with engine.connect() as conn:

            def diff(sync_conn: object) -> list[object]:
                context = MigrationContext.configure(sync_conn, opts={"compare_type": False})  # type: ignore[arg-type]
                return list(compare_metadata(context, Base.metadata))

            differences = await conn.run_sync(diff)
    finally:
        await engine.dispose()
    assert differences == []


async def test_downgrade_to_base_and_up_again(empty_db_url: str) -> None:
    await upgrade_database(empty_db_url)
    await downgrade_database(empty_db_url, "base")
    tables, _ = await _tables_and_indexes(empty_db_url)
    assert tables & EXPECTED_TABLES == set()
    await upgrade_database(empty_db_url)
    assert await current_revision(empty_db_url) == head_revision()


async def test_store_turns_function_0015_goes_down_and_up(empty_db_url: str) -> None:
    if not empty_db_url.startswith("postgresql"):
        pytest.skip("the function is PostgreSQL's")
    exists = "SELECT count(*) FROM pg_proc WHERE proname = 'modelreg_store_turns'"
    dsn = empty_db_url.replace("postgresql+asyncpg://", "postgresql://")
    await upgrade_database(empty_db_url)
    conn = await asyncpg.connect(dsn)
    try:
        assert await conn.fetchval(exists) == 1
        await downgrade_database(empty_db_url, "0014")
        assert await current_revision(empty_db_url) == "0014"
        assert await conn.fetchval(exists) == 0
        await upgrade_database(empty_db_url)
        assert await conn.fetchval(exists) == 1
    finally:
        await conn.close()
