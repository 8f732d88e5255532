"""Upstream faults injected over real sockets, on the fast path and on the route: a 5xx storm,
429 with Retry-After, a refused connection, a reset mid-stream, an upstream that accepts and
never answers, one that stalls after some chunks, one that trickles. Each call ends in the
documented error within the configured timeouts (1 s read, 4 s total, 2 retries), is booked,
and leaves no connection lent out and no file descriptor behind."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest

from tests.fixtures.raw_upstream import RawUpstream, http_head, sse_chunk
from tests.fixtures.server import LiveServer
from tests.gateway.helpers import unique, usage_events
from tests.gateway.test_passthrough_hardening import USAGE, chunk, completion

READ_TIMEOUT = 1.0
TOTAL_TIMEOUT = 4.0
# the longest a failing call may take: three attempts at the total timeout, plus backoff
WORST_CASE = 3 * TOTAL_TIMEOUT + 3


@pytest.fixture(scope="module", params=["fast_path", "routed"])
def fault_server(
    request: pytest.FixtureRequest, live_server_factory: Callable[..., LiveServer]
) -> LiveServer:
    return live_server_factory(
        gateway_fast_path=request.param == "fast_path",
        upstream_connect_timeout=1.0,
        upstream_read_timeout=READ_TIMEOUT,
        upstream_total_timeout=TOTAL_TIMEOUT,
        max_retries=2,
    )


@pytest.fixture
def caller(fault_server: LiveServer) -> str:
    return fault_server.create_user()


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def no_leaks(fault_server: LiveServer) -> Iterator[None]:
    """After the test: nothing lent out by the transport, file descriptors at the baseline."""
    db = fault_server.services.db
    if db.runs_sync:  # SQLite's writer connection (usage ledger) opens on first use: open it now
        fault_server.run(lambda: db.run_sync(lambda _conn: None, write=True))
    before = _open_fds()
    yield
    transport = fault_server.services.client.transport
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if getattr(transport, "in_use", 0) == 0 and _open_fds() <= before + 2:
            break
        time.sleep(0.05)
    assert getattr(transport, "in_use", 0) == 0
    assert _open_fds() <= before + 2, (before, _open_fds())


def _model(server: LiveServer, base_url: str) -> dict[str, Any]:
    body = {
        "name": unique("fault"),
        "provider": "openai",
        "base_url": base_url,
        "model_id": "fault-model",
        "api_key": "sk-" + uuid.uuid4().hex,
        "is_global": True,
        "price_per_input_token": "0.000001",
        "price_per_output_token": "0.000002",
    }
    with server.client(server.admin_token) as http:
        answer = http.post("/api/models", json=body)
    assert answer.status_code == 201, answer.text
    data: dict[str, Any] = answer.json()
    return data


def _ask(model: dict[str, Any], stream: bool = False) -> dict[str, Any]:
    return {
        "model": model["name"],
        "messages": [{"role": "user", "content": "hi"}],
        "stream": stream,
    }


def _post(server: LiveServer, token: str, body: dict[str, Any]) -> tuple[int, bytes, float]:
    started = time.monotonic()
    with server.client(token) as http:
        answer = http.post("/v1/chat/completions", json=body)
    return answer.status_code, answer.content, time.monotonic() - started


def _error(content: bytes) -> dict[str, Any]:
    error: dict[str, Any] = orjson.loads(content)["error"]
    assert error["message"]
    return error


@pytest.mark.usefixtures("no_leaks")
def test_a_5xx_storm_opens_the_breaker_and_later_calls_fail_fast(
    fault_server: LiveServer, caller: str, raw_upstream: RawUpstream
) -> None:
    async def storm(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await raw_upstream.read_request(reader)
        writer.write(http_head(500) + b'{"error": {"message": "boom", "type": "server_error"}}')

    raw_upstream.handler = storm
    model = _model(fault_server, raw_upstream.base_url)
    statuses = []
    for _ in range(4):
        status, content, elapsed = _post(fault_server, caller, _ask(model))
        statuses.append(status)
        _error(content)
        assert elapsed < WORST_CASE
    seen = len(raw_upstream.requests)
    assert statuses[0] == 502
    assert statuses[-1] == 503  # the breaker is open: no upstream call any more
    status, _, _ = _post(fault_server, caller, _ask(model))
    assert status == 503
    assert len(raw_upstream.requests) == seen
    events = usage_events(fault_server, model["id"], at_least=5)
    assert len(events) == 5
    assert {e.status for e in events} == {"error"}


@pytest.mark.usefixtures("no_leaks")
def test_429_with_retry_after_is_retried_then_answered(
    fault_server: LiveServer, caller: str, raw_upstream: RawUpstream
) -> None:
    async def throttled(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await raw_upstream.read_request(reader)
        if len(raw_upstream.requests) <= 2:
            writer.write(http_head(429, retry_after="0.2") + b'{"error": {"message": "slow"}}')
        else:
            writer.write(http_head() + completion("finally"))

    raw_upstream.handler = throttled
    model = _model(fault_server, raw_upstream.base_url)
    status, content, _ = _post(fault_server, caller, _ask(model))
    assert status == 200, content
    assert orjson.loads(content)["choices"][0]["message"]["content"] == "finally"
    assert len(raw_upstream.requests) == 3
    (event,) = usage_events(fault_server, model["id"])
    assert (event.status, event.input_tokens) == ("ok", USAGE["prompt_tokens"])


@pytest.mark.usefixtures("no_leaks")
def test_a_refused_connection_is_a_502_naming_it(fault_server: LiveServer, caller: str) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    model = _model(fault_server, f"http://127.0.0.1:{port}/v1")
    status, content, elapsed = _post(fault_server, caller, _ask(model))
    assert status == 502
    assert "cannot connect" in _error(content)["message"]
    assert elapsed < WORST_CASE
    (event,) = usage_events(fault_server, model["id"])
    assert event.status == "error"


@pytest.mark.usefixtures("no_leaks")
def test_accept_and_never_answer_times_out_within_the_configured_timeouts(
    fault_server: LiveServer, caller: str, raw_upstream: RawUpstream
) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await raw_upstream.read_request(reader)
        await asyncio.sleep(60)

    raw_upstream.handler = silent
    model = _model(fault_server, raw_upstream.base_url)
    status, content, elapsed = _post(fault_server, caller, _ask(model))
    assert status == 504
    assert _error(content)["code"] == "upstream_timeout"
    assert READ_TIMEOUT <= elapsed < WORST_CASE
    (event,) = usage_events(fault_server, model["id"])
    assert event.status == "error"


def _stream(server: LiveServer, token: str, body: dict[str, Any]) -> tuple[bytes, float]:
    started = time.monotonic()
    with (
        server.client(token) as http,
        http.stream("POST", "/v1/chat/completions", json=body) as answer,
    ):
        assert answer.status_code == 200
        return answer.read(), time.monotonic() - started


def _last_error(text: bytes) -> dict[str, Any]:
    last = text.rstrip().rsplit(b"\n\n", 1)[-1]
    assert last.startswith(b"data: {"), text[-300:]
    error: dict[str, Any] = orjson.loads(last[6:])["error"]
    return error


@pytest.mark.usefixtures("no_leaks")
@pytest.mark.parametrize("fault", ["reset", "stall"])
def test_a_stream_cut_mid_way_ends_with_an_error_event_and_is_booked(
    fault_server: LiveServer, caller: str, raw_upstream: RawUpstream, fault: str
) -> None:
    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await raw_upstream.read_request(reader)
        writer.write(http_head(content_type="text/event-stream"))
        writer.write(chunk({"role": "assistant", "content": "one "}))
        writer.write(chunk({"content": "two "}))
        await writer.drain()
        if fault == "reset":  # an RST, not a clean close
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        else:
            await asyncio.sleep(60)

    raw_upstream.handler = cut
    model = _model(fault_server, raw_upstream.base_url)
    text, elapsed = _stream(fault_server, caller, _ask(model, stream=True))
    assert b"one " in text
    assert b"two " in text
    assert _last_error(text)["message"]
    assert elapsed < TOTAL_TIMEOUT + 2
    (event,) = usage_events(fault_server, model["id"])
    assert event.status == "incomplete"
    assert event.estimated
    assert event.output_tokens > 0


@pytest.mark.usefixtures("no_leaks")
def test_a_trickling_upstream_within_the_read_timeout_is_relayed_whole(
    fault_server: LiveServer, caller: str, raw_upstream: RawUpstream
) -> None:
    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await raw_upstream.read_request(reader)
        writer.write(http_head(content_type="text/event-stream"))
        events = [
            chunk({"role": "assistant", "content": "slow"}),
            chunk({}, "stop"),
            sse_chunk({"id": "c1", "choices": [], "usage": USAGE}),
            sse_chunk(b"[DONE]"),
        ]
        body = b"".join(events)
        for i in range(0, len(body), 16):
            writer.write(body[i : i + 16])
            await writer.drain()
            await asyncio.sleep(0.02)

    raw_upstream.handler = trickle
    model = _model(fault_server, raw_upstream.base_url)
    text, _ = _stream(fault_server, caller, _ask(model, stream=True))
    assert text.rstrip().endswith(b"data: [DONE]")
    (event,) = usage_events(fault_server, model["id"])
    assert (event.status, event.output_tokens) == ("ok", USAGE["completion_tokens"])
