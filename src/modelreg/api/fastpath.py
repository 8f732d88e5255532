"""A raw ASGI fast path for the hottest calls, in front of the whole FastAPI app.

`POST /v1/chat/completions` and `POST /v1/messages` with an API token, for a model whose
request is passed through byte for byte (gateway/passthrough.py), are answered here: no
router, no dependency injection, no Response objects or per-stream task group — together they
were most of the CPU a request cost (docs/performance.md, "Hot path profile"). The steps and
the functions are the route's own: `resolve_token`, `loads_body`, `parse_chat_request` (or
`passthrough_target`), `admit`, `forward_openai` (or `forward_anthropic`), and `render_error`
for every refusal, so status codes, error shapes (OpenAI's, Anthropic's), request id headers,
limits and usage records are the same.

It wraps the FastAPI app from outside (`create_asgi_app`, what uvicorn serves), so FastAPI's
own middleware stack (error and telemetry middlewares with a `send` wrapper each) is not paid
on gateway calls; it therefore adds the `nosniff` header and renders unexpected errors itself,
as MetricsMiddleware and the app's error handlers do for every other route.

`POST /api/chat` (the chat application's turn) with an API token or the UI's session is
answered here too, by the route's own `chat_turn`; a body its schema refuses goes to the route.

Everything else goes to the FastAPI app untouched: other paths and methods, no token (the
session cookie and the 401 live there), an unknown token, a body without Content-Length or over
the size cap, and models that must be translated (their body, already read, is replayed).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable
from typing import Any, Final

from fastapi import FastAPI
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Message, Receive, Scope, Send

from modelreg.actor import Actor
from modelreg.api.auth import SESSION_COOKIE
from modelreg.api.deps import session_actor, unauthenticated
from modelreg.api.errors import render_error
from modelreg.api.metrics_middleware import NOSNIFF
from modelreg.api.routes.chat import chat_turn
from modelreg.api.startup import report_startup_failure
from modelreg.chat.schemas import ChatIn
from modelreg.experiments.routing import openai_key, resolve_model
from modelreg.gateway import openai_wire as wire
from modelreg.gateway.core import admit_model, loads_body
from modelreg.gateway.forward import SSE_HEADERS, Relayed, forward_anthropic, forward_openai
from modelreg.gateway.passthrough_anthropic import (
    anthropic_passthrough_adapter,
    passthrough_target,
    precheck,
    resolve_target,
)
from modelreg.gateway.passthrough_openai import passthrough_adapter
from modelreg.gateway.request_ids import (
    ANTHROPIC_REQUEST_ID_HEADER,
    CURRENT_REQUEST_ID,
    OPENAI_REQUEST_ID_HEADER,
    new_request_id,
)
from modelreg.metrics import Metrics
from modelreg.services import Services

__all__ = ["GatewayFastPath"]

_CHAT: Final = "/v1/chat/completions"
_MESSAGES: Final = "/v1/messages"
_JSON_TYPE: Final = (b"content-type", b"application/json")
# what Starlette's StreamingResponse(media_type="text/event-stream", headers=SSE_HEADERS) sends
_SSE_START: Final = [
    *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in SSE_HEADERS.items()),
    (b"content-type", b"text/event-stream; charset=utf-8"),
    NOSNIFF,
]
_REQUEST_ID: Final = {
    _CHAT: OPENAI_REQUEST_ID_HEADER.encode("latin-1"),
    _MESSAGES: ANTHROPIC_REQUEST_ID_HEADER.encode("latin-1"),
}
_API_CHAT: Final = "/api/chat"
_FAST_PATHS: Final = frozenset((*_REQUEST_ID, _API_CHAT))
_SESSION: Final = f"{SESSION_COOKIE}=".encode("latin-1")
_CLIENT_GONE: Final = 499  # nginx's "client closed request", for the metrics only


class GatewayFastPath:
    """The ASGI app uvicorn serves: the fast path around `app`, whose state the lifespan fills
    with the services; `metrics` is the one its MetricsMiddleware records into."""

    def __init__(
        self, app: FastAPI, *, metrics: Metrics, max_bytes: int, enabled: bool = True
    ) -> None:
        self.app = app
        self.state = app.state
        self.metrics = metrics
        self.max_bytes = max_bytes
        self.enabled = enabled
        # requests this path answers (counted before its answer starts; tests check it)
        self.answered = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            not self.enabled
            or scope["type"] != "http"
            or scope["path"] not in _FAST_PATHS
            or scope["method"] != "POST"
        ):
            if scope["type"] == "lifespan":
                send = report_startup_failure(self.state, send)
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        services: Services | None = getattr(self.state, "services", None)
        path: str = scope["path"]
        token, length = _token_and_length(scope["headers"])
        if path == _API_CHAT:
            if services is None or length is None or not _json_body(scope["headers"]):
                await self.app(scope, receive, send)
            else:
                await self._api_chat(scope, receive, send, services, token, started)
            return
        if (
            services is None
            or token is None
            or length is None
            or (self.max_bytes > 0 and length > self.max_bytes)
        ):
            await self.app(scope, receive, send)
            return
        request_id = new_request_id()
        CURRENT_REQUEST_ID.set(request_id)
        try:
            actor = await services.accounts.resolve_token(token)
        except Exception as exc:
            self.answered += 1
            status = await _refuse(scope, receive, send, exc, request_id)
            self._observe(path, status, started)
            return
        if actor is None:
            self.answered += 1
            error = unauthenticated("Invalid or revoked API token")
            status = await _refuse(scope, receive, send, error, request_id)
            self._observe(path, status, started)
            return
        body = await _read_body(receive)
        if body is None:
            self.answered += 1
            status = _CLIENT_GONE
        elif self.max_bytes > 0 and len(body) > self.max_bytes:
            await self.app(scope, _replay(body, receive), send)  # the size cap answers
            return
        else:
            handled = await self._serve(scope, receive, send, services, actor, body, request_id)
            if handled is None:
                return  # the route answered, and the MetricsMiddleware counted it
            status = handled
        self._observe(path, status, started)

    async def _api_chat(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        services: Services,
        token: str | None,
        started: float,
    ) -> None:
        """`POST /api/chat` with an API token or the UI's session (cookie + CSRF header): the
        route's own steps (`chat_turn`) without FastAPI's routing and dependency solving. A
        body the schema refuses, a body over the size cap and a request with neither token
        nor session go to the route, which answers them in its own words."""
        try:
            if token is not None:
                actor = await services.accounts.resolve_token(token)
                if actor is None:
                    raise unauthenticated("Invalid or revoked API token")
            elif _has_session_cookie(scope["headers"]):
                actor = await session_actor(Request(scope), services)
            else:
                await self.app(scope, receive, send)  # the route's 401
                return
        except Exception as exc:
            self.answered += 1
            self._observe(_API_CHAT, await _refuse(scope, receive, send, exc, None), started)
            return
        body = await _read_body(receive)
        if body is None:
            self.answered += 1
            self._observe(_API_CHAT, _CLIENT_GONE, started)
            return
        if self.max_bytes > 0 and len(body) > self.max_bytes:
            await self.app(scope, _replay(body, receive), send)  # the size cap answers
            return
        try:
            turn = ChatIn.model_validate_json(body)
        except ValidationError:
            await self.app(scope, _replay(body, receive), send)  # the route's 422 / 400
            return
        self.answered += 1
        try:
            response = await chat_turn(services, actor, turn)
        except Exception as exc:  # nothing was sent yet
            self._observe(_API_CHAT, await _refuse(scope, receive, send, exc, None), started)
            return
        headers = [*response.raw_headers, NOSNIFF]
        if isinstance(response, StreamingResponse):
            status = await _stream(response.body_iterator, receive, send, headers)
        else:
            await send({"type": "http.response.start", "status": response.status_code,
                        "headers": headers})  # fmt: skip
            await send({"type": "http.response.body", "body": response.body})
            status = response.status_code
        self._observe(_API_CHAT, status, started)

    def _observe(self, path: str, status: int, started: float) -> None:
        self.metrics.observe_http("POST", path, status, time.perf_counter() - started)

    async def _serve(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        services: Services,
        actor: Actor,
        body: bytes,
        request_id: str,
    ) -> int | None:
        """The answer's status, or None when the request went to the route instead."""
        path: str = scope["path"]
        try:
            data = loads_body(body)
            if path == _CHAT:
                reply = await _chat(services, actor, data)
            else:
                reply = await _messages(services, actor, data, scope["headers"])
        except Exception as exc:  # nothing was sent yet: answered in the surface's shape
            self.answered += 1
            return await _refuse(scope, receive, send, exc, request_id)
        if reply is None:  # translated: the route answers
            await self.app(scope, _replay(body, receive), send)
            return None
        # counted before the first byte goes out: a client may read the whole answer before
        # this task runs again
        self.answered += 1
        id_header = (_REQUEST_ID[path], request_id.encode())
        relayed = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers]
        if isinstance(reply.body, bytes):
            await send({
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-length", str(len(reply.body)).encode()), _JSON_TYPE, NOSNIFF,
                    *relayed, id_header,
                ],
            })  # fmt: skip
            await send({"type": "http.response.body", "body": reply.body})
            return 200
        return await _stream(reply.body, receive, send, [*_SSE_START, *relayed, id_header])


# The resolution is cached; it decides before `admit_model` counts the request against the
# limits, so a request handed to the route is counted there, once.


async def _chat(services: Services, actor: Actor, data: object) -> Relayed | None:
    req = wire.parse_chat_request(data)
    model = await resolve_model(services, actor, req.model, openai_key(data))  # or an A/B arm
    if passthrough_adapter(model) is None:
        return None
    model = await admit_model(services, actor, model)
    assert isinstance(data, dict)  # parse_chat_request refuses anything else
    return await forward_openai(services, actor, model, data, stream=bool(req.stream))


async def _messages(
    services: Services, actor: Actor, data: object, headers: list[tuple[bytes, bytes]]
) -> Relayed | None:
    target = passthrough_target(data)
    if target is None:
        return None  # the route's full check answers
    model = await resolve_target(services, actor, data, target.model)
    if anthropic_passthrough_adapter(model) is None:
        return None
    assert isinstance(data, dict)  # passthrough_target refuses anything else
    precheck(data)
    model = await admit_model(services, actor, model)
    version, beta = _anthropic_headers(headers)
    return await forward_anthropic(
        services, actor, model, data, stream=target.stream, version=version, beta=beta
    )


def _anthropic_headers(headers: list[tuple[bytes, bytes]]) -> tuple[str | None, str | None]:
    """The caller's anthropic-version (the first) and anthropic-beta (repeated ones joined, as
    the route joins them)."""
    version = beta = None
    for name, value in headers:
        if name == b"anthropic-version" and version is None:
            version = value.decode("latin-1")
        elif name == b"anthropic-beta":
            text = value.decode("latin-1")
            beta = text if beta is None else f"{beta},{text}"
    return version, beta


async def _refuse(
    scope: Scope, receive: Receive, send: Send, exc: Exception, request_id: str | None
) -> int:
    """Answer `exc` as the route's error handlers would; the status sent."""
    response: Response = render_error(scope["path"], exc, request_id=request_id)
    response.raw_headers.append(NOSNIFF)
    await response(scope, receive, send)
    return response.status_code


async def _stream(
    blocks: AsyncIterable[Any], receive: Receive, send: Send, headers: list[tuple[bytes, bytes]]
) -> int:
    """Send the SSE blocks as they come. A client that disconnects cancels the relay at once
    (as Starlette's StreamingResponse does), which closes the upstream connection."""
    task = asyncio.current_task()
    gone = False

    async def watch() -> None:
        nonlocal gone
        while (await receive())["type"] != "http.disconnect":
            pass
        gone = True
        if task is not None:
            task.cancel()

    await send({"type": "http.response.start", "status": 200, "headers": headers})
    watcher = asyncio.create_task(watch())
    try:
        async for block in blocks:
            await send({"type": "http.response.body", "body": block, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    except asyncio.CancelledError:
        if not gone or task is None:
            raise
        task.uncancel()
        return _CLIENT_GONE
    finally:
        watcher.cancel()
        aclose = getattr(blocks, "aclose", None)
        if aclose is not None:
            await aclose()  # books the usage now if the loop above did not finish
    return 200


def _json_body(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether FastAPI would read the body as JSON: no Content-Type, or application/json or
    application/*+json (anything else is the route's to refuse)."""
    for name, value in headers:
        if name == b"content-type":
            kind = value.split(b";", 1)[0].strip().lower()
            return kind == b"application/json" or (
                kind.startswith(b"application/") and kind.endswith(b"+json")
            )
    return True


def _has_session_cookie(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(name == b"cookie" and _SESSION in value for name, value in headers)


def _token_and_length(headers: list[tuple[bytes, bytes]]) -> tuple[str | None, int | None]:
    """The API token as `deps.get_optional_actor` finds it (a Bearer credential, else
    x-api-key; first header of a name wins), and the declared Content-Length."""
    authorization = api_key = length = None
    for name, value in headers:
        if name == b"authorization":
            if authorization is None:
                authorization = value
        elif name == b"x-api-key":
            if api_key is None:
                api_key = value
        elif name == b"content-length" and length is None:
            length = value
    token: str | None = None
    if authorization:
        scheme, _, credentials = authorization.decode("latin-1").partition(" ")
        credentials = credentials.strip()
        if scheme.lower() == "bearer" and credentials:
            token = credentials
    if token is None and api_key:
        token = api_key.decode("latin-1")
    try:
        declared = int(length) if length is not None else None
    except ValueError:
        declared = None
    return token, declared


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None when the client went away first."""
    first = await receive()
    if first["type"] != "http.request":
        return None
    if not first.get("more_body", False):
        body: bytes = first.get("body", b"")
        return body
    parts = [first.get("body", b"")]
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(parts)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the already-read body to the next app, then the real events."""
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
