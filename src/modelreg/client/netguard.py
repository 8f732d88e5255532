"""SSRF guard: keep user-supplied base URLs away from internal networks.

Two layers, because one is not enough:

1. `check_base_url` when a model is saved or tested: the URL must be http(s) with a host, and
   neither a literal address nor the names it resolves to may be loopback, private, link-local,
   shared, reserved or multicast unless the model is allowed private targets (admin models for a
   local Ollama or vLLM). Cloud metadata endpoints are refused always: no LLM lives there.
2. At connect time (`GuardedResolver`, `check_resolved` and `guarded_socket_factory`, used by
   transport.py for every new connection): a name that resolved to a public address when the
   model was saved may resolve to 10.0.0.5 at request time (DNS rebinding), so the addresses
   are checked again right before a socket opens.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final, Protocol
from urllib.parse import SplitResult, urlsplit

from modelreg.errors import UnsafeURLError, ValidationFailedError

__all__ = [
    "GuardedResolver",
    "Resolver",
    "UnsafeAddressError",
    "address_problem",
    "check_base_url",
    "check_base_url_async",
    "check_resolved",
    "check_url_static",
    "guarded_socket_factory",
    "host_name_problem",
    "parse_ip",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Names of cloud metadata services (AWS, GCP, Azure and friends answer on these).
METADATA_HOSTS: Final = frozenset(
    {
        "metadata.google.internal",
        "metadata.goog",
        "metadata",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.azure.internal",
    }
)
METADATA_ADDRESSES: Final = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack, ...
        ipaddress.ip_address("169.254.170.2"),  # AWS ECS task metadata
        ipaddress.ip_address("fd00:ec2::254"),  # AWS IMDS over IPv6
        ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    }
)

Resolve = Callable[[str], Iterable[str]]


class UnsafeAddressError(OSError):
    """Raised by the socket factory; an OSError so aiohttp's connect path carries it along."""


# IPv6 ranges whose low 32 bits are an IPv4 address that a gateway or stack may deliver to.
_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE: Final = ipaddress.IPv6Network("::/96")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address inside an IPv4-mapped, IPv4-compatible, NAT64 or 6to4 address."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped  # ::ffff:10.0.0.1
    if ip.sixtofour is not None:
        return ip.sixtofour  # 2002:a00:1:: (6to4 of 10.0.0.1)
    if ip in _NAT64 or (ip in _IPV4_COMPATIBLE and int(ip) > 1):  # not :: and ::1
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


# the refusals that `allow_private` lifts (the others hold for everyone)
PRIVATE_PROBLEMS: Final = frozenset(
    {"a loopback address", "a link-local address", "a private or reserved address"}
)
PRIVATE_ADDRESS: Final = "private_address"  # UnsafeURLError.reason for those


def _unsafe(message: str, problem: str) -> UnsafeURLError:
    reason = PRIVATE_ADDRESS if problem in PRIVATE_PROBLEMS else "unsafe_url"
    return UnsafeURLError(message, reason=reason)


def address_problem(ip: IPAddress, *, allow_private: bool) -> str | None:
    """Why a connection to `ip` is refused, or None when it may go ahead."""
    if isinstance(ip, ipaddress.IPv6Address):
        ip = _embedded_ipv4(ip) or ip  # judged by the IPv4 address it carries
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if ip.is_unspecified or ip.is_multicast:
        return "an unspecified or multicast address"
    if allow_private:
        return None
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_private or not ip.is_global:
        return "a private or reserved address"
    return None


def parse_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    # Legacy IPv4 spellings (2130706433, 0x7f.1, 127.1) that the socket layer still accepts.
    if host and all(c in "0123456789abcdefABCDEFxX." for c in host) and host[0].isdigit():
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def host_name_problem(host: str) -> str | None:
    """Why `host` (lower case, no trailing dot) cannot be a DNS name, or None. Caught here,
    not by the resolver's idna codec, whose UnicodeError would otherwise surface as a 500."""
    if host.startswith("[") or parse_ip(host) is not None:
        return None
    if len(host) > 253:
        return "the host name is longer than 253 characters"
    for label in host.split("."):
        if not label:
            return "the host name has an empty label (two dots in a row, or a leading dot)"
        if len(label) > 63:
            return f"the host name has a label longer than 63 characters ({label[:16]}…)"
    try:
        host.encode("idna")
    except UnicodeError:
        return "the host name is not a valid (internationalised) DNS name"
    return None


def _split(url: str) -> tuple[SplitResult, str]:
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 -- raises ValueError for a bad port
    except ValueError as e:
        raise ValidationFailedError(f"not a valid URL: {e}", field="base_url") from None
    if parts.scheme not in ("http", "https"):
        raise ValidationFailedError("the URL must start with http:// or https://", field="base_url")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise ValidationFailedError("the URL has no host", field="base_url")
    problem = host_name_problem(host)
    if problem:
        raise ValidationFailedError(problem, field="base_url")
    if parts.username is not None or parts.password is not None:
        raise ValidationFailedError(
            "put credentials in the API key field, not in the URL", field="base_url"
        )
    return parts, host


def check_url_static(url: str, *, allow_private: bool) -> str | None:
    """Checks that need no DNS. Returns the host name to resolve, or None for a literal IP."""
    _, host = _split(url)
    if host in METADATA_HOSTS:
        raise UnsafeURLError(f"{host} is a cloud metadata service and is never allowed")
    ip = parse_ip(host)
    if ip is not None:
        problem = address_problem(ip, allow_private=allow_private)
        if problem:
            raise _unsafe(f"the URL points to {problem} ({ip})", problem)
        return None
    if not allow_private and (host == "localhost" or host.endswith(".localhost")):
        raise _unsafe("the URL points to a loopback address (localhost)", "a loopback address")
    return host


def check_resolved(host: str, addresses: Iterable[str], *, allow_private: bool) -> None:
    for address in addresses:
        ip = parse_ip(address.split("%", 1)[0])  # drop an IPv6 zone id
        if ip is None:
            continue
        problem = address_problem(ip, allow_private=allow_private)
        if problem:
            raise _unsafe(f"{host} resolves to {problem}", problem)


def _system_resolve(host: str) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return []  # unresolvable now; the connect-time guard checks whatever it becomes
    return [str(info[4][0]) for info in infos]


def check_base_url(url: str, *, allow_private: bool, resolve: Resolve | None = None) -> None:
    """Refuse a base URL that is malformed (ValidationFailedError) or unsafe (UnsafeURLError).

    Resolves the host name (blocking); from async code use `check_base_url_async`.
    """
    host = check_url_static(url, allow_private=allow_private)
    if host is None:
        return
    check_resolved(host, (resolve or _system_resolve)(host), allow_private=allow_private)


async def check_base_url_async(
    url: str, *, allow_private: bool, resolve: Resolve | None = None
) -> None:
    """`check_base_url` with the DNS lookup in a worker thread."""
    host = check_url_static(url, allow_private=allow_private)
    if host is None:
        return
    addresses = await asyncio.to_thread(resolve or _system_resolve, host)
    check_resolved(host, addresses, allow_private=allow_private)


class Resolver(Protocol):
    """Connect-time name resolution: a list of results, each a mapping with the address under
    "host" and its address family under "family" (the shape tests' stub resolvers give)."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> Sequence[Mapping[str, Any]]: ...


class SystemResolver:
    """The operating system's resolver (getaddrinfo in the loop's thread pool)."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> Sequence[Mapping[str, Any]]:
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(host, port, family=family, type=socket.SOCK_STREAM)
        return [{"host": str(info[4][0]), "family": info[0]} for info in infos]


class GuardedResolver:
    """Resolves upstream host names for new connections; cloud metadata names are refused
    before any lookup. The caller checks the addresses with `check_resolved` for its trust."""

    def __init__(self, inner: Resolver | None = None) -> None:
        self._inner: Resolver = inner or SystemResolver()

    async def resolve(self, host: str, port: int) -> list[tuple[int, str]]:
        if host.rstrip(".").lower() in METADATA_HOSTS:
            raise UnsafeURLError(f"{host} is a cloud metadata service and is never allowed")
        results = await self._inner.resolve(host, port, socket.AF_UNSPEC)
        found: list[tuple[int, str]] = []
        for result in results:
            address = str(result["host"])
            family = int(result.get("family") or 0) or (
                socket.AF_INET6 if ":" in address else socket.AF_INET
            )
            if (family, address) not in found:
                found.append((family, address))
        if not found:
            raise socket.gaierror(socket.EAI_NONAME, f"{host} has no address")
        return found


def guarded_socket_factory(
    *, allow_private: bool
) -> Callable[[tuple[Any, Any, int, str, tuple[Any, ...]]], socket.socket]:
    """Last line: checks the exact address a socket is about to connect to (literal IPs
    never pass through the resolver)."""

    def make_socket(addr_info: tuple[Any, Any, int, str, tuple[Any, ...]]) -> socket.socket:
        family, type_, proto, _, sockaddr = addr_info
        ip = parse_ip(str(sockaddr[0]).split("%", 1)[0])
        problem = None if ip is None else address_problem(ip, allow_private=allow_private)
        if problem:
            raise UnsafeAddressError(f"refusing to connect to {problem}")
        return socket.socket(family=family, type=type_, proto=proto)

    return make_socket
