"""The transport seam: what the client needs from whatever carries its requests.

`HttpTransport` (transport.py) is the real one; `MockTransport` (mock_transport.py) answers
from a function, in memory, so client and gateway logic can be tested without sockets — in
the manner of httpx's `BaseTransport` / `MockTransport`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Final, Protocol

from modelreg.providers.base import HttpRequest

__all__ = ["MAX_BODY", "MAX_ERROR_BODY", "Timeouts", "Transport", "UpstreamBody"]

# Error bodies are read whole to map them; more than this is not an error message any more.
MAX_ERROR_BODY: Final = 256 * 1024
MAX_BODY: Final = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect: float = 5.0  # getting a connection: pool wait + DNS + TCP + TLS
    read: float = 300.0  # between two reads of the answer (its headers included)
    total: float = 600.0  # the whole exchange, streamed body included


class UpstreamBody(Protocol):
    """An upstream answer whose head has arrived and whose body is still unread."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def complete(self) -> bool:
        """The body was read to its end."""
        ...

    async def read(self, limit: int = MAX_BODY) -> bytes: ...

    def iter_chunks(self) -> AsyncIterator[bytes]: ...


class Transport(Protocol):
    def open(
        self,
        request: HttpRequest,
        *,
        allow_private: bool,
        provider: str = "",
        model: str = "",
        timeouts: Timeouts | None = None,
    ) -> AbstractAsyncContextManager[UpstreamBody]:
        """Send `request`; the body is read inside the `async with`. Errors leave as our
        `ProviderError`s (connection, timeout, SSRF refusal)."""
        ...

    async def aclose(self) -> None: ...
