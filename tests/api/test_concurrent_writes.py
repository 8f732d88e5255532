"""Concurrent writers on the embedded SQLite default: every write lands, none fails on a lock."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.api._helpers import model_payload
from tests.fixtures.server import LiveServer


def test_sixteen_admins_scripts_creating_models_at_once_all_succeed(
    live_server: LiveServer,
) -> None:
    def create(_: int) -> int:
        with live_server.client(live_server.admin_token) as http:
            return http.post("/api/models", json=model_payload(is_global=True)).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(create, range(64)))
    assert statuses == [201] * 64
