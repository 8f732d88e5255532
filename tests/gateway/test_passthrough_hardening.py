"""The OpenAI byte pass-through against upstreams that misbehave, over real sockets: an event
that never ends, a key echoed back, a 200 that is no completion, a body cut short, a client
that leaves before the usage frame. Each runs on the fast path and on the route
(tests/gateway/conftest.py)."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.fixtures.raw_upstream import RawUpstream, http_head, sse_chunk
from tests.fixtures.server import LiveServer
from tests.gateway.helpers import unique, usage_events

MiB = 1024 * 1024


def company_model(server: LiveServer, upstream: RawUpstream, api_key: str) -> dict[str, Any]:
    """A company (global) OpenAI-compatible model on the raw upstream, usable by everyone."""
    body = {
        "name": unique("raw"),
        "provider": "openai",
        "base_url": upstream.base_url,
        "model_id": "raw-model",
        "api_key": api_key,
        "is_global": True,
        "price_per_input_token": "0.000001",
        "price_per_output_token": "0.000002",
    }
    with server.client(server.admin_token) as http:
        answer = http.post("/api/models", json=body)
    assert answer.status_code == 201, answer.text
    data: dict[str, Any] = answer.json()
    return data


def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return sse_chunk({"id": "c1", "object": "chat.completion.chunk", "choices": [choice], **extra})


USAGE = {"prompt_tokens": 11, "completion_tokens": 22, "total_tokens": 33}


def completion(content: str) -> bytes:
    return orjson.dumps(
        {
            "id": "c1",
            "object": "chat.completion",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": USAGE,
        }
    )


def ask(model: dict[str, Any], *, stream: bool) -> dict[str, Any]:
    return {
        "model": model["name"],
        "messages": [{"role": "user", "content": "hello there"}],
        "stream": stream,
    }


# --- an event without end ------------------------------------------------------------------


def _rss_peak_reset() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/self/status")


def _health_latencies(server: LiveServer, stop: threading.Event, out: list[float]) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        while not stop.is_set():
            started = time.perf_counter()
            assert http.get("/healthz").status_code == 200
            out.append(time.perf_counter() - started)
            time.sleep(0.005)


def test_32_mib_without_an_event_boundary_ends_the_stream_and_stalls_nothing(
    live_server: LiveServer, user: str, raw_upstream: RawUpstream
) -> None:
    """The relay holds one unfinished event at most (16 MiB, the decoder's cap) and searches
    each chunk once: the client gets the documented error, /healthz keeps answering, and the
    worker's memory does not grow with the flood. (Timing is judged against /healthz measured
    just before in the same run, with 100 ms as the floor the issue asks for.)"""
    model = company_model(live_server, raw_upstream, "sk-" + uuid.uuid4().hex)
    block = b"a" * (64 * 1024)

    async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await raw_upstream.read_request(reader)
        writer.write(http_head(content_type="text/event-stream"))
        writer.write(chunk({"role": "assistant", "content": "x"}))
        for _ in range(32 * MiB // len(block)):
            writer.write(block)
            await writer.drain()

    raw_upstream.handler = flood
    baseline: list[float] = []
    _health_latencies_for(live_server, baseline, seconds=0.5)
    _rss_peak_reset()
    rss_before = _status_kib("VmRSS")
    during: list[float] = []
    stop = threading.Event()
    pinger = threading.Thread(target=_health_latencies, args=(live_server, stop, during))
    pinger.start()
    try:
        with (
            live_server.client(user) as http,
            http.stream("POST", "/v1/chat/completions", json=ask(model, stream=True)) as answer,
        ):
            assert answer.status_code == 200
            text = answer.read()
    finally:
        stop.set()
        pinger.join()
    grown_mib = (_status_kib("VmHWM") - rss_before) / 1024
    last = text.rstrip().rsplit(b"\n\n", 1)[-1]
    assert last.startswith(b"data: "), text[-300:]
    error = orjson.loads(last[6:])["error"]
    assert "exceeds 16 MiB without an event boundary" in error["message"]
    assert b"a" * 1024 not in text  # none of the unfinished event was relayed
    assert grown_mib < 64, f"the worker grew by {grown_mib:.0f} MiB"
    assert during, "no /healthz answered while the flood was relayed"
    assert max(during) < max(0.1, 10 * max(baseline)), (max(during), max(baseline))
    (event,) = usage_events(live_server, model["id"])
    assert event.status == "incomplete"


def _health_latencies_for(server: LiveServer, out: list[float], *, seconds: float) -> None:
    stop = threading.Event()
    threading.Timer(seconds, stop.set).start()
    _health_latencies(server, stop, out)


# --- the model's key echoed back -------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_a_key_the_upstream_echoes_is_masked_in_relayed_bytes(
    live_server: LiveServer, user: str, raw_upstream: RawUpstream, stream: bool
) -> None:
    key = "sk-ECHO" + uuid.uuid4().hex
    model = company_model(live_server, raw_upstream, key)
    said = f"I was called with Bearer {key}"

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await raw_upstream.read_request(reader)
        if not stream:
            writer.write(http_head() + completion(said))
            return
        writer.write(http_head(content_type="text/event-stream"))
        event = chunk({"role": "assistant", "content": said})
        cut = event.index(key.encode()) + 10  # the key split across two TCP segments
        writer.write(event[:cut])
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(event[cut:])
        error = {"error": {"message": f"upstream says: Bearer {key}"}}
        writer.write(sse_chunk(error))
        writer.write(chunk({}, "stop") + sse_chunk(b"[DONE]"))

    raw_upstream.handler = echo
    with live_server.client(user) as http:
        answer = http.post("/v1/chat/completions", json=ask(model, stream=stream))
    assert answer.status_code == 200, answer.text
    assert key not in answer.text
    assert key[:12] not in answer.text
    assert "Bearer ****" in answer.text
    assert key not in str(answer.headers)


# --- a 200 that is no completion -------------------------------------------------------------

BAD_BODIES = {
    "html": (http_head(content_type="text/html") + b"<html><body>Bad gateway</body></html>"),
    "empty": http_head() + b"",
    "error_json": http_head() + orjson.dumps({"error": {"message": "model overloaded"}}),
    "a_stream": http_head(content_type="text/event-stream") + chunk({"content": "hi"}),
    "cut_after_headers": (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"
    ),
}


@pytest.mark.parametrize("kind", sorted(BAD_BODIES))
def test_a_200_that_is_no_completion_is_a_502_booked_as_an_error(
    live_server: LiveServer, user: str, raw_upstream: RawUpstream, kind: str
) -> None:
    model = company_model(live_server, raw_upstream, "sk-" + uuid.uuid4().hex)

    async def answer_badly(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await raw_upstream.read_request(reader)
        writer.write(BAD_BODIES[kind])

    raw_upstream.handler = answer_badly
    with live_server.client(user) as http:
        answer = http.post("/v1/chat/completions", json=ask(model, stream=False))
    assert answer.status_code == 502, answer.text
    error = answer.json()["error"]
    assert error["message"]
    (event,) = usage_events(live_server, model["id"])
    assert event.status == "error"


@pytest.mark.parametrize("content_type", ["application/json", "text/html"])
def test_a_stream_request_answered_without_a_stream_is_a_502_before_any_byte(
    live_server: LiveServer, user: str, raw_upstream: RawUpstream, content_type: str
) -> None:
    model = company_model(live_server, raw_upstream, "sk-" + uuid.uuid4().hex)
    body = completion("hi") if content_type == "application/json" else b"<html>oops</html>"

    async def answer_flat(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await raw_upstream.read_request(reader)
        writer.write(http_head(content_type=content_type) + body)

    raw_upstream.handler = answer_flat
    with live_server.client(user) as http:
        answer = http.post("/v1/chat/completions", json=ask(model, stream=True))
    assert answer.status_code == 502, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    (event,) = usage_events(live_server, model["id"])
    assert event.status == "error"


# --- a client that leaves before the usage frame ---------------------------------------------


def _read_until_finish(server: LiveServer, token: str, body: dict[str, Any]) -> str:
    """Read the stream up to the chunk with a finish_reason, then hang up."""
    text = ""
    with (
        server.client(token) as http,
        http.stream("POST", "/v1/chat/completions", json=body) as answer,
    ):
        assert answer.status_code == 200
        for line in answer.iter_lines():
            if line.startswith("data: {"):
                choice = orjson.loads(line[6:])["choices"][0]
                text += choice["delta"].get("content") or ""
                if choice.get("finish_reason"):
                    break
    return text


@pytest.mark.parametrize("usage_comes", [True, False])
def test_a_client_that_leaves_before_the_usage_frame_is_still_billed(
    live_server: LiveServer, user: str, raw_upstream: RawUpstream, usage_comes: bool
) -> None:
    model = company_model(live_server, raw_upstream, "sk-" + uuid.uuid4().hex)

    async def slow_usage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await raw_upstream.read_request(reader)
        writer.write(http_head(content_type="text/event-stream"))
        writer.write(chunk({"role": "assistant", "content": ""}))
        for word in ("one ", "two ", "three ", "four"):
            writer.write(chunk({"content": word}))
        writer.write(chunk({}, "stop"))
        await writer.drain()
        await asyncio.sleep(0.5)  # the client is gone by now
        if usage_comes:
            writer.write(sse_chunk({"id": "c1", "choices": [], "usage": USAGE}))
            await writer.drain()
            # the end comes in a later read (as it may under load): the answer is complete
            # only once `[DONE]` is seen, so the drain must not stop at the usage frame
            await asyncio.sleep(0.2)
            writer.write(sse_chunk(b"[DONE]"))
            await writer.drain()
        else:
            await asyncio.sleep(10)  # stalls: the grace runs out

    raw_upstream.handler = slow_usage
    assert _read_until_finish(live_server, user, ask(model, stream=True)) == "one two three four"
    events = _wait_for_usage(live_server, model["id"])
    (event,) = events
    if usage_comes:
        assert (event.input_tokens, event.output_tokens) == (11, 22)
        assert event.status == "ok"
        assert not event.estimated
        assert event.cost > 0
    else:
        assert event.estimated
        assert event.input_tokens > 0
        assert event.output_tokens >= 4
        assert event.cost > 0


def _wait_for_usage(server: LiveServer, model_id: str) -> list[Any]:
    """The booking comes after the grace (2 s) at most: wait up to 8 s for it."""
    deadline = time.monotonic() + 8
    while True:
        events = usage_events(server, model_id, at_least=1)
        if events or time.monotonic() > deadline:
            return events
