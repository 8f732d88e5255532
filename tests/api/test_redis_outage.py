"""Redis down (issue 14, item 3): a dead port, and a `redis-server` the test kills and starts
again. Fail open by default (per-process limits, a warning, a metric, `/readyz` 200 with
`redis: down`), fail closed with MODELREG_RATE_LIMIT_FAIL_CLOSED (503 + Retry-After in each
surface's shape), and Redis used again once it is back, without a restart."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from modelreg.simulators import SimulatorServer
from tests.fixtures.outage import RedisProcess, dead_port
from tests.fixtures.server import LiveServer
from tests.gateway.helpers import create_model

Start = Callable[..., LiveServer]


def _login_form(http: httpx.Client) -> str:
    page = http.get("/login")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match is not None, page.text[:300]
    return match.group(1)


def _login(server: LiveServer) -> httpx.Response:
    with server.client() as http:
        token = _login_form(http)
        return http.post(
            "/login",
            data={"username": "admin", "password": server.admin_password, "csrf_token": token},
        )


def _calls(server: LiveServer, token: str, model: str) -> dict[str, httpx.Response]:
    """One call on each limited surface."""
    chat = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    with server.client(token) as http:
        return {
            "openai": http.post("/v1/chat/completions", json=chat),
            "openai-stream": http.post("/v1/chat/completions", json={**chat, "stream": True}),
            "anthropic": http.post("/v1/messages", json={**chat, "max_tokens": 16}),
            "api": http.post("/api/chat", json={"model_id": model, "message": "hi"}),
        }


def _failures(server: LiveServer, mode: str) -> float:
    with server.client(server.admin_token) as http:
        text = http.get("/metrics").text
    found = re.search(rf'modelreg_rate_limiter_failures_total{{mode="{mode}"}} (\S+)', text)
    return float(found.group(1)) if found else 0.0


def test_a_dead_redis_fails_open_with_a_warning_a_metric_and_per_process_limits(
    live_server_factory: Start, openai_sim: SimulatorServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="modelreg.ratelimit"):
        server = live_server_factory(
            redis_url=f"redis://127.0.0.1:{dead_port()}/0",
            user_rpm_limit=4,
            login_attempts_per_minute=10,
        )
    assert any("unavailable" in r.getMessage() for r in caplog.records), "no startup warning"
    token = server.create_user()
    model = create_model(server, token, openai_sim)["name"]

    answers = _calls(server, token, model)
    for surface, answer in answers.items():
        assert answer.status_code == 200, (surface, answer.text)
    assert _login(server).status_code == 303  # signed in: the session cookie is set

    with server.client() as http:
        ready = http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "degraded", "database": "ok", "redis": "down"}
    assert _failures(server, "fail_open") >= 5

    # the limits still hold, per process: four calls this minute were all there was
    with server.client(token) as http:
        refused = http.post("/api/chat", json={"model_id": model, "message": "hi"})
    assert refused.status_code == 429, refused.text
    assert refused.headers["retry-after"]
    # and the log holds one warning for the outage, not one per request
    warnings = [r for r in caplog.records if r.name == "modelreg.ratelimit"]
    assert len(warnings) <= 2, [r.getMessage() for r in warnings]


def test_a_dead_redis_fails_closed_with_a_503_in_each_surfaces_shape(
    live_server_factory: Start, openai_sim: SimulatorServer
) -> None:
    server = live_server_factory(
        redis_url=f"redis://:hunter2-secret@127.0.0.1:{dead_port()}/0",
        rate_limit_fail_closed=True,
        user_rpm_limit=100,
        login_attempts_per_minute=10,
    )
    token = server.create_user()
    model = create_model(server, token, openai_sim)["name"]
    openai_sim.reset()

    answers = _calls(server, token, model)
    for surface, answer in answers.items():
        assert answer.status_code == 503, (surface, answer.text)
        assert int(answer.headers["retry-after"]) >= 1, surface
        assert "hunter2" not in answer.text
        assert "Traceback" not in answer.text
    assert answers["openai"].json()["error"]["type"] == "server_error"
    assert answers["openai"].json()["error"]["code"] == "rate_limiter_unavailable"
    assert answers["anthropic"].json()["type"] == "error"
    assert answers["anthropic"].json()["error"]["type"] == "api_error"
    assert answers["api"].json()["error"]["type"] == "rate_limiter_unavailable"
    assert openai_sim.requests == []  # nothing reached the provider

    login = _login(server)
    assert login.status_code == 503
    assert login.headers["content-type"].startswith("text/html")
    assert "Sign-in is unavailable" in login.text
    assert int(login.headers["retry-after"]) >= 1

    with server.client() as http:
        ready = http.get("/readyz")
    assert ready.status_code == 503
    body: dict[str, Any] = ready.json()
    assert (body["database"], body["redis"], body["error"]["type"]) == ("ok", "down", "not_ready")
    assert _failures(server, "fail_closed") >= 5


def _wait_for(check: Callable[[], bool], what: str, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.mark.slow
def test_redis_killed_and_restarted_is_used_again_without_a_restart(
    live_server_factory: Start, openai_sim: SimulatorServer, redis_process: RedisProcess
) -> None:
    server = live_server_factory(
        redis_url=redis_process.url, rate_limit_fail_closed=True, user_rpm_limit=1000
    )
    token = server.create_user()
    model = create_model(server, token, openai_sim)["name"]
    chat = {"model": model, "messages": [{"role": "user", "content": "hi"}]}

    def status() -> int:
        with server.client(token) as http:
            return http.post("/v1/chat/completions", json=chat).status_code

    def redis_state() -> str:
        with server.client() as http:
            state: str = http.get("/readyz").json()["redis"]
            return state

    assert status() == 200
    assert redis_process.keys(), "the limit counters are not in Redis"
    assert redis_state() == "ok"

    redis_process.kill()
    assert status() == 503
    assert redis_state() == "down"

    redis_process.start()  # empty, on the same port
    _wait_for(lambda: status() == 200, "calls to pass again")
    assert redis_process.keys(), "the counters did not go back to Redis"
    _wait_for(lambda: redis_state() == "ok", "/readyz to see Redis again")
