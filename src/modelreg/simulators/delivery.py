"""How a scripted answer reaches the client: delays, hangs, errors, malformed bodies, streams
cut mid-way, and the counters that let tests see what the client did.

Provider modules only describe bytes (a `Wire`); the timing and failure behaviour lives here
once, so every flavor fails the same scripted way.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, Protocol

from aiohttp import web

from modelreg.simulators._common import json_response
from modelreg.simulators.script import Reply, Script
from modelreg.simulators.state import SimContext

__all__ = ["ErrorResponder", "Wire", "deliver", "scripted_preamble"]

_HTML_PAGE = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


class Wire(Protocol):
    """The provider-specific encoding of one generation endpoint's answers."""

    stream_content_type: str

    def error_response(
        self, status: int, message: str | None, code: str | None, retry_after: float | None
    ) -> web.Response:
        """The provider's real error answer for this status."""
        ...

    def error_payload(self, message: str | None, code: str | None) -> Any:
        """An error object as the provider embeds it in a 200 body."""
        ...

    def body(self, reply: Reply) -> Any:
        """The whole non-streamed answer."""
        ...

    def frames(self, reply: Reply) -> list[bytes]:
        """The stream, one frame per element; the last one is the provider's terminator."""
        ...

    def error_frame(self, message: str | None, code: str | None) -> bytes:
        """How the provider reports an error after the stream has started."""
        ...

    def unknown_frame(self) -> bytes:
        """A frame of a kind clients do not know yet and must skip."""
        ...

    def bad_json_frame(self) -> bytes: ...


ErrorResponder = Callable[[int, str | None, str | None, float | None], web.Response]


async def scripted_preamble(
    ctx: SimContext, script: Script, error_response: ErrorResponder
) -> web.Response | None:
    """The part of a script every endpoint honours: hang, first-byte delay, an error status,
    an HTML or empty body. Returns the response to send, or None to go on and answer."""
    try:
        if script.hang:
            await _hang(ctx)
        if script.first_byte_delay > 0:
            await asyncio.sleep(script.first_byte_delay)
    except asyncio.CancelledError:
        _count_disconnect(ctx)
        raise
    if script.malformed in ("html", "empty"):
        return _broken_body(script)
    if script.status is not None:
        return error_response(
            script.status, script.error_message, script.error_code, script.retry_after
        )
    return None


async def deliver(
    request: web.Request, ctx: SimContext, script: Script, wire: Wire, reply: Reply, *, stream: bool
) -> web.StreamResponse:
    """Answer `request` as `script` says, counting a client that leaves early."""
    failure = await scripted_preamble(ctx, script, wire.error_response)
    if failure is not None:
        return failure
    try:
        if stream:
            return await _stream(request, ctx, script, wire, reply)
        return await _whole(request, script, wire, reply)
    except (asyncio.CancelledError, ConnectionResetError):
        _count_disconnect(ctx)
        raise


def _count_disconnect(ctx: SimContext) -> None:
    # Handlers are also cancelled when the simulator shuts down; that is not the client.
    if not ctx.closing.is_set():
        ctx.state.count("client_disconnects")


async def _hang(ctx: SimContext) -> None:
    # Accept the request and say nothing until the client gives up (the handler is then
    # cancelled) or the simulator shuts down.
    await ctx.stopping.wait()
    raise web.HTTPServiceUnavailable()


def _broken_body(script: Script) -> web.Response:
    status = script.status or 200
    if script.malformed == "html":
        return web.Response(body=_HTML_PAGE, status=status, content_type="text/html")
    return web.Response(body=b"", status=status, content_type="application/json")


async def _whole(
    request: web.Request, script: Script, wire: Wire, reply: Reply
) -> web.StreamResponse:
    if script.malformed == "error_in_200" or script.malformed == "error_event_midstream":
        return json_response(wire.error_payload(script.error_message, script.error_code))
    payload = wire.body(reply)
    if script.malformed == "unknown_event" and isinstance(payload, dict):
        # APIs add fields over time; clients must ignore what they do not know.
        payload["simulator_future_field"] = {"note": "clients must ignore unknown fields"}
    body = json.dumps(payload, ensure_ascii=False).encode()
    if script.malformed == "bad_json_chunk":
        body = body[: len(body) // 2]
    if script.cut_after is None:
        return web.Response(body=body, content_type="application/json")
    # Promise the whole body, send half of it, then drop the connection.
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.content_length = len(body)
    await response.prepare(request)
    await response.write(body[: len(body) // 2])
    _drop_connection(request)
    return response


async def _stream(
    request: web.Request, ctx: SimContext, script: Script, wire: Wire, reply: Reply
) -> web.StreamResponse:
    frames = _shape_frames(script, wire, reply)
    # The terminator is the last frame unless the script replaced the ending with an error.
    ends_with_terminator = script.malformed not in (
        "error_in_200",
        "error_event_midstream",
    ) and bool(frames)
    response = web.StreamResponse(
        headers={"Content-Type": wire.stream_content_type, "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    ctx.state.count("streams_started")
    limit = None
    if script.cut_after is not None:
        body_frames = len(frames) - 1 if ends_with_terminator else len(frames)
        limit = min(script.cut_after, body_frames)
    for position, frame in enumerate(frames):
        if limit is not None and position >= limit:
            _drop_connection(request)
            return response
        if position > 0 and script.chunk_delay > 0:
            await asyncio.sleep(script.chunk_delay)
        await response.write(frame)
    if limit is not None:
        _drop_connection(request)
        return response
    await response.write_eof()
    ctx.state.count("streams_completed")
    return response


def _shape_frames(script: Script, wire: Wire, reply: Reply) -> list[bytes]:
    kind = script.malformed
    if kind == "error_in_200":
        return [wire.error_frame(script.error_message, script.error_code)]
    frames = wire.frames(reply)
    if kind == "bad_json_chunk":
        frames.insert(1, wire.bad_json_frame())
    elif kind == "unknown_event":
        frames.insert(1, wire.unknown_frame())
    elif kind == "error_event_midstream":
        keep = max(1, (len(frames) - 1) // 2)
        frames = [*frames[:keep], wire.error_frame(script.error_message, script.error_code)]
    return frames


def _drop_connection(request: web.Request) -> None:
    """Close the socket without finishing the HTTP message: the client sees a body that ends
    early (an incomplete chunked read), as when an upstream crashes mid-answer."""
    transport = request.transport
    if transport is not None:
        transport.abort()
