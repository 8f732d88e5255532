"""Run the Alembic migrations from the installed package (no alembic.ini needed).

`upgrade_database` runs Alembic on a connection of our own async engine (Alembic's
"connection sharing" recipe), so it works inside a running event loop. On PostgreSQL an
advisory lock makes concurrent starts (several workers or hosts) migrate one at a time.

A database already at the head revision (every start but the first) is recognised with one
query against the revision named by the newest file in versions/, without importing Alembic
(a quarter of a second of a start). `sqlite_at_head` asks the same of an SQLite file with
the standard library alone, so that `modelreg serve` can tell whether a start must migrate
before it imports SQLAlchemy.

SQLAlchemy and Alembic are imported by the functions that use them.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Callable
from contextlib import closing
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

__all__ = [
    "alembic_config",
    "current_revision",
    "downgrade_database",
    "head_revision",
    "sqlite_at_head",
    "sqlite_path",
    "upgrade",
    "upgrade_database",
]

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy import Connection
    from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
_REVISION_LINE = re.compile(r"^(down_revision|revision)\s*(?::[^=]*)?=\s*(.+)$", re.MULTILINE)
# any constant: the key of the advisory lock that serialises migrations
_LOCK_KEY = 0x6D6F64656C726567  # "modelreg"


@cache
def head_revision() -> str | None:
    """The one revision no other revision names as its parent, read from the files in
    versions/; None when that is not a single plain string (then Alembic decides)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        fields = dict(_REVISION_LINE.findall(path.read_text(encoding="utf-8")))
        revision = _literal(fields.get("revision"))
        if revision is None:
            continue
        revisions.add(revision)
        parent = fields.get("down_revision", "None").strip()
        if parent != "None":
            named = _literal(parent)
            if named is None:
                return None  # a merge (tuple) or something computed
            parents.add(named)
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _literal(value: str | None) -> str | None:
    value = (value or "").strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return None


def sqlite_path(url: str) -> Path | None:
    """The file of an SQLite URL (`sqlite:///` or `sqlite+aiosqlite:///`, query ignored);
    None for anything else, an in-memory database included."""
    scheme, sep, rest = url.partition(":///")
    if not sep or scheme not in ("sqlite", "sqlite+aiosqlite"):
        return None
    path = rest.partition("?")[0]
    # a %-escaped path is left as written: no such file, so the caller takes the full path
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    # sqlite:////abs/path has the leading slash in `rest` already; sqlite:///rel is relative
    return Path(path)


def sqlite_at_head(url: str) -> bool:
    """True when the SQLite database at `url` is at the head revision. Standard library only
    and read-only; any doubt (no file, no table, a lock, a URL it does not understand)
    answers False, and the caller runs `upgrade_database`, which decides for itself."""
    path = sqlite_path(url)
    head = head_revision()
    if path is None or head is None or not path.is_file():
        return False
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as conn:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        return False
    return row is not None and row[0] == head


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    from modelreg.db.engine import normalize_url

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # '%' would be read as interpolation by configparser
    cfg.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return cfg


def _run(conn: Connection, cfg: Config, revision: str, step: Callable[[Config, str], None]) -> None:
    cfg.attributes["connection"] = conn
    step(cfg, revision)


def _engine(url: str) -> AsyncEngine:
    from sqlalchemy.ext.asyncio import create_async_engine

    # SQLite: wait for a concurrent writer (another worker starting) instead of failing
    connect_args = {"timeout": 30} if url.startswith("sqlite") else {}
    return create_async_engine(url, connect_args=connect_args)


async def upgrade_database(url: str, revision: str = "head") -> None:
    if revision == "head":
        head = head_revision()
        if head is not None and await current_revision(url) == head:
            return  # nothing to do: spare loading Alembic and its scripts
    from alembic import command

    await _migrate(url, revision, command.upgrade)


async def downgrade_database(url: str, revision: str) -> None:
    """For tests and emergencies; `revision="base"` drops everything."""
    from alembic import command

    await _migrate(url, revision, command.downgrade)


async def _migrate(url: str, revision: str, step: Callable[[Config, str], None]) -> None:
    from sqlalchemy import text

    from modelreg.db.engine import normalize_url

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
    from sqlalchemy import text

    from modelreg.db.engine import normalize_url

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
