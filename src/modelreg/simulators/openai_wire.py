"""OpenAI Chat Completions bytes (bodies, SSE chunks, error bodies), and the `Dialect`s through
which Azure, Ollama's /v1 and TGI's Messages API differ from it. Routes: `openai_routes`.

Checked against openai-python's `chat_completion*.py`, `completion_usage.py`, `_streaming.py`
(an in-stream `{"error": ...}` raises APIError) and `_exceptions.py`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from modelreg.simulators._common import (
    json_response,
    new_id,
    retry_after_headers,
    unified_finish,
    unix_now,
)
from modelreg.simulators.script import Reply, ReplyToolCall, ScriptedUsage, split_text

__all__ = ["OPENAI", "Dialect", "OpenAIChatWire", "openai_error"]

_FINISH = {"stop": "stop", "length": "length", "tool_calls": "tool_calls"}

# Status → (type, code, message) of OpenAI's real error bodies.
_STATUS_ERRORS: dict[int, tuple[str | None, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: (
        "request_forbidden",
        "unsupported_country_region_territory",
        "Country, region, or territory not supported",
    ),
    404: ("invalid_request_error", "model_not_found", "The model does not exist."),
    409: ("invalid_request_error", None, "The request conflicted with another request."),
    422: ("invalid_request_error", None, "The request could not be processed."),
    429: (
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached for requests per min (RPM): Limit 3, Used 3, Requested 1. "
        "Please try again in 20s.",
    ),
    500: (
        "server_error",
        None,
        "The server had an error while processing your request. Sorry about that!",
    ),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}

# error_code → (status hint, type, param, message) for the codes tests ask for by name.
_CODE_ERRORS: dict[str, tuple[str | None, str | None, str]] = {
    "insufficient_quota": (
        "insufficient_quota",
        None,
        "You exceeded your current quota, please check your plan and billing details.",
    ),
    "context_length_exceeded": (
        "invalid_request_error",
        "messages",
        "This model's maximum context length is 128000 tokens. However, your messages "
        "resulted in 130532 tokens. Please reduce the length of the messages.",
    ),
    "content_filter": (
        None,
        "prompt",
        "The response was filtered due to the prompt triggering Azure OpenAI's content "
        "management policy. Please modify your prompt and retry.",
    ),
}


def openai_error(
    status: int, message: str | None, code: str | None, param: str | None = None
) -> dict[str, Any]:
    kind, default_code, default_message = _STATUS_ERRORS.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None, "Error.")
    )
    if code in _CODE_ERRORS:
        kind, param, default_message = _CODE_ERRORS[code]
    return {
        "error": {
            "message": message or default_message,
            "type": kind,
            "param": param,
            "code": code or default_code,
        }
    }


@dataclass(frozen=True, slots=True)
class Dialect:
    """The ways OpenAI-compatible servers differ from OpenAI on the wire."""

    name: str
    tool_id: Callable[[int], str] = field(default=lambda _i: new_id("call_"))
    system_fingerprint: str | None = "fp_simulator"
    # Azure: a first chunk with empty `choices` carrying prompt_filter_results, and
    # content_filter_results on every choice.
    content_filters: bool = False
    retry_after_ms: bool = True
    detailed_usage: bool = True
    # TGI adds `description: null` to each tool call's function.
    function_description: bool = False
    # Where thinking text goes in `message` / `delta` (None: this server never sends it).
    reasoning_field: str | None = "reasoning_content"
    # `n` > 1 answers that many choices (OpenAI); False: the field is ignored (Ollama /v1).
    honours_n: bool = True
    error_body: Callable[[int, str | None, str | None], Any] = openai_error

    def error_response(
        self, status: int, message: str | None, code: str | None, retry_after: float | None
    ) -> web.Response:
        headers = {"x-request-id": new_id("req_")}
        headers.update(retry_after_headers(retry_after, with_ms=self.retry_after_ms))
        return json_response(self.error_body(status, message, code), status, headers)


OPENAI = Dialect(name="openai")


class OpenAIChatWire:
    """Encodes one chat answer as an OpenAI-style JSON body or SSE stream."""

    stream_content_type = "text/event-stream; charset=utf-8"

    def __init__(self, dialect: Dialect, *, include_usage: bool, n: int = 1) -> None:
        self.dialect = dialect
        self.include_usage = include_usage
        # choices per answer: the same scripted reply, once per index (usage counts them all)
        self.n = n if dialect.honours_n else 1
        self.completion_id = new_id("chatcmpl-")
        self.created = unix_now()
        self._ids: dict[int, str] = {}

    def error_response(
        self, status: int, message: str | None, code: str | None, retry_after: float | None
    ) -> web.Response:
        return self.dialect.error_response(status, message, code, retry_after)

    def error_payload(self, message: str | None, code: str | None) -> Any:
        return self.dialect.error_body(500, message, code)

    def error_frame(self, message: str | None, code: str | None) -> bytes:
        return _sse(self.error_payload(message, code))

    def unknown_frame(self) -> bytes:
        return b'event: simulator.future_event\ndata: {"type":"simulator.future_event"}\n\n'

    def bad_json_frame(self) -> bytes:
        return b'data: {"id": "chatcmpl-broken", "choices": [\n\n'

    def tool_id(self, call: ReplyToolCall) -> str:
        if call.index not in self._ids:
            self._ids[call.index] = call.id_or(self.dialect.tool_id)
        return self._ids[call.index]

    def finish_reason(self, reply: Reply) -> str:
        return unified_finish(
            reply.finish_reason, _FINISH, "tool_calls" if reply.tool_calls else "stop"
        )

    def usage(self, usage: ScriptedUsage) -> dict[str, Any]:
        output = usage.output * self.n  # OpenAI counts the tokens of every choice
        out: dict[str, Any] = {
            "prompt_tokens": usage.input,
            "completion_tokens": output,
            "total_tokens": usage.input + output,
        }
        if self.dialect.detailed_usage:
            prompt_details = {"cached_tokens": usage.cached_read, "audio_tokens": 0}
            if usage.cache_write:
                prompt_details["cache_write_tokens"] = usage.cache_write
            out["prompt_tokens_details"] = prompt_details
            out["completion_tokens_details"] = {
                "reasoning_tokens": usage.reasoning,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            }
        return out

    def _envelope(self, obj: str, model: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.completion_id,
            "object": obj,
            "created": self.created,
            "model": model,
        }
        if self.dialect.system_fingerprint is not None:
            out["system_fingerprint"] = self.dialect.system_fingerprint
        return out

    def _function(self, name: str | None, arguments: str) -> dict[str, Any]:
        function: dict[str, Any] = {}
        if self.dialect.function_description:
            function["description"] = None
        if name is not None:
            function["name"] = name
        function["arguments"] = arguments
        return function

    def body(self, reply: Reply) -> Any:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": reply.text if reply.text or not reply.tool_calls else None,
            "refusal": None,
        }
        if reply.reasoning and self.dialect.reasoning_field:
            message[self.dialect.reasoning_field] = reply.reasoning
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": self.tool_id(call),
                    "type": "function",
                    "function": self._function(call.call.name, call.call.arguments_json),
                }
                for call in reply.tool_calls
            ]
        choice: dict[str, Any] = {
            "index": 0,
            "message": message,
            "logprobs": None,
            "finish_reason": self.finish_reason(reply),
        }
        out = self._envelope("chat.completion", reply.model)
        if self.dialect.content_filters:
            choice["content_filter_results"] = _NO_FILTER_HITS
            out["prompt_filter_results"] = [
                {"prompt_index": 0, "content_filter_results": _NO_FILTER_HITS}
            ]
        out["choices"] = [{**choice, "index": i} for i in range(self.n)]
        out["usage"] = self.usage(reply.usage)
        return out

    def _chunk(
        self, reply: Reply, delta: dict[str, Any], finish: str | None = None, index: int = 0
    ) -> bytes:
        choice: dict[str, Any] = {
            "index": index,
            "delta": delta,
            "logprobs": None,
            "finish_reason": finish,
        }
        if self.dialect.content_filters:
            choice["content_filter_results"] = {}
        chunk = self._envelope("chat.completion.chunk", reply.model)
        chunk["choices"] = [choice]
        if self.include_usage:
            chunk["usage"] = None
        return _sse(chunk)

    def frames(self, reply: Reply) -> list[bytes]:
        frames: list[bytes] = []
        if self.dialect.content_filters:
            first = self._envelope("", "")
            first.update(
                choices=[],
                prompt_filter_results=[
                    {"prompt_index": 0, "content_filter_results": _NO_FILTER_HITS}
                ],
            )
            frames.append(_sse(first))
        # with n > 1 the choices' chunks interleave, each chunk carrying one choice's index
        per_choice = [self._choice_frames(reply, index) for index in range(self.n)]
        for position in range(max(len(f) for f in per_choice)):
            frames.extend(f[position] for f in per_choice if position < len(f))
        if self.include_usage:
            usage_chunk = self._envelope("chat.completion.chunk", reply.model)
            usage_chunk.update(choices=[], usage=self.usage(reply.usage))
            frames.append(_sse(usage_chunk))
        frames.append(b"data: [DONE]\n\n")
        return frames

    def _choice_frames(self, reply: Reply, index: int) -> list[bytes]:
        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            return self._chunk(reply, delta, finish, index)

        frames = [chunk({"role": "assistant", "content": "", "refusal": None})]
        if self.dialect.reasoning_field:
            field_name = self.dialect.reasoning_field
            frames.extend(chunk({field_name: piece}) for piece in split_text(reply.reasoning))
        frames.extend(chunk({"content": piece}) for piece in reply.chunks)
        frames.extend(self._tool_frames(reply, index))
        frames.append(chunk({}, self.finish_reason(reply)))
        return frames

    def _tool_frames(self, reply: Reply, index: int = 0) -> list[bytes]:
        # The first delta of a call names it (id, type, name, empty arguments); later deltas
        # carry only `index` and an argument fragment. Fragmented parallel calls interleave.
        if reply.fragment_size is None:
            pieces = [(call, frag) for call in reply.tool_calls for frag in _or_empty(reply, call)]
        else:
            pieces = reply.interleaved_fragments()
            announced_here = {call.index for call, _ in pieces}
            pieces += [(c, "") for c in reply.tool_calls if c.index not in announced_here]
        frames: list[bytes] = []
        announced: set[int] = set()
        for call, fragment in pieces:
            if call.index not in announced:
                announced.add(call.index)
                header = {
                    "index": call.index,
                    "id": self.tool_id(call),
                    "type": "function",
                    "function": self._function(call.call.name, ""),
                }
                frames.append(self._chunk(reply, {"tool_calls": [header]}, None, index))
            if fragment:
                delta = {"index": call.index, "function": self._function(None, fragment)}
                frames.append(self._chunk(reply, {"tool_calls": [delta]}, None, index))
        return frames


def _or_empty(reply: Reply, call: ReplyToolCall) -> list[str]:
    return reply.argument_fragments(call) or [""]


_NO_FILTER_HITS = {
    category: {"filtered": False, "severity": "safe"}
    for category in ("hate", "self_harm", "sexual", "violence")
}


def _sse(payload: Any) -> bytes:
    return b"data: " + json.dumps(payload, ensure_ascii=False).encode() + b"\n\n"
