"""Test doubles for the layers below the client: a scripted upstream HTTP server on 127.0.0.1
and a tiny adapter for its JSON / NDJSON format. The client and its transport are real."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aiohttp import web

from modelreg.errors import (
    AuthenticationError,
    BadRequestError,
    ContextLengthExceededError,
    MissingCredentialsError,
    NotFoundError,
    ProviderError,
    ProviderStatusError,
    RateLimitError,
    ServerError,
    UnexpectedResponseError,
)
from modelreg.model_config import ModelConfig
from modelreg.providers.base import HttpRequest
from modelreg.secret import Secret
from modelreg.types import (
    ChatRequest,
    ChatResponse,
    EmbeddingResponse,
    FinishEvent,
    MetaEvent,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallEnd,
    Usage,
    UsageEvent,
)


@dataclass
class Reply:
    """One scripted answer. For streams `events` are sent as NDJSON lines."""

    status: int = 200
    json: Any = None
    events: Sequence[dict[str, Any]] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    chunk_delay: float = 0.0
    hang: bool = False  # send headers (stream) or nothing (plain), then wait forever
    cut_after: int | None = None  # stream: drop the connection after this many events
    raw: bytes | None = None


class FakeUpstream:
    """A scripted HTTP server. Unscripted requests get a plain successful answer."""

    def __init__(self) -> None:
        self.replies: list[Reply] = []
        self.requests: list[dict[str, Any]] = []
        self.disconnects = 0
        self.port = 0
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def enqueue(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    async def wait_for_disconnects(self, n: int, timeout: float = 5.0) -> bool:
        async def poll() -> None:
            while self.disconnects < n:
                await asyncio.sleep(0.01)

        try:
            await asyncio.wait_for(poll(), timeout)
        except TimeoutError:
            return False
        return True

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(
            {
                "path": request.path,
                "headers": dict(request.headers),
                "json": json.loads(body) if body else None,
            }
        )
        reply = self.replies.pop(0) if self.replies else Reply(json=_ok_json("ok"))
        if reply.hang and not reply.events:
            await self._until_closed(request)
            return web.Response(status=200)
        if not reply.events:
            if reply.raw is not None:
                return web.Response(status=reply.status, body=reply.raw, headers=reply.headers)
            return web.json_response(reply.json, status=reply.status, headers=reply.headers)
        return await self._stream(request, reply)

    async def _stream(self, request: web.Request, reply: Reply) -> web.StreamResponse:
        response = web.StreamResponse(status=reply.status, headers=reply.headers)
        response.content_type = "application/x-ndjson"
        await response.prepare(request)
        try:
            for i, event in enumerate(reply.events):
                if reply.cut_after is not None and i >= reply.cut_after:
                    assert request.transport is not None
                    request.transport.close()
                    return response
                await response.write(json.dumps(event).encode() + b"\n")
                if reply.chunk_delay:
                    await self._sleep_watching(request, reply.chunk_delay)
            if reply.hang:
                await self._until_closed(request)
                return response
            await response.write_eof()
        except (ConnectionResetError, ConnectionError, _Closed):
            self.disconnects += 1
        return response

    async def _sleep_watching(self, request: web.Request, seconds: float) -> None:
        deadline = asyncio.get_running_loop().time() + seconds
        while asyncio.get_running_loop().time() < deadline:
            if request.transport is None or request.transport.is_closing():
                raise _Closed
            await asyncio.sleep(0.005)

    async def _until_closed(self, request: web.Request) -> None:
        try:
            await self._sleep_watching(request, 30.0)
        except _Closed:
            self.disconnects += 1
            return


class _Closed(Exception):
    pass


def _ok_json(text: str, *, tool_calls: Sequence[dict[str, Any]] = (), usage: int = 1) -> Any:
    return {
        "text": text,
        "tool_calls": list(tool_calls),
        "usage": {"in": 10 * usage, "out": usage},
        "finish": "tool_calls" if tool_calls else "stop",
        "model": "fake-1",
    }


ok_json = _ok_json


def text_events(*parts: str, usage: bool = True) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [{"t": "meta", "id": "r1", "model": "fake-1"}]
    events += [{"t": "text", "v": p} for p in parts]
    if usage:
        events.append({"t": "usage", "in": 3, "out": len(parts)})
    events.append({"t": "finish", "v": "stop"})
    return events


_ERRORS: dict[int, type[ProviderStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    404: NotFoundError,
    429: RateLimitError,
}


class FakeAdapter:
    """Speaks FakeUpstream's format: POST /chat with the request as JSON."""

    name: ClassVar[str] = "fake"
    stream_format: ClassVar[str] = "ndjson"

    def __init__(self) -> None:
        self.requests: list[ChatRequest] = []

    def _headers(self, model: ModelConfig) -> dict[str, str]:
        key = model.api_key.reveal() if model.api_key else ""
        return {"Authorization": f"Bearer {key}"} if key else {}

    def build_request(self, req: ChatRequest, model: ModelConfig) -> HttpRequest:
        if model.options.get("missing_key"):
            raise MissingCredentialsError(f"{model.name} has no API key")
        self.requests.append(req)
        body = {
            "model": model.model_id,
            "stream": req.stream,
            "temperature": req.temperature,
            "top_p": req.top_p,
            "max_tokens": req.max_tokens,
            "messages": [
                {
                    "role": m.role,
                    "content": m.text,
                    "tool_calls": [c.id for c in m.tool_calls],
                    "tool_call_id": m.tool_call_id,
                }
                for m in req.messages
            ],
        }
        return HttpRequest(
            "POST", f"{model.base_url}/chat", self._headers(model), json.dumps(body).encode()
        )

    def parse_response(self, body: bytes, model: ModelConfig) -> ChatResponse:
        data = json.loads(body)
        return ChatResponse(
            text=data["text"],
            tool_calls=tuple(
                ToolCall(c["id"], c["name"], c["arguments"]) for c in data["tool_calls"]
            ),
            finish_reason=data["finish"],
            usage=Usage(data["usage"]["in"], data["usage"]["out"]),
            usage_reported=True,
            model=data["model"],
        )

    async def parse_stream(
        self, chunks: AsyncIterator[bytes], model: ModelConfig
    ) -> AsyncIterator[StreamEvent]:
        buffer = b""
        async for chunk in chunks:
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                yield self._event(json.loads(line))

    @staticmethod
    def _event(e: dict[str, Any]) -> StreamEvent:
        kind = e["t"]
        if kind == "meta":
            return MetaEvent(response_id=e["id"], model=e["model"])
        if kind == "text":
            return TextDelta(e["v"])
        if kind == "tool":
            call = ToolCall(e["id"], e["name"], e["arguments"])
            return ToolCallEnd(e["index"], call)
        if kind == "usage":
            return UsageEvent(Usage(e["in"], e["out"]))
        if kind == "finish":
            return FinishEvent(e["v"])
        raise UnexpectedResponseError(f"unknown event {kind}")

    def map_error(
        self, status: int, headers: Mapping[str, str], body: bytes, model: ModelConfig
    ) -> ProviderError:
        try:
            message = json.loads(body)["error"]["message"]
            code = json.loads(body)["error"].get("code")
        except (ValueError, KeyError, TypeError):
            message, code = body.decode(errors="replace")[:100], None
        if code == "context_length_exceeded":
            return ContextLengthExceededError(message, status=status, code=code)
        cls = _ERRORS.get(status, ServerError if status >= 500 else ProviderStatusError)
        return cls(message, status=status, provider=model.provider, model=model.name, code=code)

    def build_embeddings_request(self, inputs: Sequence[str], model: ModelConfig) -> HttpRequest:
        body = json.dumps({"input": list(inputs)}).encode()
        return HttpRequest("POST", f"{model.base_url}/embed", self._headers(model), body)

    def parse_embeddings(self, body: bytes, model: ModelConfig) -> EmbeddingResponse:
        data = json.loads(body)
        return EmbeddingResponse(tuple(tuple(v) for v in data["vectors"]), model="fake-1")

    def build_connection_test(self, model: ModelConfig) -> HttpRequest:
        return HttpRequest("GET", f"{model.base_url}/models", self._headers(model))

    def check_connection_response(self, body: bytes, model: ModelConfig) -> None:
        listed = {m["id"] for m in json.loads(body).get("data", [])}
        if model.model_id not in listed:
            raise NotFoundError("not listed", status=404)


def error_body(message: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "code": code}}


def make_model(base_url: str, name: str = "m1", **kw: Any) -> ModelConfig:
    defaults: dict[str, Any] = {
        "provider": "custom",
        "model_id": "fake-1",
        "api_key": Secret("sk-test-secret-key-1234"),
        "is_global": True,  # loopback upstreams need it
    }
    defaults.update(kw)
    return ModelConfig(id=f"id-{name}", name=name, base_url=base_url, **defaults)
