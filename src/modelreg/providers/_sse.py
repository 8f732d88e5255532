"""Incremental Server-Sent Events decoder (WHATWG event-stream rules).

Bytes may arrive split anywhere: inside a line, between `\\r` and `\\n`, inside a multi-byte
UTF-8 character. Lines end with LF, CRLF or a lone CR. Lines starting with `:` are comments
(OpenRouter keep-alives); several `data:` lines join with `\\n`; a blank line dispatches the
event. The decoder holds at most one event in memory and refuses absurdly large ones, so a
misbehaving upstream cannot make it grow without bound.

At the end of the body an event that was never closed by a blank line is still dispatched if
its lines were complete (some servers omit the final blank line); a half-received last line is
dropped and reported through `truncated`, so adapters can tell a cut-off stream from a clean
end.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

from modelreg.errors import UnexpectedResponseError

__all__ = ["MAX_EVENT_BYTES", "NotAnEventStreamError", "SSEDecoder", "SSEEvent", "iter_sse"]

# far above any real chat chunk; guards memory against a body that never sends a newline
MAX_EVENT_BYTES = 16 * 1024 * 1024

_CR = 0x0D
_LF = 0x0A
_LINE_END = re.compile(rb"[\r\n]")


_STRAY_LIMIT = 64 * 1024


class NotAnEventStreamError(UnexpectedResponseError):
    """The body had no SSE events at all, only other text (a JSON error body, an HTML page).
    `body` keeps the start of that text so the adapter can map a JSON error properly."""

    def __init__(self, message: str, *, body: bytes, provider: str = "", model: str = "") -> None:
        super().__init__(message, provider=provider, model=model)
        self.body = body


@dataclass(frozen=True, slots=True)
class SSEEvent:
    data: str
    event: str | None = None
    id: str | None = None


class SSEDecoder:
    """Feed raw bytes, get complete events. One instance per response body."""

    def __init__(self, *, provider: str = "", model: str = "") -> None:
        self._provider = provider
        self._model = model
        self._line = bytearray()  # the current, not yet terminated, line
        self._skip_lf = False  # the previous chunk ended with CR: a leading LF belongs to it
        self._data: list[str] = []
        self._event: str | None = None
        self._id: str | None = None
        self._event_bytes = 0
        self.truncated = False
        self.dispatched = 0
        # lines that are no SSE field (kept while no event came): an error body sent as JSON
        self.stray = bytearray()

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        events: list[SSEEvent] = []
        start = 0
        if self._skip_lf and chunk[:1] == b"\n":
            start = 1
        self._skip_lf = False
        for match in _LINE_END.finditer(chunk, start):
            end = match.start()
            if end < start:  # the LF of a CRLF already consumed below
                continue
            self._line += chunk[start:end]
            self._end_line(events)
            start = end + 1
            if chunk[end] == _CR:
                if start == len(chunk):
                    self._skip_lf = True
                elif chunk[start] == _LF:
                    start += 1
        if start < len(chunk):
            self._line += chunk[start:]
            if len(self._line) + self._event_bytes > MAX_EVENT_BYTES:
                raise self._error("an SSE event exceeds 16 MiB without a line break")
        return events

    def finish(self) -> list[SSEEvent]:
        """Call at the end of the body: flushes an event whose closing blank line never came."""
        self.truncated = bool(self._line)
        if self.dispatched == 0 and len(self.stray) < _STRAY_LIMIT:
            self.stray += self._line[: _STRAY_LIMIT - len(self.stray)]
        self._line.clear()
        events: list[SSEEvent] = []
        self._dispatch(events)
        return events

    # --- internals -----------------------------------------------------------------------

    def _end_line(self, events: list[SSEEvent]) -> None:
        raw = bytes(self._line)
        self._line.clear()
        if not raw:
            self._dispatch(events)
            return
        if raw[:1] == b":":  # comment / keep-alive
            return
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise self._error(f"an SSE line is not valid UTF-8 ({e.reason})") from e
        field, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if field == "data":
            self._data.append(value)
            self._event_bytes += len(raw)
            if self._event_bytes > MAX_EVENT_BYTES:
                raise self._error("an SSE event exceeds 16 MiB")
        elif field == "event":
            self._event = value
        elif field == "id" and "\0" not in value:
            self._id = value
        elif field != "retry" and self.dispatched == 0 and len(self.stray) < _STRAY_LIMIT:
            self.stray += raw[: _STRAY_LIMIT - len(self.stray)] + b"\n"
        # `retry` and unknown fields are ignored, as the spec says

    def _dispatch(self, events: list[SSEEvent]) -> None:
        if self._data or self._event is not None:
            events.append(SSEEvent(data="\n".join(self._data), event=self._event, id=self._id))
            self.dispatched += 1
        self._data = []
        self._event = None
        self._event_bytes = 0

    def _error(self, what: str) -> UnexpectedResponseError:
        return UnexpectedResponseError(
            f"malformed event stream: {what}", provider=self._provider, model=self._model
        )


async def iter_sse(
    chunks: AsyncIterator[bytes], *, provider: str = "", model: str = ""
) -> AsyncIterator[SSEEvent]:
    """Events from a body given as byte chunks (see the module docstring for the end rules)."""
    decoder = SSEDecoder(provider=provider, model=model)
    async for chunk in chunks:
        if chunk:
            for event in decoder.feed(chunk):
                yield event
    for event in decoder.finish():
        yield event
    if decoder.dispatched == 0 and decoder.stray.strip():
        raise NotAnEventStreamError(
            "the response is not an event stream",
            body=bytes(decoder.stray),
            provider=provider,
            model=model,
        )
