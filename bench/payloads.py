"""The fixed answers of the mock upstreams (shared by the nginx config and the Python mocks).

Stdlib only: the upstream mocks must run under any python3.
"""

from __future__ import annotations

import json
from typing import Any

MODEL = "gpt-4o-mini-2024-07-18"
CREATED = 1700000000
SSE_CONTENT_EVENTS = 47  # + role, finish and usage events = 50 events, then [DONE]


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def chat_completion(content: str = "") -> str:
    """A non-streaming `chat.completion` with usage (414 bytes with the default content)."""
    body = {
        "id": "chatcmpl-bench0001",
        "object": "chat.completion",
        "created": CREATED,
        "model": MODEL,
        "system_fingerprint": "fp_bench",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": content
                    or "Hello! I am a mock upstream. This fixed reply is used to measure "
                    "gateway overhead.",
                    "refusal": None,
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 13, "completion_tokens": 18, "total_tokens": 31},
    }
    return _dumps(body)


def chunk(
    delta: dict[str, Any] | None,
    finish: str | None = None,
    usage: dict[str, int] | None = None,
    *,
    with_choice: bool = True,
    chunk_id: str = "chatcmpl-bench0002",
) -> str:
    """One `data: {chat.completion.chunk}` SSE event, blank line included."""
    c: dict[str, Any] = {
        "id": chunk_id,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": MODEL,
        "system_fingerprint": "fp_bench",
        "choices": (
            [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
            if with_choice
            else []
        ),
    }
    if usage is not None:
        c["usage"] = usage
    return "data: " + _dumps(c) + "\n\n"


def usage(completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": 13,
        "completion_tokens": completion_tokens,
        "total_tokens": 13 + completion_tokens,
    }


def sse_body(n_content: int = SSE_CONTENT_EVENTS) -> str:
    """The fixed 50-event stream: role, n content deltas, finish, usage, then [DONE]."""
    events = [chunk({"role": "assistant", "content": "", "refusal": None})]
    events += [chunk({"content": f"tok{i} "}) for i in range(n_content)]
    events.append(chunk({}, finish="stop"))
    events.append(chunk(None, usage=usage(n_content), with_choice=False))
    events.append("data: [DONE]\n\n")
    return "".join(events)


def models_list() -> str:
    return _dumps(
        {
            "object": "list",
            "data": [{"id": MODEL, "object": "model", "created": CREATED, "owned_by": "bench"}],
        }
    )


# --- Anthropic Messages: the same answer and the same 50-event stream, in Anthropic's format

ANTHROPIC_MODEL = "claude-sonnet-4-5-20250929"


def anthropic_message() -> str:
    """A non-streaming Messages answer with usage, the same text as `chat_completion`."""
    body = {
        "id": "msg_bench0001",
        "type": "message",
        "role": "assistant",
        "model": ANTHROPIC_MODEL,
        "content": [
            {
                "type": "text",
                "text": "Hello! I am a mock upstream. This fixed reply is used to measure "
                "gateway overhead.",
            }
        ],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 13,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": 18,
        },
    }
    return _dumps(body)


def _named(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {_dumps(data)}\n\n"


def anthropic_sse_body(n_content: int = SSE_CONTENT_EVENTS - 1) -> str:
    """The Anthropic counterpart of `sse_body`, also 50 events: message_start, a text block
    (start, n deltas, stop), message_delta (usage), message_stop."""
    start = {
        "id": "msg_bench0002",
        "type": "message",
        "role": "assistant",
        "content": [],
        "model": ANTHROPIC_MODEL,
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {
            "input_tokens": 13,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": 1,
        },
    }
    events = [_named("message_start", {"type": "message_start", "message": start})]
    events.append(
        _named(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        )
    )
    for i in range(n_content):
        delta = {"type": "text_delta", "text": f"tok{i} "}
        events.append(
            _named(
                "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}
            )
        )
    events.append(_named("content_block_stop", {"type": "content_block_stop", "index": 0}))
    events.append(
        _named(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": n_content},
            },
        )
    )
    events.append(_named("message_stop", {"type": "message_stop"}))
    return "".join(events)
