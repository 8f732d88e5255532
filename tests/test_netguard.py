"""The SSRF guard: URL checks when a model is saved, and the connect-time re-check.

No test here opens a socket to anything but loopback, or resolves a real name: names are
answered by stub resolvers, and socket connects are watched by `socket_watch`.
"""

from __future__ import annotations

import socket

import pytest

from modelreg.client.netguard import (
    UnsafeAddressError,
    check_base_url,
    check_base_url_async,
    guarded_socket_factory,
)
from modelreg.client.transport import HttpTransport
from modelreg.errors import UnsafeURLError, ValidationFailedError
from modelreg.providers.base import HttpRequest
from tests.client.fakes import FakeUpstream
from tests.fixtures.network import SocketWatch, StubResolver


def no_dns(host: str) -> list[str]:
    raise AssertionError(f"unexpected DNS lookup of {host}")


def stub_dns(table: dict[str, list[str]]):
    return lambda host: table[host]


# --- URL checks -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["ftp://example.test/", "file:///etc/passwd", "http://", "https://:443/", "http://h:99999/",
     "http://user:pw@example.test/", "not a url"],
)  # fmt: skip
def test_malformed_urls_are_validation_errors(url):
    with pytest.raises(ValidationFailedError):
        check_base_url(url, allow_private=True, resolve=no_dns)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:11434",
        "http://10.1.2.3/v1",
        "http://172.16.0.1/",
        "http://192.168.1.10/",
        "http://100.64.0.1/",  # carrier-grade NAT
        "http://[::1]:8000/",
        "http://[fd12::1]/",
        "http://[::ffff:127.0.0.1]/",  # IPv4-mapped loopback
        "http://2130706433/",  # 127.0.0.1 as one number
        "http://0x7f.0.0.1/",
        "http://127.1/",
        "http://0.0.0.0:8000/",
        "http://localhost:8000/",
        "http://api.localhost/",
        # IPv6 spellings that embed an IPv4 address: judged by the address inside
        "http://[::127.0.0.1]/",  # IPv4-compatible (deprecated, still routed by some stacks)
        "http://[64:ff9b::10.0.0.1]/",  # NAT64 well-known prefix
        "http://[2002:7f00:1::]/",  # 6to4 of 127.0.0.1
        "http://[2002:a00:1::1]/",  # 6to4 of 10.0.0.1
    ],
)
def test_private_targets_are_refused_for_untrusted_models(url):
    with pytest.raises(UnsafeURLError):
        check_base_url(url, allow_private=False, resolve=no_dns)


@pytest.mark.parametrize("url", ["http://127.0.0.1:11434", "http://10.1.2.3/v1", "http://[::1]/"])
def test_private_targets_are_allowed_for_trusted_models(url):
    check_base_url(url, allow_private=True, resolve=no_dns)


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://169.254.170.2/",
        "http://[::ffff:169.254.169.254]/",
        "http://[64:ff9b::169.254.169.254]/",
    ],
)
@pytest.mark.parametrize("allow_private", [False, True])
def test_metadata_endpoints_are_always_refused(url, allow_private):
    with pytest.raises(UnsafeURLError, match="metadata"):
        check_base_url(url, allow_private=allow_private, resolve=no_dns)


def test_public_literal_address_passes_without_dns():
    check_base_url("https://93.184.216.34/v1", allow_private=False, resolve=no_dns)


def test_names_are_judged_by_what_they_resolve_to():
    dns = stub_dns({"public.test": ["93.184.216.34"], "sneaky.test": ["93.184.216.34", "10.0.0.9"]})
    check_base_url("https://public.test/v1", allow_private=False, resolve=dns)
    with pytest.raises(UnsafeURLError, match=r"sneaky\.test resolves to a private"):
        check_base_url("https://sneaky.test/v1", allow_private=False, resolve=dns)
    check_base_url("https://sneaky.test/v1", allow_private=True, resolve=dns)


async def test_async_check_resolves_in_a_thread():
    dns = stub_dns({"internal.test": ["192.168.0.7"]})
    with pytest.raises(UnsafeURLError):
        await check_base_url_async("http://internal.test/", allow_private=False, resolve=dns)
    await check_base_url_async("http://internal.test/", allow_private=True, resolve=dns)


# --- connect-time guard ---------------------------------------------------------------------


async def test_dns_rebinding_is_caught_before_any_socket_opens(socket_watch: SocketWatch):
    # the name looked public when the model was saved; now it answers with a private address
    resolver = StubResolver({"rebind.test": "10.0.0.7"})
    transport = HttpTransport(resolver=resolver)
    try:
        with pytest.raises(UnsafeURLError, match="resolves to a private"):
            async with transport.open(
                HttpRequest("GET", "http://rebind.test:8080/v1/models"), allow_private=False
            ):
                pass
    finally:
        await transport.aclose()
    assert resolver.asked == ["rebind.test"]
    assert socket_watch.attempts == []


async def test_rebinding_to_loopback_is_refused_for_untrusted_models(socket_watch: SocketWatch):
    upstream = FakeUpstream()
    await upstream.start()
    transport = HttpTransport(resolver=StubResolver({"sim.test": "127.0.0.1"}))
    url = f"http://sim.test:{upstream.port}/models"
    try:
        with pytest.raises(UnsafeURLError):
            async with transport.open(HttpRequest("GET", url), allow_private=False):
                pass
        assert upstream.requests == []
        # a trusted model may reach the same address, through its own connection pool
        async with transport.open(HttpRequest("GET", url), allow_private=True) as response:
            assert response.status == 200
            await response.read()
    finally:
        await transport.aclose()
        await upstream.stop()
    assert len(upstream.requests) == 1
    assert socket_watch.attempts, "the socket watch saw no connect: it would not catch a bad one"
    assert socket_watch.refused == []


async def test_literal_private_address_is_refused_per_request(socket_watch: SocketWatch):
    transport = HttpTransport()
    try:
        with pytest.raises(UnsafeURLError):
            async with transport.open(
                HttpRequest("GET", "http://10.0.0.7/v1/models"), allow_private=False
            ):
                pass
    finally:
        await transport.aclose()
    assert socket_watch.attempts == []


def test_socket_factory_refuses_forbidden_addresses_before_creating_a_socket():
    guarded = guarded_socket_factory(allow_private=False)
    with pytest.raises(UnsafeAddressError):
        guarded((socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", 80)))
    with pytest.raises(UnsafeAddressError):
        guarded((socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("fd00:ec2::254", 80, 0, 0)))
    trusting = guarded_socket_factory(allow_private=True)
    with pytest.raises(UnsafeAddressError):  # metadata even for trusted models
        trusting((socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", 80)))
    sock = trusting((socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 80)))
    sock.close()
