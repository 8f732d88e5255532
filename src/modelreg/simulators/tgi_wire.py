"""Hugging Face text-generation-inference (TGI) on the wire: the Messages API
(`/v1/chat/completions`, OpenAI-shaped with TGI's differences), `/v1/models`, `/info`,
`/health`, and a TEI-style `/embed`.

Differences from OpenAI, from TGI's router/src/lib.rs and server.rs: errors are
`{"error": str, "error_type": str}` (422 validation, 424 generation, 429 overloaded, 500
incomplete generation), in-stream errors are a `data:` event of that shape, tool-call ids are
"0", "1", ..., each function carries `description: null`, usage has only the three totals.
A body that does not deserialise is rejected by axum with a plain-text 422.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from aiohttp import web

from modelreg.simulators import openai_routes, openai_wire
from modelreg.simulators._common import embedding_inputs, fake_embedding, json_response
from modelreg.simulators.delivery import scripted_preamble
from modelreg.simulators.script import Script
from modelreg.simulators.state import RECORD, SimContext

__all__ = ["TGI", "add_routes", "check_auth", "not_found"]

MODEL_ID = "meta-llama/Llama-3.1-8B-Instruct"
VERSION = "3.3.6"
EMBEDDING_DIMENSIONS = 32

_STATUS_ERRORS = {
    400: ("validation", "Input validation error: invalid request"),
    401: ("authentication", "Authorization header is correct, but the token seems invalid"),
    404: ("not_found", "Not Found"),
    422: (
        "validation",
        "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. "
        "Given: 4000 `inputs` tokens and 1000 `max_new_tokens`",
    ),
    424: ("generation", "Request failed during generation: Server error: CUDA out of memory"),
    429: ("overloaded", "Model is overloaded"),
    500: ("incomplete_generation", "Incomplete generation"),
    503: ("unhealthy", "unhealthy"),
}


def tgi_error(status: int, message: str | None, code: str | None) -> dict[str, Any]:
    kind, default_message = _STATUS_ERRORS.get(status, ("generation", "Request failed"))
    return {"error": message or default_message, "error_type": code or kind}


TGI = openai_wire.Dialect(
    name="tgi",
    tool_id=str,
    system_fingerprint=f"{VERSION}-sha-simulator",
    retry_after_ms=False,
    detailed_usage=False,
    function_description=True,
    reasoning_field=None,
    error_body=tgi_error,
)


def _served_model(ctx: SimContext) -> str:
    return ctx.models[0] if ctx.models else MODEL_ID


async def chat_handler(request: web.Request, ctx: SimContext) -> web.StreamResponse:
    body = await openai_routes.read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        # axum's Json extractor answers before TGI's own validation, in plain text.
        return web.Response(
            status=422,
            text="Failed to deserialize the JSON body into the target type: "
            "missing field `messages` at line 1 column 2",
        )
    if not body["messages"]:
        return TGI.error_response(422, "Input validation error: messages is empty", None, None)
    # One model per server: whatever `model` says, the served model answers.
    return await openai_routes.chat_handler(
        request, ctx, TGI, model=_served_model(ctx), model_required=False
    )


async def models_handler(request: web.Request, ctx: SimContext) -> web.Response:
    script = ctx.state.take(request[RECORD], generation=False)
    if script is not None:
        failure = await scripted_preamble(ctx, script, TGI.error_response)
        if failure is not None:
            return failure
    model = _served_model(ctx)
    return json_response(
        {
            "object": "list",
            "data": [{"id": model, "object": "model", "created": 1700000000, "owned_by": model}],
        }
    )


async def info_handler(request: web.Request, ctx: SimContext) -> web.Response:
    script = ctx.state.take(request[RECORD], generation=False)
    if script is not None:
        failure = await scripted_preamble(ctx, script, TGI.error_response)
        if failure is not None:
            return failure
    return json_response(
        {
            "model_id": _served_model(ctx),
            "model_sha": None,
            "model_pipeline_tag": "text-generation",
            "max_concurrent_requests": 128,
            "max_best_of": 2,
            "max_stop_sequences": 4,
            "max_input_tokens": 4095,
            "max_total_tokens": 4096,
            "validation_workers": 2,
            "max_client_batch_size": 4,
            "router": "text-generation-router",
            "version": VERSION,
            "sha": None,
            "docker_label": None,
        }
    )


async def health_handler(request: web.Request) -> web.Response:
    return web.Response(status=200)


async def embed_handler(request: web.Request, ctx: SimContext) -> web.StreamResponse:
    """TEI's `/embed`: `{"inputs": str | [str]}` → a bare list of vectors."""
    body = await openai_routes.read_json(request)
    inputs = embedding_inputs(body.get("inputs")) if isinstance(body, dict) else None
    if not inputs:
        return json_response({"error": "`inputs` cannot be empty", "error_type": "Validation"}, 422)
    script = ctx.state.take(request[RECORD], generation=True) or Script()
    failure = await scripted_preamble(ctx, script, TGI.error_response)
    if failure is not None:
        return failure
    return json_response([fake_embedding(text, EMBEDDING_DIMENSIONS) for text in inputs])


def check_auth(request: web.Request, ctx: SimContext) -> web.Response | None:
    """Self-hosted TGI has no auth; behind an Inference Endpoint a Bearer token is needed."""
    if ctx.api_key is None or request.path == "/health":
        return None
    token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if token != ctx.api_key:
        return TGI.error_response(401, None, None, None)
    return None


def not_found(request: web.Request) -> web.Response:
    return web.Response(status=404)


def add_routes(app: web.Application, ctx: SimContext) -> None:
    app.router.add_post("/v1/chat/completions", partial(chat_handler, ctx=ctx))
    app.router.add_get("/v1/models", partial(models_handler, ctx=ctx))
    app.router.add_get("/info", partial(info_handler, ctx=ctx))
    app.router.add_get("/health", health_handler)
    app.router.add_post("/embed", partial(embed_handler, ctx=ctx))
