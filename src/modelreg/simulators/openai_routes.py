"""OpenAI-style HTTP routes: `/v1/chat/completions`, `/v1/embeddings`, `/v1/models`, and the
401 answers. The Azure, Ollama /v1 and TGI flavors reuse these handlers with their `Dialect`;
the bytes themselves are encoded by `openai_wire`.
"""

from __future__ import annotations

import base64
import json
import struct
from functools import partial
from typing import Any

from aiohttp import web

from modelreg.simulators._common import (
    default_answer,
    dimensions_problem,
    embedding_inputs,
    estimate_tokens,
    fake_embedding,
    json_response,
)
from modelreg.simulators.delivery import deliver, scripted_preamble
from modelreg.simulators.openai_wire import OPENAI, Dialect, OpenAIChatWire
from modelreg.simulators.script import Script
from modelreg.simulators.state import RECORD, SimContext

__all__ = [
    "add_routes",
    "chat_handler",
    "check_auth",
    "embeddings_handler",
    "models_handler",
    "read_json",
]

DEFAULT_MODELS = ("gpt-4o-mini", "gpt-4o", "text-embedding-3-small")
EMBEDDING_DIMENSIONS = 32


async def read_json(request: web.Request) -> Any:
    """The parsed body, or None when it is missing or not JSON."""
    raw = await request.read()
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def validate_chat(body: Any, dialect: Dialect, *, model_required: bool = True) -> str | None:
    """OpenAI's cheapest 400s: unparseable body, no model, no messages."""
    if not isinstance(body, dict):
        return "We could not parse the JSON body of your request. The API expects a JSON payload."
    if model_required and not body.get("model"):
        return "you must provide a model parameter"
    messages = body.get("messages")
    if messages is None:
        return "Missing required parameter: 'messages'."
    if not isinstance(messages, list) or not messages:
        return "Invalid 'messages': empty array. Expected an array with minimum length 1."
    return None


async def chat_handler(
    request: web.Request,
    ctx: SimContext,
    dialect: Dialect,
    *,
    model: str | None = None,
    model_required: bool = True,
) -> web.StreamResponse:
    body = await read_json(request)
    problem = validate_chat(body, dialect, model_required=model_required)
    if problem is not None:
        return dialect.error_response(400, problem, None, None)
    model = model or body.get("model") or "tgi"
    if model_required and not ctx.knows_model(model):
        return dialect.error_response(
            404, f"The model `{model}` does not exist or you do not have access to it.", None, None
        )
    script = ctx.state.take(request[RECORD], generation=True) or Script()
    reply = script.resolve(
        default_text=default_answer(body["messages"]),
        prompt_tokens=estimate_tokens(body["messages"], body.get("tools")),
        model=model,
    )
    stream_options = body.get("stream_options") or {}
    n = body.get("n")
    wire = OpenAIChatWire(
        dialect,
        include_usage=bool(stream_options.get("include_usage")),
        n=n if isinstance(n, int) and n > 1 else 1,
    )
    return await deliver(request, ctx, script, wire, reply, stream=bool(body.get("stream")))


async def embeddings_handler(
    request: web.Request, ctx: SimContext, dialect: Dialect, *, model: str | None = None
) -> web.StreamResponse:
    body = await read_json(request)
    if not isinstance(body, dict):
        return dialect.error_response(400, "We could not parse the JSON body.", None, None)
    inputs = embedding_inputs(body.get("input"))
    if not inputs:
        return dialect.error_response(400, "'input' is a required property", None, None)
    model = model or body.get("model")
    if not model:
        return dialect.error_response(400, "you must provide a model parameter", None, None)
    if not ctx.knows_model(model):
        return dialect.error_response(404, f"The model `{model}` does not exist.", None, None)
    script = ctx.state.take(request[RECORD], generation=True) or Script()
    failure = await scripted_preamble(ctx, script, dialect.error_response)
    if failure is not None:
        return failure
    dimensions = int(body.get("dimensions") or EMBEDDING_DIMENSIONS)
    too_many = dimensions_problem(dimensions)
    if too_many is not None:
        return dialect.error_response(400, too_many, None, None)
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    for index, text in enumerate(inputs):
        vector = fake_embedding(text, dimensions)
        encoded: Any = vector
        if as_base64:
            packed = struct.pack(f"<{len(vector)}f", *vector)
            encoded = base64.b64encode(packed).decode()
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    tokens = estimate_tokens(*inputs)
    return json_response(
        {
            "object": "list",
            "data": data,
            "model": script.model or model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    )


async def models_handler(
    request: web.Request,
    ctx: SimContext,
    dialect: Dialect,
    owner: str,
    defaults: tuple[str, ...] = DEFAULT_MODELS,
) -> web.Response:
    script = ctx.state.take(request[RECORD], generation=False)
    if script is not None:
        failure = await scripted_preamble(ctx, script, dialect.error_response)
        if failure is not None:
            return failure
    return json_response(
        {
            "object": "list",
            "data": [
                {"id": name, "object": "model", "created": 1700000000, "owned_by": owner}
                for name in (ctx.models or defaults)
            ],
        }
    )


def check_auth(request: web.Request, ctx: SimContext, dialect: Dialect = OPENAI) -> Any:
    """OpenAI's 401 answers: no key at all, or a key that does not match."""
    if ctx.api_key is None:
        return None
    header = request.headers.get("Authorization", "")
    if not header:
        message = (
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
        )
        return dialect.error_response(401, message, None, None)
    token = header.removeprefix("Bearer ").strip()
    if token != ctx.api_key:
        hint = "*" * 8 + token[-4:] if len(token) > 8 else "****"
        message = f"Incorrect API key provided: {hint}. You can find your API key at the dashboard."
        return dialect.error_response(401, message, "invalid_api_key", None)
    return None


def add_routes(app: web.Application, ctx: SimContext, dialect: Dialect = OPENAI) -> None:
    app.router.add_post("/v1/chat/completions", partial(chat_handler, ctx=ctx, dialect=dialect))
    app.router.add_post("/v1/embeddings", partial(embeddings_handler, ctx=ctx, dialect=dialect))
    app.router.add_get(
        "/v1/models", partial(models_handler, ctx=ctx, dialect=dialect, owner="system")
    )
