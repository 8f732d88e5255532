"""The upstream HTTP/1.1 client (transport.py on http1.py) against a raw TCP server on
127.0.0.1 that answers with scripted bytes, so every wire case is exact: keep-alive reuse,
a pooled connection the upstream closed, chunked and close-delimited bodies, compression,
malformed answers, header injection, the connection limit."""

from __future__ import annotations

import asyncio
import datetime
import gzip
import ipaddress
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from modelreg.client.transport import HttpTransport
from modelreg.errors import ProviderConnectionError, ProviderTimeoutError
from modelreg.providers.base import HttpRequest
from tests.fixtures.network import SocketWatch

Script = Callable[[int, int, bytes, asyncio.StreamWriter], Awaitable[bool]]


def ok(body: bytes, *extra: bytes) -> bytes:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    head += b"".join(h + b"\r\n" for h in extra)
    return head + b"Content-Length: %d\r\n\r\n" % len(body) + body


class RawServer:
    """Reads each request (head + Content-Length body) and lets `script(connection number,
    request number on it, request bytes, writer)` answer; it returns False to close."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.connections = 0
        self.requests: list[bytes] = []
        self.open_now = 0
        self.most_open = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        # let the handlers end on their own (the client has closed): a handler still running
        # when the test's loop closes is cancelled, which Python 3.11's start_server logs as
        # an error (fixed in 3.12)
        for _ in range(100):
            if self.open_now == 0:
                break
            await asyncio.sleep(0.01)

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        try:
            for index in range(1000):
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                if not await self.script(number, index, request, writer):
                    return
        finally:
            self.open_now -= 1
            writer.close()


def post(url: str, body: bytes = b'{"q":1}', **headers: str) -> HttpRequest:
    return HttpRequest("POST", url, {"Authorization": "Bearer sk-test", **headers}, body)


async def fetch(transport: HttpTransport, request: HttpRequest) -> tuple[int, bytes]:
    async with transport.open(request, allow_private=True) as response:
        return response.status, await response.read()


async def test_keep_alive_reuses_one_connection_and_sends_a_well_formed_request():
    async def script(conn: int, index: int, request: bytes, w: asyncio.StreamWriter) -> bool:
        w.write(ok(b'{"n":%d}' % index))
        return True

    transport = HttpTransport()
    async with RawServer(script) as server:
        host = server.url.removeprefix("http://")
        try:
            answers = [await fetch(transport, post(server.url + "/v1/chat")) for _ in range(3)]
        finally:
            await transport.aclose()
    assert answers == [(200, b'{"n":0}'), (200, b'{"n":1}'), (200, b'{"n":2}')]
    assert server.connections == 1
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /v1/chat HTTP/1.1"
    assert f"Host: {host}".encode() in lines
    assert b"Content-Length: 7" in lines
    assert b"Content-Type: application/json" in lines
    assert body == b'{"q":1}'


async def test_a_pooled_connection_the_upstream_dropped_is_replaced_without_an_error():
    async def script(conn: int, index: int, request: bytes, w: asyncio.StreamWriter) -> bool:
        if conn == 1 and index == 1:
            return False  # closes as the second request arrives: it is never answered
        w.write(ok(b'{"conn":%d}' % conn))
        return True

    transport = HttpTransport()
    async with RawServer(script) as server:
        try:
            first = await fetch(transport, post(server.url + "/x"))
            second = await fetch(transport, post(server.url + "/x"))
        finally:
            await transport.aclose()
    assert first == (200, b'{"conn":1}')
    assert second == (200, b'{"conn":2}')
    assert server.connections == 2


async def test_a_new_connection_closed_without_an_answer_is_an_error_not_a_retry():
    async def script(conn: int, index: int, request: bytes, w: asyncio.StreamWriter) -> bool:
        return False

    transport = HttpTransport()
    async with RawServer(script) as server:
        try:
            with pytest.raises(ProviderConnectionError) as info:
                await fetch(transport, post(server.url + "/x"))
        finally:
            await transport.aclose()
    assert info.value.reason == "disconnected"
    assert server.connections == 1


async def test_a_chunked_body_is_handed_on_as_it_arrives():
    go_on = asyncio.Event()

    async def script(conn: int, index: int, request: bytes, w: asyncio.StreamWriter) -> bool:
        w.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
        await w.drain()
        await asyncio.wait_for(go_on.wait(), 5)  # the rest only after the client saw "first"
        w.write(b"6\r\nsecond\r\n0\r\n\r\n")
        return True

    transport = HttpTransport()
    async with RawServer(script) as server:
        try:
            async with transport.open(post(server.url + "/s"), allow_private=True) as response:
                pieces = []
                async for chunk in response.iter_chunks():
                    pieces.append(chunk)
                    go_on.set()
            assert response.complete
            assert await fetch(transport, post(server.url + "/s")) == (200, b"firstsecond")
        finally:
            await transport.aclose()
    assert pieces == [b"first", b"second"]
    assert server.connections == 1  # read to its end, so the connection was kept


async def test_a_body_delimited_by_the_connection_end_is_read_whole():
    async def script(conn: int, index: int, request: bytes, w: asyncio.StreamWriter) -> bool:
        w.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello ")
        await w.drain()
        w.write(b"world")
        return False

    transport = HttpTransport()
    async with RawServer(script) as server:
        try:
            assert await fetch(transport, post(server.url + "/c")) == (200, b"hello world")
            assert await fetch(transport, post(server.url + "/c")) == (200, b"hello world")
        finally:
            await transport.aclose()
    assert server.connections == 2


async def test_a_gzip_body_is_decoded():
    payload = b'{"text":"' + b"a" * 5000 + b'"}'

    async def script(conn: int, index: int, request: bytes, w: asyncio.StreamWriter) -> bool:
        w.write(ok(gzip.compress(payload), b"Content-Encoding: gzip"))
        return True

    transport = HttpTransport()
    async with RawServer(script) as server:
        try:
            assert await fetch(transport, post(server.url + "/g")) == (200, payload)
        finally:
            await transport.aclose()


async def test_response_headers_are_case_insensitive_and_repeated_ones_joined():
    async def script(conn: int, index: int, request: bytes, w: asyncio.StreamWriter) -> bool:
        w.write(ok(b"{}", b"Retry-After: 3", b"X-Multi: a", b"x-multi: b"))
        return True

    transport = HttpTransport()
    async with RawServer(script) as server:
        try:
            async with transport.open(post(server.url + "/h"), allow_private=True) as response:
                headers = response.headers
                await response.read()
        finally:
            await transport.aclose()
    assert headers["retry-after"] == headers["RETRY-AFTER"] == "3"
    assert headers.get("X-Multi") == "a, b"
    assert "content-length" in headers
    assert "missing" not in headers


async def test_a_malformed_answer_is_a_connection_error():
    async def script(conn: int, index: int, request: bytes, w: asyncio.StreamWriter) -> bool:
        w.write(b"SMTP ready\r\n\r\n")
        return True

    transport = HttpTransport()
    async with RawServer(script) as server:
        try:
            with pytest.raises(ProviderConnectionError) as info:
                await fetch(transport, post(server.url + "/m"))
        finally:
            await transport.aclose()
    assert info.value.reason == "disconnected"
    assert "sk-test" not in str(info.value)


async def test_a_header_with_a_line_break_is_refused_before_any_socket_opens(
    socket_watch: SocketWatch,
):
    transport = HttpTransport()
    request = post("http://127.0.0.1:9/x", Authorization="Bearer sk-secret\r\nX-Evil: 1")
    try:
        with pytest.raises(ProviderConnectionError) as info:
            await fetch(transport, request)
    finally:
        await transport.aclose()
    assert info.value.reason == "invalid_header"
    assert not info.value.retryable
    assert "Authorization" in str(info.value)
    assert "sk-secret" not in str(info.value)
    assert socket_watch.attempts == []


async def test_paths_are_percent_encoded_where_a_request_line_needs_it():
    async def script(conn: int, index: int, request: bytes, w: asyncio.StreamWriter) -> bool:
        w.write(ok(b"{}"))
        return True

    transport = HttpTransport()
    async with RawServer(script) as server:
        try:
            await fetch(transport, post(server.url + "/v1/mödels x?q=a b&r=1"))
        finally:
            await transport.aclose()
    assert server.requests[0].startswith(b"POST /v1/m%C3%B6dels%20x?q=a%20b&r=1 HTTP/1.1\r\n")


async def test_requests_beyond_the_connection_limit_wait_for_a_free_connection():
    release = asyncio.Event()

    async def script(conn: int, index: int, request: bytes, w: asyncio.StreamWriter) -> bool:
        await asyncio.wait_for(release.wait(), 5)
        w.write(ok(b"{}"))
        return True

    transport = HttpTransport(connect_timeout=5, limit=1)
    async with RawServer(script) as server:
        try:
            calls = [asyncio.create_task(fetch(transport, post(server.url))) for _ in range(3)]
            await asyncio.sleep(0.2)
            assert server.most_open == 1
            assert len(server.requests) == 1
            release.set()
            assert await asyncio.gather(*calls) == [(200, b"{}")] * 3
        finally:
            await transport.aclose()
    assert server.most_open == 1
    assert len(server.requests) == 3


async def test_waiting_for_a_free_connection_ends_at_the_connect_timeout():
    done = asyncio.Event()

    async def script(conn: int, index: int, request: bytes, w: asyncio.StreamWriter) -> bool:
        await done.wait()  # never answers the one connection
        return False

    transport = HttpTransport(connect_timeout=0.2, read_timeout=5, limit=1)
    async with RawServer(script) as server:
        try:
            hanging = asyncio.create_task(fetch(transport, post(server.url)))
            await asyncio.sleep(0.05)
            with pytest.raises(ProviderTimeoutError, match="no free upstream connection"):
                await fetch(transport, post(server.url))
            hanging.cancel()
        finally:
            done.set()
            await transport.aclose()


async def test_leaving_early_closes_the_connection_instead_of_pooling_it():
    async def script(conn: int, index: int, request: bytes, w: asyncio.StreamWriter) -> bool:
        w.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
        await w.drain()
        await asyncio.sleep(0.3)
        w.write(b"6\r\nsecond\r\n0\r\n\r\n")
        return True

    transport = HttpTransport()
    async with RawServer(script) as server:
        try:
            async with transport.open(post(server.url), allow_private=True) as response:
                async for _ in response.iter_chunks():
                    break
            assert not response.complete
            async with transport.open(post(server.url), allow_private=True) as response:
                assert await response.read() == b"firstsecond"
        finally:
            await transport.aclose()
    assert server.connections == 2


def _open_sockets() -> int:
    fds = Path("/proc/self/fd")
    return sum(1 for fd in fds.iterdir() if _link(fd).startswith("socket:"))


def _link(fd: Path) -> str:
    try:
        return str(fd.readlink())
    except OSError:
        return ""  # closed meanwhile


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="counts /proc/self/fd")
async def test_aclose_returns_with_the_pooled_sockets_closed():
    release = asyncio.Event()

    async def script(conn: int, index: int, request: bytes, w: asyncio.StreamWriter) -> bool:
        await asyncio.wait_for(release.wait(), 5)  # three requests at once: three connections
        w.write(ok(b"{}"))
        return True

    transport = HttpTransport()
    async with RawServer(script) as server:
        calls = [asyncio.create_task(fetch(transport, post(server.url))) for _ in range(3)]
        await asyncio.sleep(0.1)
        release.set()
        assert await asyncio.gather(*calls) == [(200, b"{}")] * 3
        pooled = _open_sockets()  # the three pooled ones, the server's three ends, its listener
        await transport.aclose()
        # aclose came back only once its sockets were closed, not a loop turn later: a loop
        # that stops right after it leaves nothing open
        assert _open_sockets() <= pooled - 3
    assert server.connections == 3


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "modelreg test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


async def test_https_upstreams_are_verified_and_served_over_tls(tmp_path: Path):
    cert_file, key_file = _self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert_file, key_file)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        writer.write(ok(b'{"tls":true}'))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_tls)
    url = f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1/chat"
    trusting = ssl.create_default_context(cafile=str(cert_file))
    verified = HttpTransport(tls=trusting)
    default = HttpTransport()  # the system's trust store does not know the test certificate
    try:
        assert await fetch(verified, post(url)) == (200, b'{"tls":true}')
        with pytest.raises(ProviderConnectionError) as info:
            await fetch(default, post(url))
        assert info.value.reason == "tls"
    finally:
        await verified.aclose()
        await default.aclose()
        server.close()
