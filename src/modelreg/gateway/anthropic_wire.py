"""Anthropic Messages wire format ↔ the unified types.

Requests: `system` (string or text blocks) becomes a system message; `tool_result` blocks in a
user turn become `tool` messages (placed before the turn's remaining text); `tool_use` blocks
in an assistant turn become its tool calls. Thinking blocks sent back by a client are dropped
(their signatures only mean something to Anthropic itself).

Streams follow Anthropic's exact order: `message_start`, then per content block
`content_block_start` / `content_block_delta`* / `content_block_stop`, then `message_delta`
(stop reason and usage) and `message_stop`. Text streams as it arrives; a tool_use block is
sent when its call is complete (one `input_json_delta` with the whole input), because
providers may interleave several calls' fragments and Anthropic blocks cannot interleave.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError

from modelreg.gateway.errors import GatewayRequestError
from modelreg.gateway.tool_choice import check_named_tool
from modelreg.types import (
    ChatResponse,
    ContentPart,
    FinishEvent,
    FinishReason,
    ImagePart,
    Message,
    StreamEvent,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallEnd,
    ToolDefinition,
    Usage,
)

__all__ = [
    "CountTokensRequest",
    "MessagesRequest",
    "StreamWriter",
    "estimate_input_tokens",
    "message_json",
    "parse_count_tokens_request",
    "parse_messages_request",
    "to_unified",
]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


_M = TypeVar("_M", bound=_Open)


class Block(_Open):
    type: StrictStr
    text: StrictStr | None = None
    source: dict[str, Any] | None = None
    id: StrictStr | None = None
    name: StrictStr | None = None
    input: dict[str, Any] | None = None
    tool_use_id: StrictStr | None = None
    content: StrictStr | list[dict[str, Any]] | None = None
    is_error: StrictBool | None = None


class MessageIn(_Open):
    role: Literal["user", "assistant"]
    content: StrictStr | list[Block]


class ToolIn(_Open):
    name: StrictStr = Field(min_length=1, max_length=128)
    description: StrictStr | None = None
    input_schema: dict[str, Any]


class ToolChoiceIn(_Open):
    type: Literal["auto", "any", "none", "tool"]
    name: StrictStr | None = None
    disable_parallel_tool_use: StrictBool | None = None


class SystemBlock(_Open):
    type: Literal["text"] = "text"
    text: StrictStr


class MessagesRequest(_Open):
    """POST /v1/messages."""

    model: StrictStr = Field(min_length=1, max_length=255)
    max_tokens: StrictInt = Field(ge=1)
    messages: list[MessageIn] = Field(min_length=1)
    system: StrictStr | list[SystemBlock] | None = None
    tools: list[ToolIn] | None = None
    tool_choice: ToolChoiceIn | None = None
    temperature: float | None = Field(default=None, ge=0, le=1)
    top_p: float | None = Field(default=None, ge=0, le=1)
    stop_sequences: list[StrictStr] | None = None
    stream: StrictBool | None = False


class CountTokensRequest(MessagesRequest):
    """POST /v1/messages/count_tokens: a Messages request whose `max_tokens` may be absent."""

    max_tokens: StrictInt | None = Field(default=None, ge=1)  # type: ignore[assignment]


def _parse(model: type[_M], data: object) -> _M:
    if not isinstance(data, dict):
        raise GatewayRequestError("the request body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        if first.get("loc") == ("messages",) and first.get("type") == "too_short":
            # in Anthropic's words rather than pydantic's
            message = "messages: at least one message is required"
            raise GatewayRequestError(message, param="messages") from None
        param = ".".join(str(p) for p in first.get("loc", ())) or None
        message = str(first.get("msg", "invalid value"))
        raise GatewayRequestError(f"{param}: {message}" if param else message) from None


def _check_contents(messages: list[MessageIn]) -> None:
    """Anthropic's 400s for empty turns, given here: an upstream of another format would
    accept them and answer something Anthropic never would. Like Anthropic, a last assistant
    turn may be empty (a prefill the answer continues)."""
    last = len(messages) - 1
    for i, m in enumerate(messages):
        if not m.content and not (i == last and m.role == "assistant"):
            raise GatewayRequestError(
                f"messages.{i}: all messages must have non-empty content except for the "
                "optional final assistant message",
                param=f"messages.{i}.content",
            )
        for j, block in enumerate(m.content if isinstance(m.content, list) else ()):
            if block.type == "text" and not block.text:
                raise GatewayRequestError(
                    f"messages.{i}.content.{j}.text: text content blocks must be non-empty",
                    param=f"messages.{i}.content.{j}.text",
                )


def parse_messages_request(data: object) -> MessagesRequest:
    req = _parse(MessagesRequest, data)
    _check_request(req)
    return req


def _check_request(req: MessagesRequest | CountTokensRequest) -> None:
    _check_contents(req.messages)
    if req.tool_choice is not None and req.tool_choice.type == "tool":
        check_named_tool(req.tool_choice.name, (t.name for t in req.tools or ()))


def parse_count_tokens_request(data: object) -> CountTokensRequest:
    """Validated like a Messages request (the same fields, types and checks), except that
    `max_tokens` may be left out."""
    req = _parse(CountTokensRequest, data)
    _check_request(req)
    return req


_CHARS_PER_TOKEN = 4  # the usual rule of thumb for English text and JSON
_IMAGE_TOKENS = 1600  # Anthropic's cost of a full-size image (~1.15 megapixels)
_MESSAGE_OVERHEAD = 4  # role markers and separators per turn


def estimate_input_tokens(req: CountTokensRequest) -> int:
    """An estimate, not the model's tokenizer: upstreams of every provider may serve the
    model, and most have no counting endpoint. About 4 characters a token, a flat cost per
    image, a few tokens per turn (docs/api.md)."""
    chars = 0
    images = 0
    if isinstance(req.system, str):
        chars += len(req.system)
    elif req.system:
        chars += sum(len(b.text) for b in req.system)
    for tool in req.tools or ():
        chars += len(orjson.dumps(tool.model_dump(exclude_none=True)))
    for m in req.messages:
        if isinstance(m.content, str):
            chars += len(m.content)
            continue
        for block in m.content:
            if block.type == "image":
                images += 1
            else:
                chars += len(orjson.dumps(block.model_dump(exclude_none=True, exclude={"type"})))
    text_tokens = -(-chars // _CHARS_PER_TOKEN)
    return text_tokens + images * _IMAGE_TOKENS + _MESSAGE_OVERHEAD * len(req.messages)


# --- request → unified ----------------------------------------------------------------------


def _image(block: Block) -> ImagePart:
    source = block.source or {}
    if source.get("type") == "base64":
        media = source.get("media_type", "image/png")
        return ImagePart(f"data:{media};base64,{source.get('data', '')}")
    if source.get("type") == "url" and isinstance(source.get("url"), str):
        return ImagePart(source["url"])
    raise GatewayRequestError("unsupported image source", param="messages")


def _tool_result_text(block: Block) -> str:
    content = block.content
    if content is None:
        text = ""
    elif isinstance(content, str):
        text = content
    else:
        text = "".join(str(p.get("text", "")) for p in content if p.get("type") == "text")
    return f"error: {text}" if block.is_error else text


def _turn(m: MessageIn) -> list[Message]:
    if isinstance(m.content, str):
        return [Message(role=m.role, content=m.content)]
    parts: list[ContentPart] = []
    calls: list[ToolCall] = []
    results: list[Message] = []
    for block in m.content:
        if block.type == "text":
            parts.append(TextPart(block.text or ""))
        elif block.type == "image":
            parts.append(_image(block))
        elif block.type == "tool_use" and m.role == "assistant":
            arguments = block.input or {}
            raw = orjson.dumps(arguments).decode()
            calls.append(ToolCall(block.id or "", block.name or "", arguments, raw))
        elif block.type == "tool_result" and m.role == "user":
            results.append(
                Message(
                    role="tool", content=_tool_result_text(block), tool_call_id=block.tool_use_id
                )
            )
        elif block.type in ("thinking", "redacted_thinking"):
            continue
        else:
            raise GatewayRequestError(
                f"unsupported content block type {block.type!r} in a {m.role} message",
                param="messages",
            )
    out = list(results)
    if m.role == "assistant":
        text = "".join(p.text for p in parts if isinstance(p, TextPart))
        if text or calls:
            out.append(Message(role="assistant", content=text or None, tool_calls=tuple(calls)))
    elif parts:
        only_text = all(isinstance(p, TextPart) for p in parts)
        content = "".join(p.text for p in parts if isinstance(p, TextPart))
        out.append(Message(role="user", content=content if only_text else tuple(parts)))
    return out


def to_unified(req: MessagesRequest) -> dict[str, Any]:
    """Keyword arguments for `UnifiedLLMClient.chat` / `.stream` (model left out)."""
    messages: list[Message] = []
    if req.system:
        # separate blocks are separate instructions: joined as paragraphs, never glued
        system = req.system if isinstance(req.system, str) else "\n\n".join(
            b.text for b in req.system if b.text
        )  # fmt: skip
        messages.append(Message(role="system", content=system))
    for m in req.messages:
        messages.extend(_turn(m))
    tools = [ToolDefinition(t.name, t.description or "", t.input_schema) for t in req.tools or ()]
    tool_choice: str | None = None
    parallel: bool | None = None
    if req.tool_choice is not None:
        kind = req.tool_choice.type
        tool_choice = {"auto": "auto", "any": "required", "none": "none"}.get(kind)
        if kind == "tool":
            if not req.tool_choice.name:
                raise GatewayRequestError("tool_choice.name is required for type tool")
            tool_choice = req.tool_choice.name
        if req.tool_choice.disable_parallel_tool_use:
            parallel = False
    return {
        "messages": messages,
        "tools": tools or None,
        "tool_choice": tool_choice if tools else None,
        "temperature": req.temperature,
        "top_p": req.top_p,
        "max_tokens": req.max_tokens,
        "stop": req.stop_sequences,
        "parallel_tool_calls": parallel,
    }


# --- unified → response ---------------------------------------------------------------------

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


def new_id() -> str:
    return "msg_" + uuid.uuid4().hex


def message_json(response: ChatResponse, model_name: str) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if response.text:
        content.append({"type": "text", "text": response.text})
    content.extend(_tool_use(c) for c in response.tool_calls)
    stop_reason, stop_sequence = stop_json(response.finish_reason, response.stop_sequence)
    return {
        "id": new_id(),
        "type": "message",
        "role": "assistant",
        "model": response.model or model_name,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": usage_json(response.usage),
    }


Frame = tuple[str, dict[str, Any]]


class StreamWriter:
    """Unified events → Anthropic's SSE events, in Anthropic's exact order."""

    def __init__(self, model_name: str) -> None:
        self.id = new_id()
        self.model = model_name
        self._index = -1
        self._text_open = False
        self.stop_reason = "end_turn"
        self.stop_sequence: str | None = None

    def start(self) -> list[Frame]:
        message: dict[str, Any] = {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        return [("message_start", {"type": "message_start", "message": message}),
                ("ping", {"type": "ping"})]  # fmt: skip

    def _close_text(self) -> list[Frame]:
        if not self._text_open:
            return []
        self._text_open = False
        return [("content_block_stop", {"type": "content_block_stop", "index": self._index})]

    def event(self, event: StreamEvent) -> list[Frame]:
        frames: list[Frame] = []
        if isinstance(event, TextDelta) and event.text:
            if not self._text_open:
                self._index += 1
                self._text_open = True
                frames.append(("content_block_start", {"type": "content_block_start",
                               "index": self._index,
                               "content_block": {"type": "text", "text": ""}}))  # fmt: skip
            frames.append(("content_block_delta", {"type": "content_block_delta",
                           "index": self._index,
                           "delta": {"type": "text_delta", "text": event.text}}))  # fmt: skip
        elif isinstance(event, ToolCallEnd):
            frames.extend(self._close_text())
            self._index += 1
            call = event.call
            start = {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}
            partial = orjson.dumps(call.arguments).decode()
            frames += [
                ("content_block_start", {"type": "content_block_start", "index": self._index,
                                         "content_block": start}),
                ("content_block_delta", {"type": "content_block_delta", "index": self._index,
                                         "delta": {"type": "input_json_delta",
                                                   "partial_json": partial}}),
                ("content_block_stop", {"type": "content_block_stop", "index": self._index}),
            ]  # fmt: skip
        elif isinstance(event, FinishEvent):
            self.stop_reason, self.stop_sequence = stop_json(event.reason, event.stop_sequence)
        return frames

    def finish(self, usage: Usage) -> list[Frame]:
        frames = self._close_text()
        u = usage_json(usage)
        frames.append(("message_delta", {
            "type": "message_delta",
            "delta": {"stop_reason": self.stop_reason, "stop_sequence": self.stop_sequence},
            "usage": {"output_tokens": u["output_tokens"], "input_tokens": u["input_tokens"],
                      "cache_read_input_tokens": u["cache_read_input_tokens"],
                      "cache_creation_input_tokens": u["cache_creation_input_tokens"]},
        }))  # fmt: skip
        frames.append(("message_stop", {"type": "message_stop"}))
        return frames
