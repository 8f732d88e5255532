"""Incremental newline-delimited JSON decoder (Ollama's native stream).

One JSON value per line; blank lines are skipped; CRLF is tolerated. A complete line that is
not JSON is a malformed response. A last line without its newline is accepted when it parses
(a server that forgot the final newline) and reported as a cut-off stream when it does not.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from modelreg.errors import StreamInterruptedError, UnexpectedResponseError

__all__ = ["MAX_LINE_BYTES", "NDJSONDecoder", "iter_ndjson"]

MAX_LINE_BYTES = 16 * 1024 * 1024


class NDJSONDecoder:
    def __init__(self, *, provider: str = "", model: str = "") -> None:
        self._provider = provider
        self._model = model
        self._buffer = bytearray()

    def feed(self, chunk: bytes) -> list[Any]:
        # only the new bytes can hold a newline: keeps long lines linear, not quadratic
        search_from = len(self._buffer)
        self._buffer += chunk
        values: list[Any] = []
        start = 0
        while (end := self._buffer.find(b"\n", max(start, search_from))) != -1:
            line = bytes(self._buffer[start:end])
            start = end + 1
            value = self._parse(line)
            if value is not _BLANK:
                values.append(value)
        del self._buffer[:start]
        if len(self._buffer) > MAX_LINE_BYTES:
            raise self._unexpected("a line exceeds 16 MiB")
        return values

    def finish(self) -> list[Any]:
        rest = bytes(self._buffer)
        self._buffer.clear()
        if not rest.strip():
            return []
        try:
            value = self._parse(rest)
        except UnexpectedResponseError as e:
            raise StreamInterruptedError(
                "the stream ended in the middle of a JSON line",
                provider=self._provider,
                model=self._model,
            ) from e
        return [] if value is _BLANK else [value]

    def _parse(self, line: bytes) -> Any:
        line = line.strip()
        if not line:
            return _BLANK
        try:
            return orjson.loads(line)
        except orjson.JSONDecodeError as e:
            raise self._unexpected(f"a stream line is not valid JSON ({e})") from e

    def _unexpected(self, what: str) -> UnexpectedResponseError:
        return UnexpectedResponseError(
            f"malformed NDJSON stream: {what}", provider=self._provider, model=self._model
        )


_BLANK: Any = object()


async def iter_ndjson(
    chunks: AsyncIterator[bytes], *, provider: str = "", model: str = ""
) -> AsyncIterator[Any]:
    decoder = NDJSONDecoder(provider=provider, model=model)
    async for chunk in chunks:
        for value in decoder.feed(chunk):
            yield value
    for value in decoder.finish():
        yield value
