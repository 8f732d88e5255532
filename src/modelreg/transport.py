"""The one pooled HTTP client for upstream calls (aiohttp; docs/decisions.md says why).

One `ClientSession` per process and event loop, created lazily inside the running loop: keep-
alive connections, a DNS cache, one TLS context. Two connectors in fact, because the SSRF guard
is per connector: requests for models that may reach private addresses use the "trusted" pool,
all others the "guarded" one, so a pooled connection to an internal host can never be handed
to a request that was not allowed to open it.

Every aiohttp / OS error leaves this module as a `ProviderConnectionError` (reason "connect",
"dns", "tls", "disconnected"), `ProviderTimeoutError` (reason "timeout") or `UnsafeURLError`;
error messages name the host, never the path or query (which may carry credentials).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Final

import aiohttp
from aiohttp.abc import AbstractResolver
from yarl import URL

from modelreg import netguard
from modelreg.errors import (
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    UnsafeURLError,
)
from modelreg.providers.base import HttpRequest

__all__ = ["HttpTransport", "Timeouts", "UpstreamResponse", "map_transport_error"]

# Error bodies are read whole to map them; more than this is not an error message any more.
MAX_ERROR_BODY: Final = 256 * 1024
MAX_BODY: Final = 64 * 1024 * 1024
_MAX_CHECKED_URLS: Final = 10_000


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect: float = 5.0  # getting a connection: pool wait + DNS + TCP + TLS
    read: float = 300.0  # between two reads of the body
    total: float = 600.0  # the whole exchange, streamed body included

    def to_aiohttp(self) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(
            total=self.total, connect=self.connect, sock_connect=self.connect, sock_read=self.read
        )


def _where(url: str | URL) -> str:
    u = url if isinstance(url, URL) else URL(url)
    return f"{u.scheme}://{u.host}:{u.port}" if u.host else "the upstream"


def map_transport_error(
    exc: BaseException, *, url: str, provider: str = "", model: str = ""
) -> ProviderError:
    """Turn an aiohttp / OS / asyncio error into our tree. Never includes the URL's path."""
    where = _where(url)
    if isinstance(exc, ProviderError):
        return exc
    if _caused_by(exc, netguard.UnsafeAddressError):
        return UnsafeURLError(
            f"{where}: connection refused by the SSRF guard", provider=provider, model=model
        )
    if isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError):
        return ProviderConnectionError(
            f"{where}: TLS handshake failed ({_short(exc)})",
            provider=provider,
            model=model,
            reason="tls",
        )
    if isinstance(exc, TimeoutError):  # aiohttp's timeout errors subclass it
        return ProviderTimeoutError(
            f"{where}: the upstream did not answer in time",
            provider=provider,
            model=model,
            reason="timeout",
        )
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return ProviderConnectionError(
            f"{where}: the host name could not be resolved",
            provider=provider,
            model=model,
            reason="dns",
        )
    if isinstance(exc, aiohttp.ClientConnectorError):
        return ProviderConnectionError(
            f"{where}: cannot connect ({_short(exc.os_error)})",
            provider=provider,
            model=model,
            reason="connect",
        )
    if isinstance(exc, aiohttp.InvalidURL):
        err = ProviderConnectionError(
            "the model's base URL is not a valid URL",
            provider=provider,
            model=model,
            reason="invalid_url",
        )
        err.retryable = False
        return err
    return ProviderConnectionError(
        f"{where}: the connection failed ({type(exc).__name__})",
        provider=provider,
        model=model,
        reason="disconnected",
    )


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        e = stack.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, kind):
            return True
        for nxt in (e.__cause__, e.__context__, getattr(e, "os_error", None)):
            if isinstance(nxt, BaseException):
                stack.append(nxt)
        if isinstance(e, BaseExceptionGroup):
            stack.extend(e.exceptions)
    return False


def _short(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text)[:200]


class UpstreamResponse:
    """A response whose body has not been read yet; read it whole or iterate its chunks."""

    def __init__(self, raw: aiohttp.ClientResponse, *, url: str, provider: str, model: str):
        self._raw = raw
        self._url = url
        self._provider = provider
        self._model = model
        self.complete = False  # the body was read to its end

    @property
    def status(self) -> int:
        return self._raw.status

    @property
    def headers(self) -> Mapping[str, str]:
        return self._raw.headers

    async def read(self, limit: int = MAX_BODY) -> bytes:
        """The body, at most `limit` bytes (an error body longer than that is cut)."""
        parts: list[bytes] = []
        size = 0
        async for chunk in self.iter_chunks():
            parts.append(chunk)
            size += len(chunk)
            if size >= limit:
                break
        return b"".join(parts)[:limit]

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        """Body bytes as they arrive (split anywhere), errors mapped to our tree."""
        try:
            async for chunk in self._raw.content.iter_any():
                yield chunk
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            raise map_transport_error(
                e, url=self._url, provider=self._provider, model=self._model
            ) from e
        self.complete = True


class HttpTransport:
    """Sends `HttpRequest`s built by the adapters over the shared connection pools."""

    def __init__(
        self,
        connect_timeout: float = 5.0,
        read_timeout: float = 300.0,
        total_timeout: float = 600.0,
        *,
        limit: int = 200,
        limit_per_host: int = 0,
        dns_cache_ttl: int = 300,
        keepalive_timeout: float = 30.0,
        resolver: AbstractResolver | None = None,
    ) -> None:
        self.timeouts = Timeouts(connect_timeout, read_timeout, total_timeout)
        self._limit = limit
        self._limit_per_host = limit_per_host
        self._dns_cache_ttl = dns_cache_ttl
        self._keepalive_timeout = keepalive_timeout
        self._resolver = resolver  # the name resolver under the guard (tests pass a stub)
        self._sessions: dict[bool, aiohttp.ClientSession] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client_timeout = self.timeouts.to_aiohttp()
        # (url, allow_private) pairs that passed the static SSRF check (a pure function of
        # both; parsing the URL and its IP took ~15 % of a gateway request), with the parsed
        # URL, which aiohttp would otherwise parse again from the string on every request
        self._checked_urls: dict[tuple[str, bool], URL] = {}

    def _session(self, *, allow_private: bool) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # a new event loop (tests, or a re-created app): sessions of the old one are dead
            self._sessions = {}
            self._loop = loop
        session = self._sessions.get(allow_private)
        if session is None or session.closed:
            session = self._new_session(allow_private=allow_private)
            self._sessions[allow_private] = session
        return session

    def _new_session(self, *, allow_private: bool) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self._limit,
            limit_per_host=self._limit_per_host,
            ttl_dns_cache=self._dns_cache_ttl,
            keepalive_timeout=self._keepalive_timeout,
            resolver=netguard.GuardedResolver(self._resolver, allow_private=allow_private),
            socket_factory=netguard.guarded_socket_factory(allow_private=allow_private),
        )
        return aiohttp.ClientSession(
            connector=connector,
            timeout=self.timeouts.to_aiohttp(),
            trust_env=False,  # no proxy from the environment: the guard must see the real peer
            auto_decompress=True,
            # one session serves every user: an upstream's cookies must not follow one user's
            # request into another's (and filtering the jar cost time on every request)
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    @asynccontextmanager
    async def open(
        self,
        request: HttpRequest,
        *,
        allow_private: bool,
        provider: str = "",
        model: str = "",
        timeouts: Timeouts | None = None,
    ) -> AsyncIterator[UpstreamResponse]:
        """Send `request`; the body is read inside the `async with`. Leaving early (an error,
        a consumer that stopped reading, a cancelled task) closes the connection instead of
        returning it to the pool, which is what tells the upstream to stop generating."""
        # literal IPs never reach the resolver, so the static check runs on every request
        checked = (request.url, allow_private)
        url = self._checked_urls.get(checked)
        if url is None:
            netguard.check_url_static(request.url, allow_private=allow_private)
            if len(self._checked_urls) >= _MAX_CHECKED_URLS:
                self._checked_urls.clear()
            url = URL(request.url)
            self._checked_urls[checked] = url
        headers = request.headers
        if (
            request.body is not None
            and "Content-Type" not in headers
            and not any(k.lower() == "content-type" for k in headers)
        ):
            headers = {**headers, "Content-Type": "application/json"}
        session = self._session(allow_private=allow_private)
        try:
            raw = await session.request(
                request.method,
                url,
                data=request.body,
                headers=headers,
                allow_redirects=False,  # a redirect could point anywhere, past the guard
                timeout=timeouts.to_aiohttp() if timeouts else self._client_timeout,
            )
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            raise map_transport_error(e, url=request.url, provider=provider, model=model) from e
        response = UpstreamResponse(raw, url=request.url, provider=provider, model=model)
        try:
            yield response
        finally:
            if response.complete:
                raw.release()
            else:
                raw.close()

    async def aclose(self) -> None:
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            await session.close()
