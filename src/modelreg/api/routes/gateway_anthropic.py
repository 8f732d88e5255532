"""Anthropic-compatible gateway: POST /v1/messages, routed to any registered model whatever
its provider (translated through the unified client). Errors come in Anthropic's shape."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel

from modelreg.api.deps import CurrentActor, ServicesDep
from modelreg.api.routes._request_id import RequestIdRoute
from modelreg.gateway import anthropic_wire as wire
from modelreg.gateway.anthropic_stream import open_anthropic_stream
from modelreg.gateway.core import admit, loads_body, translated_chat
from modelreg.gateway.forward import SSE_HEADERS
from modelreg.gateway.openapi import (
    ANTHROPIC_MESSAGES_RESPONSES,
    AnthropicErrorBody,
    json_body,
)

__all__ = ["router"]

router = APIRouter(tags=["gateway (Anthropic-compatible)"], route_class=RequestIdRoute)


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
    kwargs = wire.to_unified(req, request.headers.get("anthropic-beta"))
    if not req.stream:
        response = await translated_chat(services, actor, model, kwargs, source="anthropic")
        body = wire.message_json(response, model.name)
        return Response(orjson.dumps(body), media_type="application/json")
    frames = await open_anthropic_stream(services, actor, model, kwargs)
    return StreamingResponse(frames, media_type="text/event-stream", headers=SSE_HEADERS)
