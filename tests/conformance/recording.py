"""A recording upstream for the conformance suite: it keeps every request exactly as it
arrived (method, path, headers, body) and answers with replies written from the providers'
official API references (tests/conformance/replies.py), not from our simulators, which share
our assumptions.

    recording.expect(Reply.json(replies.anthropic_message()))   # the next answer, in order
    recording.expect(Reply.sse(replies.anthropic_stream_events()))
    ... drive an official SDK through the gateway ...
    call = recording.last                                       # what the upstream received
    call.body["system"], call.headers["anthropic-beta"]

Without a scripted reply it answers a plain success in the format the path asks for
(`/chat/completions`, `/messages`, `/embeddings`, Ollama's `/api/chat` and `/api/embed`),
streamed when the body says `"stream": true` (Ollama: unless it says false). It runs on
its own thread and event loop: a stalled gateway cannot stall it.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest

from tests.conformance import replies

__all__ = ["Call", "RecordingUpstream", "Reply", "recording"]


@dataclass(frozen=True)
class Call:
    """One request as the upstream saw it."""

    method: str
    path: str  # with the query string, as sent
    headers: dict[str, str]  # names lower-cased
    raw: bytes

    @property
    def body(self) -> dict[str, Any]:
        data = orjson.loads(self.raw) if self.raw else {}
        assert isinstance(data, dict), data
        return data


@dataclass(frozen=True)
class Reply:
    """One scripted answer: a status, headers, and either a body or SSE events sent one by
    one (`delay` seconds apart, flushed each time, so a stream is never one write)."""

    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    events: tuple[bytes, ...] | None = None
    delay: float = 0.0

    @classmethod
    def json(cls, data: Any, status: int = 200, **headers: str) -> Reply:
        return cls(status, _headers("application/json", headers), orjson.dumps(data))

    @classmethod
    def sse(cls, events: Sequence[bytes], delay: float = 0.0, **headers: str) -> Reply:
        return cls(200, _headers("text/event-stream", headers), events=tuple(events), delay=delay)

    @classmethod
    def ndjson(cls, lines: Sequence[bytes], delay: float = 0.0) -> Reply:
        """Ollama's stream: one JSON object a line, each written on its own."""
        return cls(200, _headers("application/x-ndjson", {}), events=tuple(lines), delay=delay)


def _headers(content_type: str, extra: dict[str, str]) -> tuple[tuple[str, str], ...]:
    # keyword arguments name headers with underscores: x_ratelimit_limit_requests
    named = ((name.replace("_", "-"), value) for name, value in extra.items())
    return (("content-type", content_type), *named)


@dataclass
class RecordingUpstream:
    port: int = 0
    calls: list[Call] = field(default_factory=list)
    _script: deque[Reply] = field(default_factory=deque)

    @property
    def url(self) -> str:
        """The base URL to register a model with (the adapters add /v1 where needed)."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def last(self) -> Call:
        assert self.calls, "the upstream received no request"
        return self.calls[-1]

    def expect(self, *replies_: Reply) -> None:
        """Answer the next requests with these replies, in order."""
        self._script.extend(replies_)

    def _next_reply(self, call: Call) -> Reply:
        if self._script:
            return self._script.popleft()
        return _default_reply(call)


def _default_reply(call: Call) -> Reply:
    body = call.body if call.raw else {}
    stream = bool(body.get("stream"))
    model = str(body.get("model") or "upstream-model")
    path = call.path.split("?")[0]
    if path == "/api/chat":  # Ollama native: streams unless told not to
        if body.get("stream", True):
            return Reply.ndjson(replies.ollama_stream_lines(model=model))
        return Reply.json(replies.ollama_chat(model=model))
    if path == "/api/embed":
        return Reply.json(replies.ollama_embed(body.get("input"), model=model))
    if call.path.split("?")[0].endswith("/messages"):
        if stream:
            return Reply.sse(replies.anthropic_stream_events(model=model))
        return Reply.json(replies.anthropic_message(model=model))
    if call.path.split("?")[0].endswith("/embeddings"):
        return Reply.json(replies.openai_embeddings(body.get("input"), model=model))
    if stream:
        return Reply.sse(replies.openai_stream_events(model=model))
    return Reply.json(replies.openai_completion(model=model))


async def _read_call(reader: asyncio.StreamReader) -> Call | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        raw = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            raw += chunk[:-2]
    else:
        raw = await reader.readexactly(int(headers.get("content-length", "0")))
    return Call(method, path, headers, raw)


async def _answer(writer: asyncio.StreamWriter, reply: Reply) -> bool:
    """Write `reply`; True when the connection may serve another request."""
    head = [f"HTTP/1.1 {reply.status} X"]
    head += [f"{name}: {value}" for name, value in reply.headers]
    if reply.events is None:
        head.append(f"content-length: {len(reply.body)}")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + reply.body)
        await writer.drain()
        return True
    head += ["cache-control: no-cache", "connection: close"]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
    await writer.drain()
    for event in reply.events:
        if reply.delay:
            await asyncio.sleep(reply.delay)
        writer.write(event)
        await writer.drain()
    return False


@pytest.fixture
def recording() -> Iterator[RecordingUpstream]:
    upstream = RecordingUpstream()
    ready = threading.Event()
    stopped: asyncio.Future[None] | None = None
    loop_box: list[asyncio.AbstractEventLoop] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while (call := await _read_call(reader)) is not None:
                upstream.calls.append(call)
                if not await _answer(writer, upstream._next_reply(call)):
                    break
        except ConnectionError:
            pass  # the gateway hung up
        finally:
            writer.close()

    async def main() -> None:
        nonlocal stopped
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        upstream.port = server.sockets[0].getsockname()[1]
        loop_box.append(asyncio.get_running_loop())
        stopped = asyncio.get_running_loop().create_future()
        ready.set()
        async with server:
            await stopped

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(10), "the recording upstream did not start"
    yield upstream
    loop_box[0].call_soon_threadsafe(lambda: stopped is not None and stopped.set_result(None))
    thread.join(10)
