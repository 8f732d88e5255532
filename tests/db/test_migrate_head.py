"""The head revision read from the files in versions/ (which lets a start at head skip
Alembic) is the one Alembic itself computes."""

from __future__ import annotations

from pathlib import Path

from alembic.script import ScriptDirectory

from modelreg.db.migrate import alembic_config, current_revision, head_revision, upgrade_database


def test_head_revision_is_alembics() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite+aiosqlite:///:memory:"))
    assert head_revision() == script.get_current_head()


async def test_a_database_at_head_stays_there(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    await upgrade_database(url)
    await upgrade_database(url)  # the quick path: nothing to do
    assert await current_revision(url) == head_revision()
