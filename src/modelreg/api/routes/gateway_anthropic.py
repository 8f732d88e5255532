"""Anthropic-compatible gateway: POST /v1/messages, routed to any registered model whatever
its provider (translated through the unified client). Errors come in Anthropic's shape."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel

from modelreg.actor import Actor
from modelreg.api.deps import CurrentActor, ServicesDep
from modelreg.api.routes._request_id import RequestIdRoute
from modelreg.errors import ModelregError
from modelreg.gateway import anthropic_wire as wire
from modelreg.gateway.core import (
    account,
    admit,
    loads_body,
    open_translated_stream,
    translated_chat,
)
from modelreg.gateway.errors import anthropic_error_body, classify
from modelreg.gateway.openapi import (
    ANTHROPIC_MESSAGES_RESPONSES,
    AnthropicErrorBody,
    json_body,
)
from modelreg.model_config import ModelConfig
from modelreg.services import Services
from modelreg.types import MetaEvent, StreamEvent, Usage, UsageEvent

__all__ = ["router"]

router = APIRouter(tags=["gateway (Anthropic-compatible)"], route_class=RequestIdRoute)

_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _frame(event: str, data: dict[str, Any]) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class _TokenCount(BaseModel):
    input_tokens: int


@router.post(
    "/v1/messages/count_tokens",
    summary="Estimated input tokens of a Messages request (Anthropic-compatible)",
    openapi_extra=json_body(wire.CountTokensRequest),
    responses={
        200: {"model": _TokenCount, "description": "The estimate; no upstream is called"},
        **{
            code: {"model": AnthropicErrorBody, "description": text}
            for code, text in {
                400: "Invalid request",
                401: "Missing or invalid token",
                404: "Unknown model, or not visible",
            }.items()
        },
    },
)
async def count_tokens(request: Request, actor: CurrentActor, services: ServicesDep) -> Response:
    """An estimate for any registered model (docs/api.md): upstreams of every provider may
    serve it and most cannot count, so no upstream is called and no usage is booked."""
    req = wire.parse_count_tokens_request(loads_body(await request.body()))
    await services.registry.resolve(actor, req.model)  # 404 for a model the caller cannot use
    body = {"input_tokens": wire.estimate_input_tokens(req)}
    return Response(orjson.dumps(body), media_type="application/json")


@router.post(
    "/v1/messages",
    summary="Messages (Anthropic-compatible; stream with `stream: true`)",
    openapi_extra=json_body(wire.MessagesRequest),
    responses=ANTHROPIC_MESSAGES_RESPONSES,
)
async def messages(request: Request, actor: CurrentActor, services: ServicesDep) -> Response:
    req = wire.parse_messages_request(loads_body(await request.body()))
    model = await admit(services, actor, req.model)
    kwargs = wire.to_unified(req)
    if not req.stream:
        response = await translated_chat(services, actor, model, kwargs, source="anthropic")
        body = wire.message_json(response, model.name)
        return Response(orjson.dumps(body), media_type="application/json")
    first, events, started = await open_translated_stream(
        services, actor, model, kwargs, source="anthropic"
    )
    return StreamingResponse(
        _stream(services, actor, model, first, events, started),
        media_type="text/event-stream",
        headers=_SSE_HEADERS,
    )


async def _stream(
    services: Services,
    actor: Actor,
    model: ModelConfig,
    first: StreamEvent,
    events: AsyncIterator[StreamEvent],
    started: float,
) -> AsyncIterator[bytes]:
    writer = wire.StreamWriter(model.name)
    if isinstance(first, MetaEvent) and first.model:
        writer.model = first.model
    usage: Usage | None = None
    served = model
    ttft: float | None = None
    error: ModelregError | None = None
    complete = booked = False

    def book() -> None:
        nonlocal booked
        if not booked:
            booked = True
            account(services, actor, served, source="anthropic", usage=usage, ttft_ms=ttft,
                    latency_ms=(time.perf_counter() - started) * 1000,
                    status="ok" if complete else "incomplete", error=error)  # fmt: skip

    try:
        yield b"".join(_frame(name, data) for name, data in writer.start())
        pending: list[StreamEvent] = [first]
        while True:
            for event in pending:
                if isinstance(event, MetaEvent):
                    served = await services.registry.served_config(model, event.served_by_id)
                elif isinstance(event, UsageEvent):
                    usage = event.usage
                frames = writer.event(event)
                if frames:
                    if ttft is None:
                        ttft = (time.perf_counter() - started) * 1000
                    yield b"".join(_frame(name, data) for name, data in frames)
            try:
                pending = [await anext(events)]
            except StopAsyncIteration:
                break
        complete = True
        book()  # journaled before the last frames leave (a kill after them loses nothing)
        yield b"".join(_frame(name, data) for name, data in writer.finish(usage or Usage()))
    except ModelregError as e:
        error = e
        yield _frame("error", anthropic_error_body(classify(e)))
    finally:
        book()
