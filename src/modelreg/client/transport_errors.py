"""OS, asyncio and protocol errors of the upstream transport, mapped into our error tree.

Messages name the host, never the URL's path or query (which may carry credentials)."""

from __future__ import annotations

import socket
import ssl
from urllib.parse import urlsplit

from modelreg.client import netguard
from modelreg.client.http1 import ProtocolError
from modelreg.errors import (
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    UnsafeURLError,
)

__all__ = ["closed_under_us", "map_transport_error"]


def _where(url: str) -> str:
    try:
        u = urlsplit(url)
        return f"{u.scheme}://{u.hostname}:{u.port or (443 if u.scheme == 'https' else 80)}"
    except ValueError:
        return "the upstream"


def map_transport_error(
    exc: BaseException, *, url: str, provider: str = "", model: str = "", connecting: bool = False
) -> ProviderError:
    """Turn an OS / asyncio / protocol error into our tree. Never includes the URL's path."""
    if isinstance(exc, ProviderError):
        return exc
    where = _where(url)
    if _caused_by(exc, netguard.UnsafeAddressError):
        return UnsafeURLError(
            f"{where}: connection refused by the SSRF guard", provider=provider, model=model
        )
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return ProviderConnectionError(
            f"{where}: TLS handshake failed ({_short(exc)})",
            provider=provider,
            model=model,
            reason="tls",
        )
    if isinstance(exc, TimeoutError):
        return ProviderTimeoutError(
            f"{where}: the upstream did not answer in time",
            provider=provider,
            model=model,
            reason="timeout",
        )
    if isinstance(exc, socket.gaierror):
        return ProviderConnectionError(
            f"{where}: the host name could not be resolved",
            provider=provider,
            model=model,
            reason="dns",
        )
    if connecting and isinstance(exc, OSError) and not isinstance(exc, ProtocolError):
        return ProviderConnectionError(
            f"{where}: cannot connect ({_short(exc)})",
            provider=provider,
            model=model,
            reason="connect",
        )
    return ProviderConnectionError(
        f"{where}: the connection failed ({_short(exc)})",
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
        for nxt in (e.__cause__, e.__context__):
            if isinstance(nxt, BaseException):
                stack.append(nxt)
        if isinstance(e, BaseExceptionGroup):
            stack.extend(e.exceptions)
    return False


def closed_under_us(exc: BaseException) -> bool:
    """A pooled connection the upstream had closed while it sat idle."""
    return isinstance(exc, ConnectionError) and not isinstance(exc, TimeoutError)


def _short(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text)[:200]
