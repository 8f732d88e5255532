"""Upstream replies written from the providers' official API references (the examples and
schemas of platform.openai.com/docs/api-reference and docs.anthropic.com/en/api), with every
field those references show, so that a field the gateway drops or rewrites is noticed.

Each builder takes the fields a test varies; the rest are the references' own examples.
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = [
    "anthropic_error",
    "anthropic_message",
    "anthropic_stream_events",
    "ollama_chat",
    "ollama_embed",
    "ollama_error",
    "ollama_stream_lines",
    "openai_completion",
    "openai_embeddings",
    "openai_error",
    "openai_stream_events",
    "sse",
]

# --- OpenAI: POST /v1/chat/completions ------------------------------------------------------

OPENAI_ID = "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT"
FINGERPRINT = "fp_44709d6fcb"


def openai_usage(
    prompt: int = 19, completion: int = 10, cached: int = 0, reasoning: int = 0
) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def openai_completion(
    *,
    model: str = "gpt-4.1-2025-04-14",
    content: str | None = "Hello! How can I assist you today?",
    refusal: str | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
    finish_reason: str = "stop",
    usage: dict[str, Any] | None = None,
    annotations: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        "content": content,
        "refusal": refusal,
        "annotations": annotations or [],
    }
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {
        "id": OPENAI_ID,
        "object": "chat.completion",
        "created": 1741569952,
        "model": model,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
        ],
        "usage": usage or openai_usage(),
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
    }


def _chunk(model: str, delta: dict[str, Any], finish: str | None, **extra: Any) -> dict[str, Any]:
    return {
        "id": OPENAI_ID,
        "object": "chat.completion.chunk",
        "created": 1741569952,
        "model": model,
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        **extra,
    }


def openai_stream_events(
    *,
    model: str = "gpt-4.1-2025-04-14",
    words: tuple[str, ...] = ("Hello", "!", " How", " can", " I", " help?"),
    refusal: str | None = None,
    usage: dict[str, Any] | None = None,
) -> list[bytes]:
    """A stream as the reference shows it, with `stream_options.include_usage`: a final
    chunk with empty `choices` and the usage, then `[DONE]`."""
    events = [_chunk(model, {"role": "assistant", "content": "", "refusal": None}, None)]
    if refusal is not None:
        events.append(_chunk(model, {"refusal": refusal}, None))
    else:
        events += [_chunk(model, {"content": word}, None) for word in words]
    events.append(_chunk(model, {}, "stop"))
    final = _chunk(model, {}, None, usage=usage or openai_usage())
    final["choices"] = []
    events.append(final)
    return [sse(e) for e in events] + [b"data: [DONE]\n\n"]


def openai_error(
    message: str, type_: str, code: str | None, param: str | None = None
) -> dict[str, Any]:
    """{"error": {message, type, param, code}} — e.g. 429 insufficient_quota:
    type "insufficient_quota", code "insufficient_quota"; 400: type "invalid_request_error"."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def openai_embeddings(inputs: Any, *, model: str = "text-embedding-3-small") -> dict[str, Any]:
    count = (
        len(inputs) if isinstance(inputs, list) and inputs and not isinstance(inputs[0], int) else 1
    )
    return {
        "object": "list",
        "data": [
            {
                "object": "embedding",
                "index": i,
                "embedding": [0.0023064255, -0.009327292, 0.015797347],
            }
            for i in range(count)
        ],
        "model": model,
        "usage": {"prompt_tokens": 8, "total_tokens": 8},
    }


# --- Ollama (native): POST /api/chat, POST /api/embed ---------------------------------------
# From Ollama's API reference (docs/api.md of ollama/ollama, docs.ollama.com/api): the answer is
# one JSON object, or NDJSON lines when streamed (`stream` defaults to true); the last line has
# `done: true`, `done_reason` and the counts; tool calls come whole with arguments as an object
# and no id; reasoning is `message.thinking`; an error is `{"error": "..."}` with the status,
# or such a line after the 200.

OLLAMA_CREATED = "2024-07-22T20:33:28.123648Z"


def _ollama_stats(prompt: int, completion: int) -> dict[str, Any]:
    return {
        "total_duration": 885095291,
        "load_duration": 3753500,
        "prompt_eval_count": prompt,
        "prompt_eval_duration": 328493000,
        "eval_count": completion,
        "eval_duration": 552222000,
    }


def ollama_chat(
    *,
    model: str = "llama3.2",
    content: str = "Hello! How are you today?",
    thinking: str | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
    done_reason: str = "stop",
    prompt: int = 26,
    completion: int = 298,
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if thinking is not None:
        message["thinking"] = thinking
    if tool_calls is not None:
        message["tool_calls"] = tool_calls
    return {
        "model": model,
        "created_at": OLLAMA_CREATED,
        "message": message,
        "done_reason": done_reason,
        "done": True,
        **_ollama_stats(prompt, completion),
    }


def ollama_stream_lines(
    *,
    model: str = "llama3.2",
    words: tuple[str, ...] = ("The", " sky", " is", " blue."),
    thinking: tuple[str, ...] = (),
    error: str | None = None,
    prompt: int = 26,
    completion: int = 282,
) -> list[bytes]:
    """The reference's stream: one line per piece (`done: false`), thinking pieces first,
    then a final line with an empty message, `done: true`, `done_reason` and the counts. With
    `error`, an `{"error": ...}` line follows the first word and the stream ends."""

    def line(message: dict[str, Any]) -> bytes:
        data = {"model": model, "created_at": OLLAMA_CREATED, "message": message, "done": False}
        return orjson.dumps(data) + b"\n"

    lines = [line({"role": "assistant", "content": "", "thinking": t}) for t in thinking]
    for i, word in enumerate(words):
        lines.append(line({"role": "assistant", "content": word}))
        if error is not None and i == 0:
            return [*lines, orjson.dumps({"error": error}) + b"\n"]
    final = {"model": model, "created_at": OLLAMA_CREATED,
             "message": {"role": "assistant", "content": ""}, "done_reason": "stop",
             "done": True, **_ollama_stats(prompt, completion)}  # fmt: skip
    return [*lines, orjson.dumps(final) + b"\n"]


def ollama_embed(inputs: Any, *, model: str = "all-minilm") -> dict[str, Any]:
    count = len(inputs) if isinstance(inputs, list) else 1
    return {
        "model": model,
        "embeddings": [[0.010071029, -0.0017594862, 0.05007221] for _ in range(count)],
        "total_duration": 14143917,
        "load_duration": 1019500,
        "prompt_eval_count": 8,
    }


def ollama_error(message: str) -> dict[str, Any]:
    """e.g. 404 `model "llama3.2" not found, try pulling it first`."""
    return {"error": message}


# --- Anthropic: POST /v1/messages --------------------------------------------------------------

ANTHROPIC_ID = "msg_013Zva2CMHLNnXjNJJKqJ2EF"


def anthropic_usage(
    input_tokens: int = 2095, output_tokens: int = 503, cache_read: int = 0, cache_write: int = 0
) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": cache_write,
        "cache_read_input_tokens": cache_read,
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


def anthropic_message(
    *,
    model: str = "claude-sonnet-4-5-20250929",
    content: list[dict[str, Any]] | None = None,
    stop_reason: str = "end_turn",
    usage: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "id": ANTHROPIC_ID,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content
        if content is not None
        else [{"type": "text", "text": "Hi! My name is Claude."}],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage or anthropic_usage(),
    }


THINKING = "Let me analyze this step by step..."
SIGNATURE = "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"


def anthropic_stream_events(
    *,
    model: str = "claude-sonnet-4-5-20250929",
    text: tuple[str, ...] = ("Hello", "!"),
    thinking: bool = False,
    usage: dict[str, Any] | None = None,
    error: dict[str, Any] | None = None,
) -> list[bytes]:
    """The reference's stream: message_start (with the prompt's input tokens and the cache
    counts), a ping, optionally a thinking block (thinking_delta, signature_delta), a text
    block, message_delta (stop reason, output tokens), message_stop. With `error`, the
    stream breaks after the first text delta with an `error` event (e.g. overloaded_error)."""
    start_usage = dict(usage or anthropic_usage(input_tokens=25, output_tokens=1))
    start_usage["output_tokens"] = 1
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": {
            "id": ANTHROPIC_ID, "type": "message", "role": "assistant", "content": [],
            "model": model, "stop_reason": None, "stop_sequence": None, "usage": start_usage,
        }}),
        ("ping", {"type": "ping"}),
    ]  # fmt: skip
    index = 0
    if thinking:
        events += [
            _block_start(0, {"type": "thinking", "thinking": "", "signature": ""}),
            _delta(0, {"type": "thinking_delta", "thinking": THINKING}),
            _delta(0, {"type": "signature_delta", "signature": SIGNATURE}),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ]
        index = 1
    events.append(_block_start(index, {"type": "text", "text": ""}))
    for i, piece in enumerate(text):
        events.append(_delta(index, {"type": "text_delta", "text": piece}))
        if error is not None and i == 0:
            events.append(("error", {"type": "error", "error": error}))
            return [sse(data, name) for name, data in events]
    events += [
        ("content_block_stop", {"type": "content_block_stop", "index": index}),
        ("message_delta", {"type": "message_delta",
                           "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                           "usage": {"output_tokens": (usage or {}).get("output_tokens", 15)}}),
        ("message_stop", {"type": "message_stop"}),
    ]  # fmt: skip
    return [sse(data, name) for name, data in events]


def _block_start(index: int, block: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    data = {"type": "content_block_start", "index": index, "content_block": block}
    return "content_block_start", data


def _delta(index: int, delta: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}


def anthropic_error(type_: str, message: str) -> dict[str, Any]:
    """{"type": "error", "error": {"type", "message"}, "request_id"}: invalid_request_error
    (400), authentication_error (401), permission_error (403), not_found_error (404),
    request_too_large (413), rate_limit_error (429), api_error (500), overloaded_error (529)."""
    return {"type": "error", "error": {"type": type_, "message": message},
            "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"}  # fmt: skip


def sse(data: Any, event: str | None = None) -> bytes:
    line = b"data: " + orjson.dumps(data) + b"\n\n"
    return f"event: {event}\n".encode() + line if event else line
