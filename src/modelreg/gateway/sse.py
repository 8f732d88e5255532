"""Server-Sent Events on our side of the wire: the one frame writer, and the bounded framer
the pass-through relays upstream bytes with.

The framer splits relayed bytes into blocks of complete events (a blank line ends one) without
decoding them. Each chunk is searched once, with three bytes of look-back for a boundary split
across chunks, so the work is linear in the bytes relayed; at most one unfinished event is
held, and one over `MAX_EVENT_BYTES` (the decoder's cap, providers/_sse.py) ends the stream
with `EventTooLargeError` instead of holding the event loop and the memory.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from modelreg.errors import UnexpectedResponseError
from modelreg.providers._sse import MAX_EVENT_BYTES

__all__ = ["EventFramer", "EventTooLargeError", "sse_frame"]

_LOOK_BACK: Final = 3  # len(b"\r\n\r\n") - 1


def sse_frame(data: Any, event: str | None = None) -> bytes:
    """One event: `data` as JSON (bytes are sent as they are), named when `event` is given."""
    payload = data if isinstance(data, bytes) else orjson.dumps(data)
    if event is None:
        return b"data: " + payload + b"\n\n"
    return b"event: " + event.encode() + b"\ndata: " + payload + b"\n\n"


class EventTooLargeError(UnexpectedResponseError):
    """The upstream sent more than MAX_EVENT_BYTES without an event boundary."""


def _last_event_end(buf: bytes) -> int:
    """End (exclusive) of the last complete SSE event in `buf`, or -1."""
    lf = buf.rfind(b"\n\n")
    crlf = buf.rfind(b"\r\n\r\n")
    return max(lf + 2 if lf != -1 else -1, crlf + 4 if crlf != -1 else -1)


class EventFramer:
    """Feed relayed chunks; get back the complete events ready to pass on (maybe b"")."""

    __slots__ = ("_limit", "_model", "_parts", "_provider", "_size", "_tail")

    def __init__(
        self, *, provider: str = "", model: str = "", limit: int = MAX_EVENT_BYTES
    ) -> None:
        self._provider = provider
        self._model = model
        self._limit = limit
        self._parts: list[bytes] = []  # the unfinished event, as received
        self._size = 0
        self._tail = b""  # its last bytes, to find a boundary that spans two chunks

    def feed(self, chunk: bytes) -> bytes:
        look = self._tail + chunk if self._tail else chunk
        end = _last_event_end(look)
        if end == -1:
            self._hold(chunk)
            return b""
        cut = end - len(self._tail)  # > 0: the held bytes themselves had no boundary
        if self._parts:
            self._parts.append(chunk[:cut])
            ready = b"".join(self._parts)
        else:
            ready = chunk if cut == len(chunk) else chunk[:cut]
        self._parts, self._size, self._tail = [], 0, b""
        if cut < len(chunk):
            self._hold(chunk[cut:])
        return ready

    @property
    def pending(self) -> int:
        """Bytes held that do not end an event yet."""
        return self._size

    def _hold(self, data: bytes) -> None:
        self._parts.append(data)
        self._size += len(data)
        if self._size > self._limit:
            self._parts, self._size, self._tail = [], 0, b""
            raise EventTooLargeError(
                f"{self._model}: malformed event stream: an SSE event exceeds "
                f"{self._limit // (1024 * 1024)} MiB without an event boundary",
                provider=self._provider,
                model=self._model,
            )
        self._tail = (self._tail + data)[-_LOOK_BACK:]
