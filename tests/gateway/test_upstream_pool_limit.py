"""More open streams than `MODELREG_UPSTREAM_MAX_CONNECTIONS` allows, over real HTTP on the fast
path and on the route: the streams beyond the limit are refused with a 503 "overloaded" error
that names the setting, and the model's circuit breaker stays closed, because a wait for our
own connection pool says nothing about the upstream (it had opened the breaker, and then
nearly every call got "circuit breaker open" from a healthy upstream)."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any

import httpx
import orjson
import pytest

from modelreg.client.resilience import BreakerState
from tests.fixtures.raw_upstream import RawUpstream, http_head
from tests.fixtures.server import LiveServer
from tests.gateway.helpers import unique
from tests.gateway.test_passthrough_hardening import USAGE, chunk

LIMIT = 2
BREAKER_THRESHOLD = 5  # the server's default CircuitBreakerRegistry
EXTRA = BREAKER_THRESHOLD + 1  # enough pool waits to have opened the breaker before the fix


@pytest.fixture(scope="module", params=["fast_path", "routed"])
def pool_server(
    request: pytest.FixtureRequest, live_server_factory: Callable[..., LiveServer]
) -> LiveServer:
    return live_server_factory(
        gateway_fast_path=request.param == "fast_path",
        upstream_max_connections=LIMIT,
        upstream_connect_timeout=1.0,  # the wait for a free connection too
        upstream_read_timeout=10.0,
        upstream_total_timeout=30.0,
        max_retries=2,
    )


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    """Set: the held streams may finish. Set at the end whatever happened."""
    event = threading.Event()
    yield event
    event.set()


def _model(server: LiveServer, base_url: str) -> dict[str, Any]:
    body = {
        "name": unique("pool"),
        "provider": "openai",
        "base_url": base_url,
        "model_id": "pool-model",
        "api_key": "sk-" + uuid.uuid4().hex,
        "is_global": True,
    }
    with server.client(server.admin_token) as http:
        answer = http.post("/api/models", json=body)
    assert answer.status_code == 201, answer.text
    data: dict[str, Any] = answer.json()
    return data


def _ask(model: dict[str, Any]) -> dict[str, Any]:
    return {
        "model": model["name"],
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def test_streams_beyond_the_connection_limit_are_refused_without_opening_the_breaker(
    pool_server: LiveServer, raw_upstream: RawUpstream, gate: threading.Event
) -> None:
    async def slow_stream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await raw_upstream.read_request(reader)
        writer.write(http_head(200, "text/event-stream") + chunk({"content": "first "}))
        await writer.drain()
        await asyncio.to_thread(gate.wait, 30)  # a healthy upstream, generating slowly
        writer.write(chunk({"content": "last"}, "stop") + chunk({}, usage=USAGE))
        writer.write(b"data: [DONE]\n\n")
        await writer.drain()

    raw_upstream.handler = slow_stream
    model = _model(pool_server, raw_upstream.base_url)
    token = pool_server.create_user()
    with ExitStack() as held:
        # LIMIT streams open and reading: each holds one upstream connection
        streams = []
        for _ in range(LIMIT):
            http = held.enter_context(pool_server.client(token))
            answer = held.enter_context(
                http.stream("POST", "/v1/chat/completions", json=_ask(model))
            )
            assert answer.status_code == 200
            lines = answer.iter_lines()
            assert "first" in next(line for line in lines if line.startswith("data:"))
            streams.append(lines)
        assert len(raw_upstream.requests) == LIMIT

        def one_more(_: int) -> httpx.Response:
            with pool_server.client(token) as http:
                return http.post("/v1/chat/completions", json=_ask(model))

        with ThreadPoolExecutor(EXTRA) as pool:
            refused = list(pool.map(one_more, range(EXTRA)))
        for answer in refused:
            assert answer.status_code == 503, answer.text
            error = orjson.loads(answer.content)["error"]
            assert error["type"] == "server_error"  # the OpenAI SDKs' word for overloaded
            assert error["code"] == "upstream_connections_exhausted"
            assert "MODELREG_UPSTREAM_MAX_CONNECTIONS=2" in error["message"]
            assert "circuit breaker" not in error["message"]
            assert answer.headers["retry-after"]
        assert len(raw_upstream.requests) == LIMIT  # none of them reached the upstream
        assert pool_server.services.client.breakers.state(model["id"]) is BreakerState.CLOSED

        gate.set()
        for lines in streams:
            assert "[DONE]" in "".join(lines)

    # the held streams are done, their connections free: the next call is served
    with pool_server.client(token) as http:
        answer = http.post("/v1/chat/completions", json=_ask(model))
    assert answer.status_code == 200, answer.text
    assert b"last" in answer.content
    assert pool_server.services.client.breakers.state(model["id"]) is BreakerState.CLOSED
