"""The one pooled HTTP client for upstream calls (our own HTTP/1.1 client, http1.py;
docs/decisions.md says why).

Per process and event loop: keep-alive connection pools per (scheme, host, port), a DNS cache,
one TLS context. The pools are separate for models that may reach private addresses
("trusted") and all others ("guarded"), because the SSRF guard is checked when a connection
opens: a pooled connection to an internal host must never be handed to a request that was not
allowed to open it. The guard runs on every new connection: the name's addresses are checked
after resolution (DNS rebinding) and the exact address again right before the socket connects.

Every OS / protocol error leaves this module as a `ProviderConnectionError` (reason
"connect", "dns", "tls", "disconnected", "invalid_url"), `ProviderTimeoutError` (reason
"timeout"), `PoolTimeoutError` (reason "pool": every one of our `limit` connections was in use
for the whole connect timeout; not the upstream's fault) or `UnsafeURLError`; error messages
name the host, never the path or query (which may carry credentials).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Final
from urllib.parse import quote, urlsplit

from modelreg.client import netguard
from modelreg.client.http1 import Connection, request_head
from modelreg.client.transport_api import MAX_BODY, MAX_ERROR_BODY, Timeouts
from modelreg.client.transport_errors import closed_under_us, map_transport_error
from modelreg.errors import PoolTimeoutError, ProviderConnectionError
from modelreg.providers.base import HttpRequest

__all__ = [
    "MAX_BODY",
    "MAX_ERROR_BODY",
    "HttpTransport",
    "Timeouts",
    "UpstreamResponse",
    "map_transport_error",
]

_MAX_TARGETS: Final = 10_000
_MAX_IDLE_PER_HOST: Final = 64
_CLOSE_WAIT: Final = 1.0  # seconds aclose waits for the aborted sockets to close
_PATH_SAFE: Final = "/%:@!$&'()*+,;=~"
_QUERY_SAFE: Final = "/?%:@!$&'()*+,;=~"


@dataclass(frozen=True, slots=True)
class _Target:
    """What a URL string means for the wire; parsed and SSRF-checked once per URL."""

    key: tuple[str, str, int, bool]  # the pool: scheme, host, port, allow_private
    where: str  # scheme://host:port, for messages
    host: str  # as resolved / connected (IPv6 without brackets)
    port: int
    tls: bool
    host_header: bytes
    path: bytes  # path and query, as sent


def _same(conn: Connection) -> Connection:
    return conn


class UpstreamResponse:
    """A response whose body has not been read yet; read it whole or iterate its chunks."""

    __slots__ = ("_conn", "_deadline", "_loop", "_model", "_provider", "_read", "_url", "complete")

    def __init__(
        self,
        conn: Connection,
        *,
        url: str,
        provider: str,
        model: str,
        read_timeout: float,
        deadline: float,
    ) -> None:
        self._conn = conn
        self._url = url
        self._provider = provider
        self._model = model
        self._read = read_timeout
        self._deadline = deadline
        self._loop = asyncio.get_running_loop()
        self.complete = False  # the body was read to its end

    @property
    def status(self) -> int:
        return self._conn.status

    @property
    def headers(self) -> Mapping[str, str]:
        return self._conn.headers

    async def _next(self) -> bytes | None:
        conn = self._conn
        chunk = conn.ready_chunk()
        if chunk is not None:
            return chunk
        if conn.message_complete:
            self.complete = True
            return None
        remaining = self._deadline - self._loop.time()
        try:
            if remaining <= 0:
                raise TimeoutError
            chunk = await conn.next_chunk(min(self._read, remaining))
        except (TimeoutError, OSError) as e:
            raise map_transport_error(
                e, url=self._url, provider=self._provider, model=self._model
            ) from e
        if chunk is None:
            self.complete = True
        return chunk

    async def read(self, limit: int = MAX_BODY) -> bytes:
        """The body, at most `limit` bytes (an error body longer than that is cut)."""
        first = await self._next()
        if first is None:
            return b""
        parts = [first]
        size = len(first)
        while size < limit:
            chunk = await self._next()
            if chunk is None:
                break
            parts.append(chunk)
            size += len(chunk)
        body = parts[0] if len(parts) == 1 else b"".join(parts)
        return body[:limit] if size > limit else body

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        """Body bytes as they arrive (split anywhere), errors mapped to our tree."""
        while (chunk := await self._next()) is not None:
            yield chunk


class _Pool:
    """Idle keep-alive connections to one (scheme, host, port, trust), newest first."""

    __slots__ = ("idle",)

    def __init__(self) -> None:
        self.idle: deque[Connection] = deque()

    def take(self, now: float, keepalive: float) -> Connection | None:
        while self.idle:
            conn = self.idle.pop()
            if not conn.lost and now - conn.idle_since < keepalive:
                return conn
            conn.abort()
        return None


class HttpTransport:
    """Sends `HttpRequest`s built by the adapters over the shared connection pools."""

    def __init__(
        self,
        connect_timeout: float = 5.0,
        read_timeout: float = 300.0,
        total_timeout: float = 600.0,
        *,
        limit: int = 4096,
        dns_cache_ttl: int = 300,
        keepalive_timeout: float = 30.0,
        resolver: netguard.Resolver | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.timeouts = Timeouts(connect_timeout, read_timeout, total_timeout)
        # connections in use at once (an open stream holds one for its whole length); more
        # requests wait for one up to the connect timeout (MODELREG_UPSTREAM_MAX_CONNECTIONS)
        self._limit = limit
        self._dns_cache_ttl = dns_cache_ttl
        self._keepalive = keepalive_timeout
        self._resolver = netguard.GuardedResolver(resolver)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pools: dict[tuple[str, str, int, bool], _Pool] = {}
        self._in_use = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._dns: dict[tuple[str, int], tuple[float, list[tuple[int, str]]]] = {}
        self._tls = tls  # None: the system's default context, made at the first https call
        # URL -> parsed target, for URLs that passed the static SSRF check (a pure function of
        # the URL and the trust; parsing the URL and its IP took ~15 % of a gateway request)
        self._targets: dict[tuple[str, bool], _Target] = {}

    @property
    def in_use(self) -> int:
        """Connections lent out right now (back to 0 when every answer was closed)."""
        return self._in_use

    # --- the request ---------------------------------------------------------------------

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
        if request.method == "HEAD":  # its answer has no body whatever its headers say
            raise ValueError("HEAD requests are not supported by the upstream transport")
        target = self._target(request.url, allow_private, provider, model)
        t = timeouts or self.timeouts
        loop = self._current_loop()
        deadline = loop.time() + t.total
        headers = request.headers
        length = None
        if request.body is not None or request.method in ("POST", "PUT", "PATCH"):
            length = len(request.body or b"")
            if request.body is not None and not any(k.lower() == "content-type" for k in headers):
                headers = {**headers, "Content-Type": "application/json"}
        try:
            head = request_head(request.method, target.path, target.host_header, headers, length)
        except ValueError as e:
            error = ProviderConnectionError(
                f"{target.where}: {e}", provider=provider, model=model, reason="invalid_header"
            )
            error.retryable = False
            raise error from None
        conn = await self._exchange(target, head, request.body, t, deadline, provider, model)
        response = UpstreamResponse(
            conn, url=request.url, provider=provider, model=model, read_timeout=t.read,
            deadline=deadline,
        )  # fmt: skip
        try:
            yield response
        finally:
            self._release(target, conn)

    async def _exchange(
        self,
        target: _Target,
        head: bytes,
        body: bytes | None,
        t: Timeouts,
        deadline: float,
        provider: str,
        model: str,
        *,
        fresh: bool = False,
    ) -> Connection:
        """A connection whose answer's headers have arrived."""
        loop = self._current_loop()
        conn = await self._acquire(target, t, provider, model, fresh=fresh)
        reused = conn.requests > 0
        try:
            conn.send(head, body)
            await conn.wait_headers(min(t.read, max(0.0, deadline - loop.time())))
            return conn
        except BaseException as e:
            self._discard(conn)
            if reused and not conn.received and closed_under_us(e):
                # the upstream closed an idle keep-alive connection as we reused it: nothing
                # of the request was answered, so send it once more on a new connection
                return await self._exchange(
                    target, head, body, t, deadline, provider, model, fresh=True
                )
            if isinstance(e, OSError):  # TimeoutError included
                raise map_transport_error(
                    e, url=target.where, provider=provider, model=model
                ) from e
            raise

    # --- connections ---------------------------------------------------------------------

    async def _acquire(
        self, target: _Target, t: Timeouts, provider: str, model: str, *, fresh: bool = False
    ) -> Connection:
        loop = self._current_loop()
        if self._in_use >= self._limit:
            await self._wait_for_slot(loop, t.connect, target, provider, model)
        self._in_use += 1  # taken before the connect awaits, so concurrent callers see it
        try:
            pool = self._pools.get(target.key)
            if pool is None:
                pool = self._pools[target.key] = _Pool()
            conn = None if fresh else pool.take(loop.time(), self._keepalive)
            if conn is None:
                try:
                    async with asyncio.timeout(t.connect):
                        conn = await self._connect(loop, target)
                except (TimeoutError, OSError, ssl.SSLError) as e:
                    raise map_transport_error(
                        e, url=target.where, provider=provider, model=model, connecting=True
                    ) from e
        except BaseException:
            self._in_use -= 1
            self._wake_one()
            raise
        return conn

    async def _wait_for_slot(
        self,
        loop: asyncio.AbstractEventLoop,
        within: float,
        target: _Target,
        provider: str,
        model: str,
    ) -> None:
        deadline = loop.time() + within
        while self._in_use >= self._limit:
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append(waiter)
            try:
                async with asyncio.timeout_at(deadline):
                    await waiter
            except TimeoutError as e:
                raise PoolTimeoutError(
                    f"{target.where}: no free upstream connection within {within:g} s: this "
                    f"worker has all of its MODELREG_UPSTREAM_MAX_CONNECTIONS={self._limit} "
                    "in use",
                    provider=provider,
                    model=model,
                ) from e
            finally:
                if not waiter.done():
                    waiter.cancel()

    def _release(self, target: _Target, conn: Connection) -> None:
        if conn.reusable:
            conn.release(time.monotonic() if self._loop is None else self._loop.time())
            pool = self._pools.get(target.key)
            if pool is not None and len(pool.idle) < _MAX_IDLE_PER_HOST:
                pool.idle.append(conn)
            else:
                conn.abort()
        else:
            conn.abort()
        self._in_use -= 1
        self._wake_one()

    def _discard(self, conn: Connection) -> None:
        conn.abort()
        self._in_use -= 1
        self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def _connect(self, loop: asyncio.AbstractEventLoop, target: _Target) -> Connection:
        allow_private = target.key[3]
        addresses = await self._addresses(target, allow_private)
        make_socket = netguard.guarded_socket_factory(allow_private=allow_private)
        last: OSError | None = None
        for family, address in addresses:
            sockaddr: tuple[str, int] | tuple[str, int, int, int] = (
                (address, target.port, 0, 0) if family == socket.AF_INET6 else
                (address, target.port)
            )  # fmt: skip
            sock = make_socket((family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr))
            try:
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                await loop.sock_connect(sock, sockaddr)
            except OSError as e:
                sock.close()
                last = e
                continue
            except BaseException:
                sock.close()
                raise
            conn = Connection(loop)
            try:
                await loop.create_connection(
                    partial(_same, conn),
                    sock=sock,
                    ssl=self._tls_context() if target.tls else None,
                    server_hostname=target.host if target.tls else None,
                )
            except BaseException:
                sock.close()
                raise
            return conn
        raise last or OSError(f"no address to connect to for {target.host}")

    async def _addresses(self, target: _Target, allow_private: bool) -> list[tuple[int, str]]:
        host = target.host
        if netguard.parse_ip(host) is not None:
            return [(socket.AF_INET6 if ":" in host else socket.AF_INET, host)]
        now = time.monotonic()
        cached = self._dns.get((host, target.port))
        if cached is not None and now - cached[0] < self._dns_cache_ttl:
            found = cached[1]
        else:
            found = await self._resolver.resolve(host, target.port)
            if len(self._dns) >= _MAX_TARGETS:
                self._dns.clear()
            self._dns[(host, target.port)] = (now, found)
        # checked on every connect, cached or not: the trust differs per pool
        netguard.check_resolved(host, (a for _, a in found), allow_private=allow_private)
        return found

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls

    # --- bookkeeping ---------------------------------------------------------------------

    def _current_loop(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # a new event loop (tests, or a re-created app): the old loop's connections are dead
            self._pools = {}
            self._in_use = 0
            self._waiters = deque()
            self._loop = loop
        return loop

    def _target(self, url: str, allow_private: bool, provider: str, model: str) -> _Target:
        key = (url, allow_private)
        target = self._targets.get(key)
        if target is not None:
            return target
        # literal IPs never reach the resolver, so the static check covers them here
        netguard.check_url_static(url, allow_private=allow_private)
        try:
            parts = urlsplit(url)
            host = parts.hostname or ""
            tls = parts.scheme == "https"
            port = parts.port or (443 if tls else 80)
        except ValueError:
            host = ""
        if not host or parts.scheme not in ("http", "https"):
            error = ProviderConnectionError(
                "the model's base URL is not a valid URL",
                provider=provider,
                model=model,
                reason="invalid_url",
            )
            error.retryable = False
            raise error
        shown = f"[{host}]" if ":" in host else host
        name = shown.encode("ascii") if shown.isascii() else shown.encode("idna")
        host_header = name if port == (443 if tls else 80) else b"%s:%d" % (name, port)
        # percent-encode what a request line may not carry (spaces, non-ASCII), keep the rest
        path = quote(parts.path or "/", safe=_PATH_SAFE)
        if parts.query:
            path = f"{path}?{quote(parts.query, safe=_QUERY_SAFE)}"
        target = _Target(
            key=(parts.scheme, host, port, allow_private),
            where=f"{parts.scheme}://{shown}:{port}",
            host=host,
            port=port,
            tls=tls,
            host_header=host_header,
            path=path.encode("ascii"),
        )
        if len(self._targets) >= _MAX_TARGETS:
            self._targets.clear()
        self._targets[key] = target
        return target

    async def aclose(self) -> None:
        """Close the idle connections and return once their sockets are closed, so a loop that
        stops right after leaves none open (connections in use close as they are released)."""
        pools, self._pools = list(self._pools.values()), {}
        closing: list[Connection] = []
        for pool in pools:
            while pool.idle:
                conn = pool.idle.pop()
                conn.abort()
                closing.append(conn)
        if closing:
            # bounded: a close never waits on the peer, but shutdown must not hang on a bug
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    asyncio.gather(*(conn.wait_closed() for conn in closing)), _CLOSE_WAIT
                )
