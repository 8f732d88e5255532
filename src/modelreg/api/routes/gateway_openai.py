"""OpenAI-compatible gateway: GET /v1/models, POST /v1/chat/completions, POST /v1/embeddings.

`model` is a registry model name visible to the caller, or its id. OpenAI-format requests to
OpenAI-compatible upstreams are forwarded byte for byte (gateway/passthrough.py); others are
translated through the unified client. Errors come in OpenAI's shape (gateway/errors.py).
"""

from __future__ import annotations

import base64
import struct
import time
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from modelreg.actor import Actor
from modelreg.api.deps import CurrentActor, ServicesDep
from modelreg.api.routes._relayed import relayed_response
from modelreg.api.routes._request_id import RequestIdRoute
from modelreg.errors import ProviderError
from modelreg.experiments.routing import openai_key, refuse_experiment, resolve_model
from modelreg.gateway import models_wire
from modelreg.gateway import openai_wire as wire
from modelreg.gateway.core import account, admit, admit_model, loads_body, translated_chat
from modelreg.gateway.embeddings_forward import forward_embeddings
from modelreg.gateway.errors import GatewayRequestError
from modelreg.gateway.fallback_forward import Translate, forward_chain
from modelreg.gateway.forward import SSE_HEADERS, forward_openai
from modelreg.gateway.openai_stream import open_openai_stream
from modelreg.gateway.openapi import (
    OPENAI_CHAT_RESPONSES,
    OPENAI_EMBEDDING_RESPONSES,
    OPENAI_MODELS_RESPONSES,
    ModelObject,
    OpenAIErrorBody,
    json_body,
)
from modelreg.model_config import ModelConfig
from modelreg.registry.schemas import ModelPublic
from modelreg.services import Services

__all__ = ["router"]

router = APIRouter(tags=["gateway (OpenAI-compatible)"], route_class=RequestIdRoute)


def _json(data: Any) -> Response:
    return Response(orjson.dumps(data), media_type="application/json")


# --- models ------------------------------------------------------------------------------


@router.get(
    "/v1/models",
    summary="Models the caller may use (OpenAI list format; Anthropic's with anthropic-version)",
    responses=OPENAI_MODELS_RESPONSES,
)
async def list_models(request: Request, actor: CurrentActor, services: ServicesDep) -> Response:
    """Read from the registry's cache only; never calls a provider. The bytes are kept with
    that cache (per user and shape): with 1,000 models, building them took milliseconds."""
    anthropic = models_wire.wants_anthropic(request.headers)
    owner = actor.username
    page = models_wire.page_of(request.query_params) if anthropic else None

    table = services.experiments.table
    running = table.running(actor.id)  # A/B experiments are used by name like models

    def render(models: list[ModelPublic]) -> bytes:
        listing = models_wire.listing(models, owner, anthropic=anthropic, page=page, extra=running)
        return orjson.dumps(listing)

    variant = ("v1", anthropic, owner, page, table.version)
    body = await services.registry.listing(actor, variant, render, enabled=True)
    return Response(body, media_type="application/json")


@router.get(
    "/v1/models/{model}",
    summary="One model the caller may use, by name or id (as listed by GET /v1/models)",
    responses={
        200: {"model": ModelObject, "description": "The model, as GET /v1/models lists it"},
        401: {"model": OpenAIErrorBody, "description": "Missing or invalid token"},
        404: {"model": OpenAIErrorBody, "description": "Unknown model, or not visible"},
    },
    openapi_extra={
        "parameters": [
            {
                "name": "model",
                "in": "path",
                "required": True,
                "description": "The model's name or id",
                "schema": {"type": "string"},
            }
        ]
    },
)
async def retrieve_model(request: Request, actor: CurrentActor, services: ServicesDep) -> Response:
    # read by hand, declared in openapi_extra: a str path parameter cannot fail validation,
    # so FastAPI's 422 (in its own error shape) must not be documented here
    model = request.path_params["model"]
    anthropic = models_wire.wants_anthropic(request.headers)
    experiment = next((e for e in services.experiments.table.running(actor.id)
                       if e.name == model), None)  # fmt: skip
    if experiment is not None:
        return _json(models_wire.one(experiment, actor.username, anthropic=anthropic))
    found = models_wire.find(await services.registry.list_models(actor, enabled=True), model)
    return _json(models_wire.one(found, actor.username, anthropic=anthropic))


# --- chat completions ------------------------------------------------------------------------


@router.post(
    "/v1/chat/completions",
    summary="Chat completion (OpenAI-compatible; stream with `stream: true`)",
    openapi_extra=json_body(wire.ChatCompletionRequest),
    responses=OPENAI_CHAT_RESPONSES,
)
async def chat_completions(
    request: Request, actor: CurrentActor, services: ServicesDep
) -> Response:
    data = loads_body(await request.body())
    req = wire.parse_chat_request(data)
    model = await resolve_model(services, actor, req.model, openai_key(data))  # or an A/B arm
    model = await admit_model(services, actor, model)
    if model.fallback_model_ids:  # the fast path leaves chains to this route
        chained = await forward_chain(services, actor, model, data, stream=bool(req.stream))
        if isinstance(chained, Translate):
            return await _translated(services, actor, chained.model, req, chained.fallbacks)
        return relayed_response(chained)
    reply = await forward_openai(services, actor, model, data, stream=bool(req.stream))
    if reply is None:
        return await _translated(services, actor, model, req)
    request.app.state.routed_passthroughs += 1
    return relayed_response(reply)


async def _translated(
    services: Services,
    actor: Actor,
    model: ModelConfig,
    req: wire.ChatCompletionRequest,
    fallbacks: tuple[ModelConfig, ...] | None = None,
) -> Response:
    kwargs = wire.to_unified(req)
    if fallbacks is not None:  # the rest of a chain whose earlier members were forwarded
        kwargs["fallbacks"] = fallbacks
    if not req.stream:
        response = await translated_chat(services, actor, model, kwargs, source="openai")
        return _json(wire.completion_json(response, model.name))
    include_usage = bool(req.stream_options and req.stream_options.include_usage)
    frames = await open_openai_stream(services, actor, model, kwargs, include_usage=include_usage)
    return StreamingResponse(frames, media_type="text/event-stream", headers=SSE_HEADERS)


# --- embeddings ----------------------------------------------------------------------------


def _vector(values: tuple[float, ...], encoding: str | None) -> list[float] | str:
    if encoding == "base64":  # what the openai SDK asks for by default: float32, little-endian
        return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()
    return list(values)


@router.post(
    "/v1/embeddings",
    summary="Embeddings (OpenAI-compatible)",
    openapi_extra=json_body(wire.EmbeddingRequest),
    responses=OPENAI_EMBEDDING_RESPONSES,
)
async def embeddings(request: Request, actor: CurrentActor, services: ServicesDep) -> Response:
    data = loads_body(await request.body())
    req = wire.parse_embedding_request(data)
    if not req.input:
        raise GatewayRequestError("input must not be empty", param="input")
    refuse_experiment(services, actor, req.model)  # A/B experiments compare chat models
    model = await admit(services, actor, req.model, purpose=None)
    forwarded = await forward_embeddings(services, actor, model, data)
    if forwarded is not None:
        return Response(forwarded, media_type="application/json")
    inputs = req.texts()
    if inputs is None:
        raise GatewayRequestError(
            f"input: token ids are accepted by OpenAI-compatible models only; {model.name} "
            "takes text, send the input as strings",
            param="input",
            code="unsupported_parameter",
        )
    started = time.perf_counter()
    try:
        result = await services.client.embed(model, inputs, dimensions=req.dimensions)
    except ProviderError as e:
        account(services, actor, model, source="embeddings", usage=None, status="error",
                latency_ms=(time.perf_counter() - started) * 1000, error=e)  # fmt: skip
        raise
    account(services, actor, model, source="embeddings", usage=result.usage,
            latency_ms=(time.perf_counter() - started) * 1000)  # fmt: skip
    tokens = result.usage.input_tokens
    return _json({
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": _vector(v, req.encoding_format)}
            for i, v in enumerate(result.vectors)
        ],
        "model": result.model or model.name,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    })  # fmt: skip
