"""`modelreg serve` and `modelreg db upgrade` with the database unreachable (issue 14, item 8):
one clear line naming the database and the cause, a non-zero exit, no traceback. Real
processes; the databases are the test's own (a dead port, a database refusing connections)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelreg.crypto import generate_key
from tests.fixtures.db import pg_admin
from tests.fixtures.outage import dead_port

MODELREG = Path(sys.executable).with_name("modelreg")


def _run(tmp_path: Path, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELREG_")}
    env |= {
        "MODELREG_DATA_DIR": str(tmp_path / "data"),
        "MODELREG_DATABASE_URL": database_url,
        "MODELREG_ENCRYPTION_KEY": generate_key(),
        "MODELREG_DATABASE_CONNECT_TIMEOUT": "3",
    }
    return subprocess.run(
        [sys.executable, str(MODELREG), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def _assert_one_clear_line(done: subprocess.CompletedProcess[str], *, where: str) -> None:
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "Traceback" not in output, output
    lines = [line for line in done.stderr.splitlines() if "is not reachable" in line]
    assert len(lines) == 1, output
    assert where in lines[0], lines[0]
    assert "secret-password" not in output


@pytest.mark.parametrize("command", [["db", "upgrade"], ["serve", "--port", "0"]])
def test_a_refusing_database_port_is_one_line_and_a_non_zero_exit(
    tmp_path: Path, command: list[str]
) -> None:
    port = dead_port()
    url = f"postgresql://postgres:secret-password@127.0.0.1:{port}/modelreg"
    done = _run(tmp_path, url, *command)
    _assert_one_clear_line(done, where=f"127.0.0.1:{port}")
    assert done.returncode == 1


@pytest.fixture
def closed_database(pg_available: bool) -> Iterator[str]:
    """A database on the shared server that accepts no connections (the server still runs)."""
    if not pg_available:
        pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432")
    name = f"modelreg_closed_{uuid.uuid4().hex[:12]}"
    asyncio.run(pg_admin(f'CREATE DATABASE "{name}"'))
    asyncio.run(pg_admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
    try:
        yield name
    finally:
        asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.mark.postgres
@pytest.mark.parametrize("command", [["db", "upgrade"], ["serve", "--port", "0"]])
def test_a_database_that_refuses_connections_is_one_line_and_a_non_zero_exit(
    tmp_path: Path, closed_database: str, command: list[str]
) -> None:
    url = f"postgresql://postgres:secret-password@127.0.0.1:5432/{closed_database}"
    done = _run(tmp_path, url, *command)
    _assert_one_clear_line(done, where=closed_database)
