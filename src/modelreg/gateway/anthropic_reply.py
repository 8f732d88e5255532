"""A unified answer in Anthropic's Messages shape: the JSON message, and the SSE events of a
stream in Anthropic's exact order — `message_start` (the upstream's id, and the prompt's
usage where the upstream told it at the start), then per content block
`content_block_start` / `content_block_delta`* / `content_block_stop`, then `message_delta`
(stop reason and usage) and `message_stop`.

Reasoning becomes `thinking` blocks (`thinking_delta`, then `signature_delta` when the
upstream signed it; Anthropic's `redacted_thinking` comes back as it was). Reasoning from an
OpenAI-compatible upstream has no signature: its block carries `signature: ""`, and such a
block sent back in the history is dropped toward Anthropic (docs/providers.md). An OpenAI
refusal is a text block with `stop_reason: "refusal"`. A tool_use block is sent when its call
is complete (one `input_json_delta` with the whole input), because providers may interleave
several calls' fragments and Anthropic blocks cannot interleave.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from modelreg.types import (
    ChatResponse,
    FinishEvent,
    FinishReason,
    MetaEvent,
    ReasoningBlock,
    ReasoningDelta,
    ReasoningSignature,
    RefusalDelta,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallEnd,
    Usage,
)

__all__ = ["Frame", "StreamWriter", "message_json", "new_id", "stop_json", "usage_json"]

_STOP: dict[FinishReason, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
    "error": "end_turn",
    "other": "end_turn",
}


def stop_json(reason: FinishReason, stop_sequence: str | None) -> tuple[str, str | None]:
    """`stop_reason` and `stop_sequence` as Anthropic sends them. `stop_sequence` only when the
    upstream said which sequence matched (Anthropic does); OpenAI-format and Ollama upstreams
    report a stop on a sequence as a plain "stop", so that reads `end_turn` with no sequence:
    a guess of `stop_sequence` could name a sequence that never matched."""
    if stop_sequence is not None:
        return "stop_sequence", stop_sequence
    return _STOP[reason], None


def usage_json(usage: Usage) -> dict[str, int]:
    # Anthropic's input_tokens leaves out the cached parts; ours is the whole prompt
    fresh = max(0, usage.input_tokens - usage.cached_read_tokens - usage.cache_write_tokens)
    return {
        "input_tokens": fresh,
        "output_tokens": usage.output_tokens,
        "cache_creation_input_tokens": usage.cache_write_tokens,
        "cache_read_input_tokens": usage.cached_read_tokens,
    }


def _tool_use(call: ToolCall) -> dict[str, Any]:
    return {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}


def _thinking(block: ReasoningBlock) -> dict[str, Any]:
    if block.redacted_data is not None:
        return {"type": "redacted_thinking", "data": block.redacted_data}
    return {"type": "thinking", "thinking": block.text, "signature": block.signature or ""}


def new_id() -> str:
    return "msg_" + uuid.uuid4().hex


def message_json(response: ChatResponse, model_name: str) -> dict[str, Any]:
    content: list[dict[str, Any]] = [_thinking(b) for b in response.reasoning_blocks]
    text = response.text or response.refusal or ""
    if text:
        content.append({"type": "text", "text": text})
    content.extend(_tool_use(c) for c in response.tool_calls)
    stop_reason, stop_sequence = stop_json(response.finish_reason, response.stop_sequence)
    if response.refusal is not None:
        stop_reason = "refusal"
    return {
        "id": response.response_id or new_id(),
        "type": "message",
        "role": "assistant",
        "model": response.model or model_name,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": usage_json(response.usage),
    }


Frame = tuple[str, dict[str, Any]]


def _start(index: int, block: dict[str, Any]) -> Frame:
    return "content_block_start", {"type": "content_block_start", "index": index,
                                   "content_block": block}  # fmt: skip


def _delta(index: int, delta: dict[str, Any]) -> Frame:
    return "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}


def _stop(index: int) -> Frame:
    return "content_block_stop", {"type": "content_block_stop", "index": index}


class StreamWriter:
    """Unified events → Anthropic's SSE events, in Anthropic's exact order."""

    def __init__(self, model_name: str, meta: MetaEvent | None = None) -> None:
        self.id = (meta.response_id if meta else None) or new_id()
        self.model = (meta.model if meta else None) or model_name
        self._start_usage = meta.usage if meta else None
        self._index = -1
        self._open: str | None = None  # the kind of the open block: "text" | "thinking"
        self._refused = False
        self.stop_reason = "end_turn"
        self.stop_sequence: str | None = None

    def start(self) -> list[Frame]:
        usage = {"input_tokens": 0, "output_tokens": 0}
        if self._start_usage is not None:  # the upstream told the prompt's size up front
            usage = usage_json(self._start_usage)
        message: dict[str, Any] = {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage,
        }
        return [("message_start", {"type": "message_start", "message": message}),
                ("ping", {"type": "ping"})]  # fmt: skip

    def _close(self) -> list[Frame]:
        if self._open is None:
            return []
        self._open = None
        return [_stop(self._index)]

    def _open_block(self, kind: str, block: dict[str, Any]) -> list[Frame]:
        if self._open == kind:
            return []
        frames = self._close()
        self._index += 1
        self._open = kind
        return [*frames, _start(self._index, block)]

    def _text(self, text: str) -> list[Frame]:
        frames = self._open_block("text", {"type": "text", "text": ""})
        return [*frames, _delta(self._index, {"type": "text_delta", "text": text})]

    def event(self, event: StreamEvent) -> list[Frame]:
        if isinstance(event, TextDelta) and event.text:
            return self._text(event.text)
        if isinstance(event, RefusalDelta) and event.text:
            self._refused = True
            return self._text(event.text)
        if isinstance(event, ReasoningDelta) and event.text:
            frames = self._open_block("thinking", {"type": "thinking", "thinking": "",
                                                   "signature": ""})  # fmt: skip
            return [*frames, _delta(self._index, {"type": "thinking_delta",
                                                  "thinking": event.text})]  # fmt: skip
        if isinstance(event, ReasoningSignature):
            return self._signature(event)
        if isinstance(event, ToolCallEnd):
            frames = self._close()
            self._index += 1
            call = event.call
            start = {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}
            partial = orjson.dumps(call.arguments).decode()
            return [*frames, _start(self._index, start),
                    _delta(self._index, {"type": "input_json_delta", "partial_json": partial}),
                    _stop(self._index)]  # fmt: skip
        if isinstance(event, FinishEvent):
            self.stop_reason, self.stop_sequence = stop_json(event.reason, event.stop_sequence)
        return []

    def _signature(self, event: ReasoningSignature) -> list[Frame]:
        if event.redacted_data is not None:
            closed = self._close()
            self._index += 1
            block = {"type": "redacted_thinking", "data": event.redacted_data}
            return [*closed, _start(self._index, block), _stop(self._index)]
        if self._open != "thinking":
            return []
        frames: list[Frame] = []
        if event.signature:
            frames.append(_delta(self._index, {"type": "signature_delta",
                                               "signature": event.signature}))  # fmt: skip
        return frames + self._close()

    def finish(self, usage: Usage) -> list[Frame]:
        frames = self._close()
        u = usage_json(usage)
        stop_reason = "refusal" if self._refused else self.stop_reason
        frames.append(("message_delta", {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": self.stop_sequence},
            "usage": {"output_tokens": u["output_tokens"], "input_tokens": u["input_tokens"],
                      "cache_read_input_tokens": u["cache_read_input_tokens"],
                      "cache_creation_input_tokens": u["cache_creation_input_tokens"]},
        }))  # fmt: skip
        frames.append(("message_stop", {"type": "message_stop"}))
        return frames
