"""The head revision read from the files in versions/ (which lets a start at head skip
Alembic) is the one Alembic itself computes; `sqlite_at_head` (what `modelreg serve` asks
before it decides to migrate) answers from the SQLite file alone."""

from __future__ import annotations

from pathlib import Path

from alembic.script import ScriptDirectory

from modelreg.db.migrate import (
    alembic_config,
    current_revision,
    downgrade_database,
    head_revision,
    sqlite_at_head,
    sqlite_path,
    upgrade_database,
)


def test_head_revision_is_alembics() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite+aiosqlite:///:memory:"))
    assert head_revision() == script.get_current_head()


async def test_a_database_at_head_stays_there(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    await upgrade_database(url)
    await upgrade_database(url)  # the quick path: nothing to do
    assert await current_revision(url) == head_revision()


async def test_sqlite_at_head_reads_the_file_without_sqlalchemy(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    url = f"sqlite+aiosqlite:///{path}"
    assert not sqlite_at_head(url)  # no file yet
    path.touch()
    assert not sqlite_at_head(url)  # no alembic_version table
    await upgrade_database(url)
    assert sqlite_at_head(url)
    assert sqlite_at_head(f"sqlite:///{path}")
    await downgrade_database(url, "-1")
    assert not sqlite_at_head(url)


def test_sqlite_path_of_the_urls_it_understands() -> None:
    assert sqlite_path("sqlite+aiosqlite:////srv/data/m.db") == Path("/srv/data/m.db")
    assert sqlite_path("sqlite:///rel/m.db?timeout=5") == Path("rel/m.db")
    for other in (
        "sqlite+aiosqlite:///:memory:",
        "sqlite://",
        "postgresql+asyncpg://u@127.0.0.1/db",
        "sqlite+pysqlcipher:///m.db",
    ):
        assert sqlite_path(other) is None, other
