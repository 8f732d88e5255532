"""The JSON of a chat turn: the non-streaming answer, and the data of the stream's events."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from modelreg.decimals import plain
from modelreg.errors import ModelregError, RateLimitError
from modelreg.types import ToolCall, Usage

if TYPE_CHECKING:
    from modelreg.chat.turn import TurnResult

__all__ = ["call_json", "error_type", "result_json", "usage_json"]


# a word boundary before an upper-case letter that follows a lower-case one or a digit, and
# before the last capital of an acronym: UnsafeURLError -> unsafe_url_error
_WORD_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def error_type(exc: ModelregError) -> str:
    """The snake_case name of the error class, as the `type` of a stream's error event. An
    upstream's "overloaded" (HTTP 529, Anthropic's overloaded_error) is a RateLimitError in
    the tree but not a rate limit: it is reported as `overloaded_error`."""
    if isinstance(exc, RateLimitError) and exc.status == 529:
        return "overloaded_error"
    return _WORD_BOUNDARY.sub("_", type(exc).__name__).lower()


def usage_json(usage: Usage) -> dict[str, int]:
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cached_tokens": usage.cached_read_tokens,
        "reasoning_tokens": usage.reasoning_tokens,
        "total_tokens": usage.total_tokens,
    }


def call_json(call: ToolCall, *, server: bool) -> dict[str, Any]:
    return {
        "id": call.id,
        "name": call.name,
        "arguments": call.raw_arguments or None,
        "parsed_arguments": call.arguments,
        "executed_by": "server" if server else "client",
    }


def result_json(result: TurnResult) -> dict[str, Any]:
    return {
        "conversation_id": str(result.conversation_id),
        "message_id": str(result.message_id),
        "model": {"id": result.model_id, "name": result.model_name},
        "content": result.text,
        "reasoning": result.reasoning or None,
        "tool_calls": [call_json(c, server=False) for c in result.tool_calls],
        "usage": usage_json(result.usage),
        "cost": plain(result.cost),
        "latency_ms": round(result.latency_ms, 3),
        "ttft_ms": round(result.ttft_ms, 3) if result.ttft_ms is not None else None,
        "finish_reason": result.finish_reason,
        "status": result.status,
        "fallback_reasons": list(result.fallback_reasons),
    }
