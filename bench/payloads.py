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
