"""Anthropic-compatible gateway: POST /v1/messages, routed to any registered model whatever
its provider. A model whose adapter is the Anthropic one (and has no fallback chain) gets the
request byte for byte (gateway/passthrough_anthropic.py); others are translated through the
unified client. Errors come in Anthropic's shape."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel

from modelreg.api.deps import CurrentActor, ServicesDep
from modelreg.api.routes._relayed import relayed_response
from modelreg.api.routes._request_id import RequestIdRoute
from modelreg.experiments.routing import resolve_model
from modelreg.gateway import anthropic_wire as wire
from modelreg.gateway.anthropic_stream import open_anthropic_stream
from modelreg.gateway.core import admit_model, loads_body, translated_chat
from modelreg.gateway.forward import SSE_HEADERS, forward_anthropic
from modelreg.gateway.openapi import (
    ANTHROPIC_MESSAGES_RESPONSES,
    AnthropicErrorBody,
    json_body,
)
from modelreg.gateway.passthrough_anthropic import (
    anthropic_passthrough_adapter,
    passthrough_target,
    precheck,
    resolve_target,
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
    await resolve_model(services, actor, req.model, None)  # 404 for a model the caller cannot use
    body = {"input_tokens": wire.estimate_input_tokens(req)}
    return Response(orjson.dumps(body), media_type="application/json")


@router.post(
    "/v1/messages",
    summary="Messages (Anthropic-compatible; stream with `stream: true`)",
    openapi_extra=json_body(wire.MessagesRequest),
    responses=ANTHROPIC_MESSAGES_RESPONSES,
)
async def messages(request: Request, actor: CurrentActor, services: ServicesDep) -> Response:
    data = loads_body(await request.body())
    target = passthrough_target(data)
    if target is None:  # a body the pass-through cannot route: the full check says why
        wire.parse_messages_request(data)
        raise RuntimeError("a Messages request without a model passed validation")
    model = await resolve_target(services, actor, data, target.model)
    if anthropic_passthrough_adapter(model) is not None:
        precheck(data)
        model = await admit_model(services, actor, model)
        reply = await forward_anthropic(
            services, actor, model, data, stream=target.stream,
            version=request.headers.get("anthropic-version"),
            beta=",".join(request.headers.getlist("anthropic-beta")) or None,
        )  # fmt: skip
        if reply is None:  # unreachable: the adapter was checked above
            raise RuntimeError("pass-through refused after the adapter check")
        request.app.state.routed_passthroughs += 1
        return relayed_response(reply)
    req = wire.parse_messages_request(data)
    model = await admit_model(services, actor, model)
    kwargs = wire.to_unified(req, request.headers.get("anthropic-beta"))
    if not req.stream:
        response = await translated_chat(services, actor, model, kwargs, source="anthropic")
        body = wire.message_json(response, model.name)
        return Response(orjson.dumps(body), media_type="application/json")
    frames = await open_anthropic_stream(services, actor, model, kwargs)
    return StreamingResponse(frames, media_type="text/event-stream", headers=SSE_HEADERS)
