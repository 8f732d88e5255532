"""Anthropic Messages on the wire: `POST /v1/messages`, `GET /v1/models[/{id}]`.

Checked against anthropic-sdk-python: `types/message.py`, `usage.py`, `raw_*_event.py`,
`input_json_delta.py`, `_streaming.py` (`ping` skipped, `event: error` raised with the body),
`_client.py` / `_error_classes.py` (status → exception, 529 → OverloadedError), `shared/error_*`.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from aiohttp import web

from modelreg.simulators._common import (
    default_answer,
    estimate_tokens,
    json_response,
    new_id,
    retry_after_headers,
    unified_finish,
)
from modelreg.simulators.delivery import deliver, scripted_preamble
from modelreg.simulators.script import Reply, ReplyToolCall, Script, ScriptedUsage, split_text
from modelreg.simulators.state import RECORD, SimContext

__all__ = ["AnthropicWire", "add_routes", "check_auth", "error_response", "not_found"]

# Names the SDK does not flag as deprecated (it warns, and pytest makes warnings errors).
DEFAULT_MODELS = ("claude-sonnet-4-6", "claude-haiku-4-5", "claude-opus-4-6")

_FINISH = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}

# status → (error.type, default message), as the API documents them.
_STATUS_ERRORS = {
    400: ("invalid_request_error", "Invalid request."),
    401: ("authentication_error", "invalid x-api-key"),
    402: ("billing_error", "Your credit balance is too low to access the Anthropic API."),
    403: ("permission_error", "Your API key does not have permission to use this resource."),
    404: ("not_found_error", "Not found"),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of requests has exceeded your per-minute rate limit."),
    500: ("api_error", "Internal server error"),
    504: ("timeout_error", "Request timed out"),
    529: ("overloaded_error", "Overloaded"),
}

_CODE_MESSAGES = {
    "context_length_exceeded": (
        "invalid_request_error",
        "prompt is too long: 210000 tokens > 200000 maximum",
    ),
}


def error_payload(status: int, message: str | None, code: str | None) -> dict[str, Any]:
    kind, default_message = _STATUS_ERRORS.get(
        status, ("api_error" if status >= 500 else "invalid_request_error", "Error")
    )
    if code in _CODE_MESSAGES:
        kind, default_message = _CODE_MESSAGES[code]
    elif code:
        kind = code  # a test may name the error type directly, e.g. "overloaded_error"
    return {
        "type": "error",
        "error": {"type": kind, "message": message or default_message},
        "request_id": new_id("req_011"),
    }


def error_response(
    status: int, message: str | None, code: str | None, retry_after: float | None
) -> web.Response:
    payload = error_payload(status, message, code)
    headers = {"request-id": payload["request_id"], "x-should-retry": _should_retry(status)}
    headers.update(retry_after_headers(retry_after, with_ms=False))
    return json_response(payload, status, headers)


# Clients must echo thinking blocks with their signature; any opaque string will do here.
_SIGNATURE = "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"


def _should_retry(status: int) -> str:
    return "true" if status in (408, 409, 429) or status >= 500 else "false"


class AnthropicWire:
    stream_content_type = "text/event-stream; charset=utf-8"

    def __init__(self) -> None:
        self.message_id = new_id("msg_01")
        self._ids: dict[int, str] = {}

    def error_response(
        self, status: int, message: str | None, code: str | None, retry_after: float | None
    ) -> web.Response:
        return error_response(status, message, code, retry_after)

    def error_payload(self, message: str | None, code: str | None) -> Any:
        return error_payload(529, message, code)

    def error_frame(self, message: str | None, code: str | None) -> bytes:
        payload = error_payload(529, message, code)
        return _event("error", {"type": "error", "error": payload["error"]})

    def unknown_frame(self) -> bytes:
        return _event("simulator_future_event", {"type": "simulator_future_event"})

    def bad_json_frame(self) -> bytes:
        return b'event: content_block_delta\ndata: {"type": "content_block_delta", "index": \n\n'

    def tool_id(self, call: ReplyToolCall) -> str:
        if call.index not in self._ids:
            self._ids[call.index] = call.id_or(lambda _i: new_id("toolu_01"))
        return self._ids[call.index]

    def stop_reason(self, reply: Reply) -> str:
        if reply.stop_sequence is not None and reply.finish_reason is None:
            return "stop_sequence"
        return unified_finish(
            reply.finish_reason, _FINISH, "tool_use" if reply.tool_calls else "end_turn"
        )

    @staticmethod
    def usage(usage: ScriptedUsage, *, output: int | None = None) -> dict[str, Any]:
        # Anthropic's input_tokens excludes the cached parts; the unified count includes them.
        uncached = max(0, usage.input - usage.cached_read - usage.cache_write)
        return {
            "input_tokens": uncached,
            "cache_creation_input_tokens": usage.cache_write,
            "cache_read_input_tokens": usage.cached_read,
            "output_tokens": usage.output if output is None else output,
            "service_tier": "standard",
        }

    def _message(self, reply: Reply, content: list[Any], stop: str | None) -> dict[str, Any]:
        return {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "model": reply.model,
            "content": content,
            "stop_reason": stop,
            "stop_sequence": reply.stop_sequence if stop == "stop_sequence" else None,
        }

    def body(self, reply: Reply) -> Any:
        content: list[Any] = []
        if reply.reasoning:
            content.append(
                {"type": "thinking", "thinking": reply.reasoning, "signature": _SIGNATURE}
            )
        if reply.text or not reply.tool_calls:
            content.append({"type": "text", "text": reply.text})
        for call in reply.tool_calls:
            content.append(
                {
                    "type": "tool_use",
                    "id": self.tool_id(call),
                    "name": call.call.name,
                    # A whole message can only carry an object; invalid raw JSON becomes {}.
                    "input": call.call.arguments_object or {},
                }
            )
        message = self._message(reply, content, self.stop_reason(reply))
        message["usage"] = self.usage(reply.usage)
        return message

    def frames(self, reply: Reply) -> list[bytes]:
        start = self._message(reply, [], None)
        start["usage"] = self.usage(reply.usage, output=1)
        frames = [_event("message_start", {"type": "message_start", "message": start})]
        block = 0
        if reply.reasoning:
            frames.append(
                _block_start(block, {"type": "thinking", "thinking": "", "signature": ""})
            )
            frames.extend(
                _block_delta(block, {"type": "thinking_delta", "thinking": piece})
                for piece in split_text(reply.reasoning)
            )
            frames.append(_block_delta(block, {"type": "signature_delta", "signature": _SIGNATURE}))
            frames.append(_block_stop(block))
            block += 1
        if reply.text or not reply.tool_calls:
            frames.append(_block_start(block, {"type": "text", "text": ""}))
            frames.append(_event("ping", {"type": "ping"}))
            frames.extend(
                _block_delta(block, {"type": "text_delta", "text": piece}) for piece in reply.chunks
            )
            frames.append(_block_stop(block))
            block += 1
        for call in reply.tool_calls:
            header = {"type": "tool_use", "id": self.tool_id(call), "name": call.call.name}
            frames.append(_block_start(block, {**header, "input": {}}))
            # The API opens every tool input with an empty partial_json.
            for fragment in ["", *reply.argument_fragments(call)]:
                delta = {"type": "input_json_delta", "partial_json": fragment}
                frames.append(_block_delta(block, delta))
            frames.append(_block_stop(block))
            block += 1
        frames.append(
            _event(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {
                        "stop_reason": self.stop_reason(reply),
                        "stop_sequence": reply.stop_sequence
                        if self.stop_reason(reply) == "stop_sequence"
                        else None,
                    },
                    "usage": {"output_tokens": reply.usage.output},
                },
            )
        )
        frames.append(_event("message_stop", {"type": "message_stop"}))
        return frames


def _event(name: str, data: Any) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def _block_start(index: int, block: dict[str, Any]) -> bytes:
    payload = {"type": "content_block_start", "index": index, "content_block": block}
    return _event("content_block_start", payload)


def _block_delta(index: int, delta: dict[str, Any]) -> bytes:
    payload = {"type": "content_block_delta", "index": index, "delta": delta}
    return _event("content_block_delta", payload)


def _block_stop(index: int) -> bytes:
    return _event("content_block_stop", {"type": "content_block_stop", "index": index})


def _invalid(message: str) -> web.Response:
    return error_response(400, message, None, None)


def _validate(request: web.Request, body: Any, ctx: SimContext) -> web.Response | None:
    if not request.headers.get("anthropic-version"):
        return _invalid("anthropic-version: header is required")
    if not isinstance(body, dict):
        return _invalid("There was an issue with your request body: invalid JSON")
    for name in ("model", "messages", "max_tokens"):
        if name not in body:
            return _invalid(f"{name}: Field required")
    if not isinstance(body["max_tokens"], int) or body["max_tokens"] < 1:
        return _invalid("max_tokens: Input should be greater than or equal to 1")
    messages = body["messages"]
    if not isinstance(messages, list):
        return _invalid("messages: Input should be a valid list")
    if not messages:
        return _invalid("messages: at least one message is required")
    for position, message in enumerate(messages):
        if isinstance(message, dict) and message.get("role") == "system":
            return _invalid(
                f'messages.{position}.role: Unexpected role "system". The Messages API accepts '
                'a top-level `system` parameter, not "system" as an input message role.'
            )
        final_assistant = position == len(messages) - 1 and message.get("role") == "assistant"
        if isinstance(message, dict) and not message.get("content") and not final_assistant:
            return _invalid(
                f"messages.{position}: all messages must have non-empty content except for "
                "the optional final assistant message"
            )
    if not ctx.knows_model(body["model"]):
        return error_response(404, f"model: {body['model']}", None, None)
    return None


async def messages_handler(request: web.Request, ctx: SimContext) -> web.StreamResponse:
    raw = await request.read()
    try:
        body: Any = json.loads(raw) if raw else None
    except ValueError:
        body = None
    problem = _validate(request, body, ctx)
    if problem is not None:
        return problem
    script = ctx.state.take(request[RECORD], generation=True) or Script()
    reply = script.resolve(
        default_text=default_answer(body["messages"]),
        prompt_tokens=estimate_tokens(body.get("system"), body["messages"], body.get("tools")),
        model=body["model"],
    )
    return await deliver(
        request, ctx, script, AnthropicWire(), reply, stream=bool(body.get("stream"))
    )


def _model_info(model_id: str) -> dict[str, Any]:
    return {
        "type": "model",
        "id": model_id,
        "display_name": model_id.replace("-", " ").title(),
        "created_at": "2025-09-29T00:00:00Z",
    }


async def models_handler(request: web.Request, ctx: SimContext) -> web.Response:
    script = ctx.state.take(request[RECORD], generation=False)
    if script is not None:
        failure = await scripted_preamble(ctx, script, error_response)
        if failure is not None:
            return failure
    models = ctx.models or DEFAULT_MODELS
    wanted = request.match_info.get("model_id")
    if wanted is not None:
        if wanted not in models:
            return error_response(404, f"model: {wanted}", None, None)
        return json_response(_model_info(wanted))
    return json_response(
        {
            "data": [_model_info(m) for m in models],
            "has_more": False,
            "first_id": models[0] if models else None,
            "last_id": models[-1] if models else None,
        }
    )


def check_auth(request: web.Request, ctx: SimContext) -> web.Response | None:
    """Anthropic takes `x-api-key` (or an OAuth token as `Authorization: Bearer`)."""
    if ctx.api_key is None:
        return None
    key = request.headers.get("x-api-key")
    if key is None and request.headers.get("Authorization", "").startswith("Bearer "):
        key = request.headers["Authorization"].removeprefix("Bearer ").strip()
    if key is None:
        return error_response(401, "x-api-key header is required", None, None)
    if key != ctx.api_key:
        return error_response(401, "invalid x-api-key", None, None)
    return None


def not_found(request: web.Request) -> web.Response:
    return error_response(404, "Not Found", None, None)


def add_routes(app: web.Application, ctx: SimContext) -> None:
    app.router.add_post("/v1/messages", partial(messages_handler, ctx=ctx))
    app.router.add_get("/v1/models", partial(models_handler, ctx=ctx))
    app.router.add_get("/v1/models/{model_id}", partial(models_handler, ctx=ctx))
