"""The upstream HTTP/1.1 connection: an asyncio protocol whose responses httptools parses.

This is the wire under every provider call, so it is ours and small (docs/decisions.md, "The
upstream HTTP client"): measured on one core, aiohttp's client cost 0.28-0.33 ms of CPU per
proxied request and this one 0.09 ms, which was most of what the gateway adds to a call.
httptools (llhttp, the parser uvicorn already uses) does the parsing: status line, headers,
Content-Length, chunked encoding, keep-alive rules.

One `Connection` carries one request at a time. The body is handed over in the pieces the
socket delivers (nothing is collected first: streams stay streams); reading pauses when more
than `_HIGH_WATER` bytes wait unread, so a slow consumer slows the upstream instead of filling
memory. Pooling, timeouts, name resolution and the SSRF guard live in transport.py.
"""

from __future__ import annotations

import asyncio
import re
import zlib
from collections import deque
from collections.abc import Iterator, Mapping
from typing import Final

import httptools

__all__ = ["Connection", "Headers", "ProtocolError", "request_head"]

_HIGH_WATER: Final = 256 * 1024  # unread body bytes at which reading from the socket pauses
_LOW_WATER: Final = 64 * 1024
_NO_BODY_STATUS: Final = frozenset({204, 304})
_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 field names


class ProtocolError(ConnectionError):
    """The upstream's answer is not valid HTTP/1.1 (or the connection ended mid-answer)."""


class Headers(Mapping[str, str]):
    """Response headers, looked up case-insensitively. A repeated header's values are joined
    with ", " (RFC 9110 5.3). `repr` shows the names only."""

    __slots__ = ("_items",)

    def __init__(self, pairs: list[tuple[bytes, bytes]]) -> None:
        items: dict[str, str] = {}
        for raw_name, raw_value in pairs:
            name = raw_name.decode("latin-1").lower()
            value = raw_value.decode("latin-1")
            items[name] = f"{items[name]}, {value}" if name in items else value
        self._items = items

    def __getitem__(self, key: str) -> str:
        return self._items[key.lower()]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({sorted(self._items)})"


def request_head(
    method: str,
    target: bytes,
    host: bytes,
    headers: Mapping[str, str],
    content_length: int | None = None,
) -> bytes:
    """The request line and headers, ending in the blank line; `content_length` replaces any
    Content-Length in `headers`. A header name that is not an HTTP token, or a value with a
    CR, LF or NUL (a pasted key with a newline, say), would split the request: ValueError."""
    lines = [method.encode("ascii"), b" ", target, b" HTTP/1.1\r\nHost: ", host, b"\r\n"]
    for name, value in headers.items():
        if _TOKEN.fullmatch(name) is None or "\r" in value or "\n" in value or "\0" in value:
            raise ValueError(f"the header {name!r} contains a character HTTP does not allow")
        if content_length is not None and name.lower() == "content-length":
            continue
        lines += (name.encode("latin-1"), b": ", value.encode("utf-8"), b"\r\n")
    if content_length is not None:
        lines.append(b"Content-Length: %d\r\n" % content_length)
    lines.append(b"\r\n")
    return b"".join(lines)


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class Connection(asyncio.Protocol):
    """One keep-alive connection to an upstream. `send` starts a request; then `wait_headers`,
    then `next_chunk` until it returns None (the body's end)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._chunks: deque[bytes] = deque()
        self._pairs: list[tuple[bytes, bytes]] = []
        self._buffered = 0
        self._paused = False
        self._until_eof = False
        self._decoder: zlib._Decompress | None = None
        self.status = 0
        self.headers: Headers = Headers([])
        self.headers_complete = False
        self.message_complete = False
        self.keep_alive = False
        self.received = False  # any byte of the current answer arrived
        self.in_flight = False
        self.error: BaseException | None = None
        self.lost = False
        self.closed = False  # the socket is closed (connection_lost ran)
        self._closed_waiter: asyncio.Future[None] | None = None
        self.idle_since = 0.0
        self.requests = 0  # requests sent on this connection

    # --- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if not self.in_flight:
            # an idle connection must stay silent; whatever this is, it cannot be trusted
            self.lost = True
            self.abort()
            return
        self.received = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as e:
            self._fail(ProtocolError(f"malformed HTTP response: {e}"))
            self.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.closed = True
        if self._closed_waiter is not None and not self._closed_waiter.done():
            self._closed_waiter.set_result(None)
        if self.in_flight and not self.message_complete:
            if self.headers_complete and self._until_eof:
                self._finish()  # a body delimited by the end of the connection
            else:
                self._fail(ProtocolError("the upstream closed the connection mid-answer"))
        self._wake()

    # --- httptools callbacks -------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self._pairs.append((name, value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200:  # an interim answer (we never send Expect): skip it
            self._pairs = []
            return
        self.status = status
        self.headers = headers = Headers(self._pairs)
        self.headers_complete = True
        self._until_eof = (
            status not in _NO_BODY_STATUS
            and "content-length" not in headers
            and "transfer-encoding" not in headers
        )
        encoding = headers.get("content-encoding", "").strip().lower()
        if encoding in ("gzip", "x-gzip", "deflate"):
            # we never ask for compression; an upstream that compresses anyway is decoded
            self._decoder = zlib.decompressobj(wbits=47)  # gzip or zlib header, detected
        elif encoding not in ("", "identity"):
            self._fail(ProtocolError(f"unsupported content-encoding {encoding!r}"))
            self.abort()
        self._wake()

    def on_body(self, body: bytes) -> None:
        if self._decoder is not None:
            try:
                body = self._decoder.decompress(body)
            except zlib.error as e:
                self._fail(ProtocolError(f"the compressed body is damaged: {e}"))
                self.abort()
                return
            if not body:
                return
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > _HIGH_WATER and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if not self.headers_complete:
            return  # the end of an interim (1xx) answer
        self.keep_alive = self._parser.should_keep_alive()
        self._finish()

    # --- used by the transport -----------------------------------------------------------

    def send(self, head: bytes, body: bytes | None) -> None:
        """Start a request (the previous answer must have been read to its end)."""
        self._chunks.clear()
        self._pairs = []
        self._buffered = 0
        self._until_eof = False
        self._decoder = None
        self.status = 0
        self.headers_complete = self.message_complete = self.keep_alive = False
        self.received = False
        self.error = None
        self.in_flight = True
        self.requests += 1
        assert self.transport is not None  # connected before use
        self.transport.write(head + body if body else head)

    async def wait_headers(self, within: float) -> None:
        while not self.headers_complete:
            if self.error is not None:
                raise self.error
            await self._wait(within)

    def ready_chunk(self) -> bytes | None:
        """A body piece that is already here, or None."""
        if not self._chunks:
            return None
        chunk = self._chunks.popleft()
        self._buffered -= len(chunk)
        if self._paused and self._buffered < _LOW_WATER and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return chunk

    async def next_chunk(self, within: float) -> bytes | None:
        """The next piece of the body as it arrived, or None at its end."""
        while True:
            chunk = self.ready_chunk()
            if chunk is not None:
                return chunk
            if self.message_complete:
                return None
            if self.error is not None:
                raise self.error
            await self._wait(within)

    @property
    def reusable(self) -> bool:
        """The answer was read to its end and both sides keep the connection open."""
        return (
            self.message_complete
            and self.keep_alive
            and not self._chunks
            and not self.lost
            and self.transport is not None
            and not self.transport.is_closing()
        )

    def release(self, now: float) -> None:
        self.in_flight = False
        self.idle_since = now

    def abort(self) -> None:
        """Close at once: unsent data is dropped, the upstream sees the connection go (which
        is what tells it to stop generating)."""
        self.lost = True
        if self.transport is not None:
            self.transport.abort()

    async def wait_closed(self) -> None:
        """Until the socket is closed: `abort` only schedules that for the loop's next turn."""
        if self.closed or self.transport is None:
            return
        if self._closed_waiter is None:
            self._closed_waiter = self._loop.create_future()
        await self._closed_waiter

    # --- internals -----------------------------------------------------------------------

    def _finish(self) -> None:
        if self._decoder is not None:
            rest = self._decoder.flush()
            if rest:
                self._chunks.append(rest)
                self._buffered += len(rest)
            self._decoder = None
        self.message_complete = True
        self._wake()

    def _fail(self, error: BaseException) -> None:
        if self.error is None:
            self.error = error
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _wait(self, within: float) -> None:
        """Until the protocol has news (data, end, error), at most `within` seconds (a timer
        on the loop: cheaper than `asyncio.timeout`, which this runs for every read)."""
        waiter = self._loop.create_future()
        self._waiter = waiter
        timer = self._loop.call_later(within, _expire, waiter)
        try:
            await waiter
        finally:
            self._waiter = None
            timer.cancel()
