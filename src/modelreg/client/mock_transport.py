"""An in-memory transport for tests: each request is answered by a function.

    def handler(request: HttpRequest) -> MockResponse:
        return MockResponse(200, body=b'{"choices": []}')

    client = UnifiedLLMClient(transport=MockTransport(handler))

The handler may be async, may raise one of our `ProviderError`s (a refused connection, a
timeout), and may stream: `MockResponse(200, chunks=[b"data: ...\\n\\n", ...])`. Every
request is kept in `requests`, so a test can assert what went out.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from modelreg.client.transport_api import MAX_BODY, Timeouts, UpstreamBody
from modelreg.providers.base import HttpRequest

__all__ = ["MockResponse", "MockTransport"]

Handler = Callable[[HttpRequest], "MockResponse | Awaitable[MockResponse]"]


@dataclass(slots=True)
class MockResponse:
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    # a streamed body: these chunks, in order, instead of `body`
    chunks: Iterable[bytes] | AsyncIterator[bytes] | None = None
    complete: bool = False

    async def read(self, limit: int = MAX_BODY) -> bytes:
        parts = [chunk async for chunk in self.iter_chunks()]
        return b"".join(parts)[:limit]

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        source = self.chunks if self.chunks is not None else ([self.body] if self.body else [])
        if isinstance(source, AsyncIterator):
            async for chunk in source:
                yield chunk
        else:
            for chunk in source:
                yield chunk
        self.complete = True


class MockTransport:
    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.requests: list[HttpRequest] = []
        self.closed = False

    @asynccontextmanager
    async def open(
        self,
        request: HttpRequest,
        *,
        allow_private: bool,
        provider: str = "",
        model: str = "",
        timeouts: Timeouts | None = None,
    ) -> AsyncIterator[UpstreamBody]:
        self.requests.append(request)
        answer = self._handler(request)
        if inspect.isawaitable(answer):
            answer = await answer
        yield answer

    async def aclose(self) -> None:
        self.closed = True
