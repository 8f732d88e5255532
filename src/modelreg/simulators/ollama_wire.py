"""Ollama on the wire: native `/api/chat` (NDJSON, streams by default), `/api/tags`,
`/api/embed`, `/api/version`, plus the OpenAI-compatible `/v1/*` routes.

Checked against ollama's docs/api.md, api/types.go (ToolCall with optional id and
function.index), openai/openai.go (the /v1 error shape) and the `ollama` Python client
(`ResponseError` from `{"error": ...}`, in-stream error lines).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import partial
from typing import Any

from aiohttp import web

from modelreg.simulators import openai_routes, openai_wire
from modelreg.simulators._common import (
    default_answer,
    dimensions_problem,
    embedding_inputs,
    estimate_tokens,
    fake_embedding,
    json_response,
    new_id,
    retry_after_headers,
    unified_finish,
)
from modelreg.simulators.delivery import deliver, scripted_preamble
from modelreg.simulators.script import Reply, Script, split_text
from modelreg.simulators.state import RECORD, SimContext

__all__ = ["OLLAMA_V1", "OllamaWire", "add_routes", "check_auth", "not_found"]

VERSION = "0.12.3"
DEFAULT_MODELS = ("llama3.2:latest", "qwen3:8b", "nomic-embed-text:latest")
EMBEDDING_DIMENSIONS = 32

_FINISH = {"stop": "stop", "length": "length", "tool_calls": "stop"}
_DEFAULT_MESSAGES = {
    400: "invalid request",
    401: "unauthorized",
    403: "forbidden",
    404: "model not found",
    429: "too many requests",
    500: "an error was encountered while running the model: unexpected EOF",
    502: "an error was encountered while running the model: upstream unreachable",
    503: "server busy, please try again.  maximum pending requests exceeded",
}


def error_response(
    status: int, message: str | None, code: str | None, retry_after: float | None
) -> web.Response:
    text = message or _DEFAULT_MESSAGES.get(status, "error")
    return json_response({"error": text}, status, retry_after_headers(retry_after, with_ms=False))


def _v1_error(status: int, message: str | None, code: str | None) -> dict[str, Any]:
    kind = {400: "invalid_request_error", 404: "not_found_error"}.get(status, "api_error")
    text = message or _DEFAULT_MESSAGES.get(status, "error")
    return {"error": {"message": text, "type": kind, "param": None, "code": code}}


OLLAMA_V1 = openai_wire.Dialect(
    name="ollama",
    tool_id=lambda _i: new_id("call_", 8),
    system_fingerprint="fp_ollama",
    retry_after_ms=False,
    detailed_usage=False,
    reasoning_field="reasoning",
    honours_n=False,  # Ollama's OpenAI layer does not support `n` (docs: openai-compatibility)
    error_body=_v1_error,
)


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _canonical(model: str) -> str:
    return model if ":" in model else f"{model}:latest"


class OllamaWire:
    stream_content_type = "application/x-ndjson"

    def __init__(self) -> None:
        self._ids: dict[int, str] = {}

    def error_response(
        self, status: int, message: str | None, code: str | None, retry_after: float | None
    ) -> web.Response:
        return error_response(status, message, code, retry_after)

    def error_payload(self, message: str | None, code: str | None) -> Any:
        return {"error": message or _DEFAULT_MESSAGES[500]}

    def error_frame(self, message: str | None, code: str | None) -> bytes:
        return _line(self.error_payload(message, code))

    def unknown_frame(self) -> bytes:
        return b'{"simulator_future_field":{"note":"clients must ignore unknown fields"}}\n'

    def bad_json_frame(self) -> bytes:
        return b'{"model":"broken","message":{"role":"assist\n'

    def _tool_calls(self, reply: Reply) -> tuple[list[dict[str, Any]], str]:
        """Tool calls in Ollama's shape (arguments as an object). A raw argument string that is
        not a JSON object cannot be one; Ollama then leaves the model output as text."""
        calls: list[dict[str, Any]] = []
        leftover = ""
        for call in reply.tool_calls:
            arguments = call.call.arguments_object
            if arguments is None:
                leftover += call.call.arguments_json
                continue
            function = {"index": call.index, "name": call.call.name, "arguments": arguments}
            calls.append({"id": call.id_or(lambda _i: new_id("call_", 8)), "function": function})
        return calls, leftover

    def _final(self, reply: Reply, message: dict[str, Any]) -> dict[str, Any]:
        usage = reply.usage
        return {
            "model": reply.model,
            "created_at": _now(),
            "message": message,
            "done": True,
            "done_reason": unified_finish(reply.finish_reason, _FINISH, "stop"),
            # Durations are nanoseconds.
            "total_duration": 900_000_000 + usage.output * 20_000_000,
            "load_duration": 50_000_000,
            "prompt_eval_count": usage.input,
            "prompt_eval_duration": usage.input * 1_000_000,
            "eval_count": usage.output,
            "eval_duration": usage.output * 20_000_000,
        }

    def body(self, reply: Reply) -> Any:
        calls, leftover = self._tool_calls(reply)
        message: dict[str, Any] = {"role": "assistant", "content": reply.text + leftover}
        if reply.reasoning:
            message["thinking"] = reply.reasoning
        if calls:
            message["tool_calls"] = calls
        return self._final(reply, message)

    def frames(self, reply: Reply) -> list[bytes]:
        calls, leftover = self._tool_calls(reply)
        pieces = [*reply.chunks, leftover] if leftover else list(reply.chunks)
        frames = [
            _line(self._chunk(reply, {"role": "assistant", "content": "", "thinking": piece}))
            for piece in split_text(reply.reasoning)
        ]
        frames += [_line(self._chunk(reply, {"role": "assistant", "content": p})) for p in pieces]
        if calls:  # Ollama sends tool calls whole, in one chunk
            message = {"role": "assistant", "content": "", "tool_calls": calls}
            frames.append(_line(self._chunk(reply, message)))
        frames.append(_line(self._final(reply, {"role": "assistant", "content": ""})))
        return frames

    @staticmethod
    def _chunk(reply: Reply, message: dict[str, Any]) -> dict[str, Any]:
        return {"model": reply.model, "created_at": _now(), "message": message, "done": False}


def _line(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode() + b"\n"


async def _body(request: web.Request) -> tuple[Any, web.Response | None]:
    raw = await request.read()
    try:
        return (json.loads(raw) if raw else {}), None
    except ValueError:
        return None, error_response(400, "invalid character in request body", None, None)


def _model_problem(body: Any, ctx: SimContext) -> web.Response | None:
    if not isinstance(body, dict) or not body.get("model"):
        return error_response(400, "model is required", None, None)
    if not _knows(ctx, body["model"]):
        return error_response(404, f"model '{body['model']}' not found", None, None)
    return None


def _knows(ctx: SimContext, model: str) -> bool:
    """Ollama resolves a bare name to its `:latest` tag."""
    return ctx.models is None or _canonical(model) in {_canonical(m) for m in ctx.models}


async def chat_handler(request: web.Request, ctx: SimContext) -> web.StreamResponse:
    body, problem = await _body(request)
    problem = problem or _model_problem(body, ctx)
    if problem is not None:
        return problem
    messages = body.get("messages") or []
    if not messages:  # an empty chat only loads the model
        return json_response(
            {
                "model": body["model"],
                "created_at": _now(),
                "message": {"role": "assistant", "content": ""},
                "done_reason": "load",
                "done": True,
            }
        )
    script = ctx.state.take(request[RECORD], generation=True) or Script()
    reply = script.resolve(
        default_text=default_answer(messages),
        prompt_tokens=estimate_tokens(messages, body.get("tools")),
        model=body["model"],
    )
    # Ollama streams unless told otherwise.
    stream = body.get("stream", True) is not False
    return await deliver(request, ctx, script, OllamaWire(), reply, stream=stream)


async def embed_handler(request: web.Request, ctx: SimContext) -> web.StreamResponse:
    body, problem = await _body(request)
    problem = problem or _model_problem(body, ctx)
    if problem is not None:
        return problem
    legacy = request.path == "/api/embeddings"  # the superseded single-prompt endpoint
    inputs = embedding_inputs(body.get("prompt" if legacy else "input", ""))
    if inputs is None:
        return error_response(400, "invalid input type", None, None)
    script = ctx.state.take(request[RECORD], generation=True) or Script()
    failure = await scripted_preamble(ctx, script, error_response)
    if failure is not None:
        return failure
    dimensions = int(body.get("dimensions") or EMBEDDING_DIMENSIONS)
    too_many = dimensions_problem(dimensions)
    if too_many is not None:
        return error_response(400, too_many, None, None)
    vectors = [fake_embedding(text, dimensions) for text in inputs]
    if legacy:
        return json_response({"embedding": vectors[0]})
    return json_response(
        {
            "model": body["model"],
            "embeddings": vectors,
            "total_duration": 14_143_917,
            "load_duration": 1_019_500,
            "prompt_eval_count": estimate_tokens(*inputs),
        }
    )


async def tags_handler(request: web.Request, ctx: SimContext) -> web.Response:
    script = ctx.state.take(request[RECORD], generation=False)
    if script is not None:
        failure = await scripted_preamble(ctx, script, error_response)
        if failure is not None:
            return failure
    models = [
        {
            "name": _canonical(name),
            "model": _canonical(name),
            "modified_at": "2025-09-01T10:00:00.000000Z",
            "size": 2_019_393_189,
            "digest": new_id("", 64).ljust(64, "0"),
            "details": {
                "parent_model": "",
                "format": "gguf",
                "family": "llama",
                "families": ["llama"],
                "parameter_size": "3.2B",
                "quantization_level": "Q4_K_M",
            },
        }
        for name in (ctx.models or DEFAULT_MODELS)
    ]
    return json_response({"models": models})


async def version_handler(request: web.Request) -> web.Response:
    return json_response({"version": VERSION})


async def root_handler(request: web.Request) -> web.Response:
    return web.Response(text="Ollama is running")


def check_auth(request: web.Request, ctx: SimContext) -> web.Response | None:
    """Local Ollama needs no key; with one configured (as ollama.com) a Bearer is required."""
    if ctx.api_key is None or request.path == "/":
        return None
    token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if token != ctx.api_key:
        return error_response(401, "unauthorized", None, None)
    return None


def not_found(request: web.Request) -> web.Response:
    return web.Response(status=404, text="404 page not found")


async def _v1_chat(request: web.Request, ctx: SimContext) -> web.StreamResponse:
    body = await openai_routes.read_json(request)
    model = body.get("model") if isinstance(body, dict) else None
    if isinstance(model, str) and not _knows(ctx, model):
        return OLLAMA_V1.error_response(404, f"model '{model}' not found", None, None)
    return await openai_routes.chat_handler(request, ctx, OLLAMA_V1, model_required=False)


def add_routes(app: web.Application, ctx: SimContext) -> None:
    app.router.add_get("/", root_handler)
    app.router.add_get("/api/version", version_handler)
    app.router.add_get("/api/tags", partial(tags_handler, ctx=ctx))
    app.router.add_post("/api/chat", partial(chat_handler, ctx=ctx))
    app.router.add_post("/api/embed", partial(embed_handler, ctx=ctx))
    app.router.add_post("/api/embeddings", partial(embed_handler, ctx=ctx))
    # OpenAI compatibility: the key is required by SDKs but ignored by Ollama.
    app.router.add_post("/v1/chat/completions", partial(_v1_chat, ctx=ctx))
    app.router.add_post(
        "/v1/embeddings", partial(openai_routes.embeddings_handler, ctx=ctx, dialect=OLLAMA_V1)
    )
    app.router.add_get(
        "/v1/models",
        partial(
            openai_routes.models_handler,
            ctx=ctx,
            dialect=OLLAMA_V1,
            owner="library",
            defaults=tuple(_canonical(m) for m in (ctx.models or DEFAULT_MODELS)),
        ),
    )
