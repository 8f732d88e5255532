"""Two servers on one PostgreSQL database, as two replicas: an experiment started, paused or
stopped on one routes accordingly on the other within the cache poll interval (1 s), and
both assign a key to the same arm without talking to each other."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from modelreg.simulators import SimulatorServer
from tests.experiments.helpers import keys_for, two_arms
from tests.fixtures.server import LiveServer

PROPAGATION = 1.5  # seconds: the poll interval plus a request


def _until(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + PROPAGATION
    while not check():
        assert time.monotonic() < deadline, f"not seen within {PROPAGATION} s"
        time.sleep(0.05)


def test_the_other_replica_follows_and_assigns_alike(
    live_server_pg: LiveServer,
    live_server_factory: Callable[..., LiveServer],
    openai_sim: SimulatorServer,
) -> None:
    first = live_server_pg
    settings = first.services.settings
    second = live_server_factory(
        database_url=settings.database_url, encryption_key=settings.encryption_key
    )
    user = first.create_user()
    experiment, _ = two_arms(first, user, openai_sim, start=False)
    url = f"/api/experiments/{experiment['id']}"

    def call(server: LiveServer, key: str) -> httpx.Response:
        with server.client(user) as http:
            return http.post("/v1/chat/completions", json={
                "model": experiment["name"], "user": key,
                "messages": [{"role": "user", "content": "hi"}],
            })  # fmt: skip

    def status_on_second(expected: int, text: str = "") -> Callable[[], bool]:
        def check() -> bool:
            answer = call(second, "k")
            return answer.status_code == expected and text in answer.text

        return check

    _until(status_on_second(400, "draft"))
    with first.client(user) as http:
        assert http.post(f"{url}/start").status_code == 200
    _until(status_on_second(200))
    for arm in (0, 1):
        key = next(keys_for(experiment, arm))
        models: list[Any] = []
        for server in (first, second):
            assert call(server, key).status_code == 200
            models.append(openai_sim.requests[-1].model)
        assert models == [f"sim-{'ab'[arm]}"] * 2
    with first.client(user) as http:
        assert http.post(f"{url}/pause").status_code == 200
    _until(status_on_second(400, "paused"))
