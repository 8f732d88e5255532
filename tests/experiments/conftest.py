"""Every experiments test runs on both databases: the shared SQLite server and a PostgreSQL
one (skipped with the reason when no PostgreSQL answers)."""

from __future__ import annotations

import pytest

from tests.fixtures.server import LiveServer


@pytest.fixture(params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest) -> LiveServer:
    name = "live_server" if request.param == "sqlite" else "live_server_pg"
    live: LiveServer = request.getfixturevalue(name)
    return live
