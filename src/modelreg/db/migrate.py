"""Run the Alembic migrations from the installed package (no alembic.ini needed).

`upgrade_database` runs Alembic on a connection of our own async engine (Alembic's
"connection sharing" recipe), so it works inside a running event loop. On PostgreSQL an
advisory lock makes concurrent starts (several workers or hosts) migrate one at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from modelreg.db.engine import normalize_url

__all__ = [
    "alembic_config",
    "current_revision",
    "downgrade_database",
    "upgrade",
    "upgrade_database",
]

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
# any constant: the key of the advisory lock that serialises migrations
_LOCK_KEY = 0x6D6F64656C726567  # "modelreg"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # '%' would be read as interpolation by configparser
    cfg.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return cfg


def _run(conn: Connection, cfg: Config, revision: str, step: Callable[[Config, str], None]) -> None:
    cfg.attributes["connection"] = conn
    step(cfg, revision)


def _engine(url: str) -> AsyncEngine:
    # SQLite: wait for a concurrent writer (another worker starting) instead of failing
    connect_args = {"timeout": 30} if url.startswith("sqlite") else {}
    return create_async_engine(url, connect_args=connect_args)


async def upgrade_database(url: str, revision: str = "head") -> None:
    await _migrate(url, revision, command.upgrade)


async def downgrade_database(url: str, revision: str) -> None:
    """For tests and emergencies; `revision="base"` drops everything."""
    await _migrate(url, revision, command.downgrade)


async def _migrate(url: str, revision: str, step: Callable[[Config, str], None]) -> None:
    url = normalize_url(url)
    engine = _engine(url)
    try:
        async with engine.connect() as conn:
            postgres = conn.dialect.name == "postgresql"
            if postgres:
                await conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _LOCK_KEY})
                await conn.commit()
            try:
                await conn.run_sync(_run, alembic_config(url), revision, step)
                await conn.commit()
            finally:
                if postgres:
                    await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _LOCK_KEY})
                    await conn.commit()
    finally:
        await engine.dispose()


def upgrade(url: str, revision: str = "head") -> None:
    """Synchronous wrapper for the CLI."""
    asyncio.run(upgrade_database(url, revision))


async def current_revision(url: str) -> str | None:
    engine = _engine(normalize_url(url))
    try:
        async with engine.connect() as conn:
            has_table = await conn.run_sync(lambda c: c.dialect.has_table(c, "alembic_version"))
            if not has_table:
                return None
            row = (await conn.execute(text("SELECT version_num FROM alembic_version"))).first()
            return None if row is None else str(row[0])
    finally:
        await engine.dispose()
