"""Anthropic Messages wire format ↔ the unified types.

Requests: `system` (string or text blocks) becomes a system message, its blocks kept as
blocks; `tool_result` blocks in a user turn become `tool` messages (placed before the turn's
remaining text, their images and `is_error` kept); `tool_use` blocks in an assistant turn
become its tool calls and its `thinking` / `redacted_thinking` blocks its reasoning (with
their signatures, which only Anthropic can check). `cache_control` stays on the block it came
on. `thinking`, `metadata.user_id`, `top_k` and `service_tier` become unified fields; other
top-level fields and the `anthropic-beta` header travel as `NativeFields`, which only an
Anthropic upstream takes (others refuse them with a 400 naming the field). A field inside a
block that we do not know is refused here, on the translated path: it would be lost.

The answer's shapes are in gateway/anthropic_reply.py.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError

from modelreg.gateway.anthropic_reply import message_json
from modelreg.gateway.errors import GatewayRequestError
from modelreg.gateway.tool_choice import check_named_tool
from modelreg.types import (
    ContentPart,
    ImagePart,
    Message,
    NativeFields,
    ReasoningBlock,
    TextPart,
    ToolCall,
    ToolDefinition,
)

__all__ = [
    "CountTokensRequest",
    "MessagesRequest",
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
    cache_control: dict[str, Any] | None = None
    thinking: StrictStr | None = None
    signature: StrictStr | None = None
    data: StrictStr | None = None


class MessageIn(_Open):
    role: Literal["user", "assistant"]
    content: StrictStr | list[Block]


class ToolIn(_Open):
    name: StrictStr = Field(min_length=1, max_length=128)
    description: StrictStr | None = None
    input_schema: dict[str, Any]
    cache_control: dict[str, Any] | None = None
    strict: StrictBool | None = None


class ToolChoiceIn(_Open):
    type: Literal["auto", "any", "none", "tool"]
    name: StrictStr | None = None
    disable_parallel_tool_use: StrictBool | None = None


class SystemBlock(_Open):
    type: Literal["text"] = "text"
    text: StrictStr
    cache_control: dict[str, Any] | None = None


class ThinkingIn(_Open):
    type: Literal["enabled", "disabled"]
    budget_tokens: StrictInt | None = Field(default=None, ge=1024)


class MetadataIn(_Open):
    user_id: StrictStr | None = None


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
    thinking: ThinkingIn | None = None
    metadata: MetadataIn | None = None
    top_k: StrictInt | None = Field(default=None, ge=0)
    service_tier: Literal["auto", "standard_only"] | None = None


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
    cache = block.cache_control
    if source.get("type") == "base64":
        media = source.get("media_type", "image/png")
        return ImagePart(f"data:{media};base64,{source.get('data', '')}", cache_control=cache)
    if source.get("type") == "url" and isinstance(source.get("url"), str):
        return ImagePart(source["url"], cache_control=cache)
    raise GatewayRequestError("unsupported image source", param="messages")


_BLOCK_FIELDS: dict[str, frozenset[str]] = {
    "text": frozenset({"type", "text", "cache_control"}),
    "image": frozenset({"type", "source", "cache_control"}),
    "tool_use": frozenset({"type", "id", "name", "input", "cache_control"}),
    "tool_result": frozenset({"type", "tool_use_id", "content", "is_error", "cache_control"}),
    "thinking": frozenset({"type", "thinking", "signature"}),
    "redacted_thinking": frozenset({"type", "data"}),
}


def _check_fields(block: Block, where: str) -> None:
    """A block field we would not carry (citations, ...) is a 400, not a silent drop."""
    known = _BLOCK_FIELDS.get(block.type, frozenset())
    for name in block.model_fields_set | set(block.model_extra or ()):
        if name not in known and getattr(block, name, None) is not None:
            raise GatewayRequestError(
                f"{where}.{name}: not supported when this model's request is translated "
                "for another provider",
                param=f"{where}.{name}",
            )


def _tool_result(block: Block, where: str) -> Message:
    content = block.content
    parts: list[ContentPart] = []
    for j, raw in enumerate(content if isinstance(content, list) else ()):
        inner = Block.model_validate(raw)
        _check_fields(inner, f"{where}.content.{j}")
        if inner.type == "text":
            parts.append(TextPart(inner.text or "", cache_control=inner.cache_control))
        elif inner.type == "image":
            parts.append(_image(inner))
        else:
            raise GatewayRequestError(
                f"{where}.content.{j}: unsupported block type {inner.type!r} in a tool_result",
                param=f"{where}.content.{j}.type",
            )
    plain = all(isinstance(p, TextPart) and p.cache_control is None for p in parts)
    text: str | tuple[ContentPart, ...]
    if isinstance(content, str) or content is None:
        text = content or ""
    else:
        text = "".join(p.text for p in parts if isinstance(p, TextPart)) if plain else tuple(parts)
    return Message(role="tool", content=text, tool_call_id=block.tool_use_id,
                   is_error=bool(block.is_error), cache_control=block.cache_control)  # fmt: skip


def _parts_content(parts: list[ContentPart]) -> str | tuple[ContentPart, ...]:
    """Plain text blocks as one string (what every provider takes); blocks that carry more
    (an image, cache_control) as blocks."""
    if all(isinstance(p, TextPart) and p.cache_control is None for p in parts):
        return "".join(p.text for p in parts if isinstance(p, TextPart))
    return tuple(parts)


def _turn(m: MessageIn, i: int) -> list[Message]:
    if isinstance(m.content, str):
        return [Message(role=m.role, content=m.content)]
    parts: list[ContentPart] = []
    calls: list[ToolCall] = []
    results: list[Message] = []
    reasoning: list[ReasoningBlock] = []
    for j, block in enumerate(m.content):
        where = f"messages.{i}.content.{j}"
        _check_fields(block, where)
        if block.type == "text":
            parts.append(TextPart(block.text or "", cache_control=block.cache_control))
        elif block.type == "image":
            parts.append(_image(block))
        elif block.type == "tool_use" and m.role == "assistant":
            arguments = block.input or {}
            raw = orjson.dumps(arguments).decode()
            calls.append(ToolCall(block.id or "", block.name or "", arguments, raw))
        elif block.type == "tool_result" and m.role == "user":
            results.append(_tool_result(block, where))
        elif block.type == "thinking" and m.role == "assistant":
            reasoning.append(ReasoningBlock(block.thinking or "", block.signature))
        elif block.type == "redacted_thinking" and m.role == "assistant":
            reasoning.append(ReasoningBlock(redacted_data=block.data or ""))
        else:
            raise GatewayRequestError(
                f"unsupported content block type {block.type!r} in a {m.role} message",
                param=f"{where}.type",
            )
    out = list(results)
    if m.role == "assistant":
        if parts or calls or reasoning:
            content = _parts_content(parts) if parts else None
            out.append(Message(role="assistant", content=content or None,
                               tool_calls=tuple(calls), reasoning=tuple(reasoning)))  # fmt: skip
    elif parts:
        out.append(Message(role="user", content=_parts_content(parts)))
    return out


_UNIFIED_FIELDS = frozenset(MessagesRequest.model_fields) - {"model"}


def _system(req: MessagesRequest) -> Message | None:
    if not req.system:
        return None
    if isinstance(req.system, str):
        return Message(role="system", content=req.system)
    parts = tuple(TextPart(b.text, cache_control=b.cache_control) for b in req.system if b.text)
    if all(p.cache_control is None for p in parts):
        # separate blocks are separate instructions: joined as paragraphs, never glued
        return Message(role="system", content="\n\n".join(p.text for p in parts))
    return Message(role="system", content=parts)


def _tool_choice(req: MessagesRequest, tools: bool) -> tuple[str | None, bool | None]:
    if req.tool_choice is None:
        return None, None
    kind = req.tool_choice.type
    choice = {"auto": "auto", "any": "required", "none": "none"}.get(kind)
    if kind == "tool":
        if not req.tool_choice.name:
            raise GatewayRequestError("tool_choice.name is required for type tool")
        choice = req.tool_choice.name
    parallel = False if req.tool_choice.disable_parallel_tool_use else None
    return (choice if tools else None), parallel


def _check_extras(req: MessagesRequest) -> None:
    for name, part in (("tool_choice", req.tool_choice), ("thinking", req.thinking)):
        if part is not None and part.model_extra:
            field = f"{name}.{next(iter(part.model_extra))}"
            raise GatewayRequestError(f"{field}: unknown field", param=field)
    if req.metadata is not None and req.metadata.model_extra:
        field = f"metadata.{next(iter(req.metadata.model_extra))}"
        raise GatewayRequestError(f"{field}: Anthropic's metadata has only user_id", param=field)


def to_unified(req: MessagesRequest, beta: str | None = None) -> dict[str, Any]:
    """Keyword arguments for `UnifiedLLMClient.chat` / `.stream` (model left out). `beta`:
    the caller's `anthropic-beta` header, honoured only by an Anthropic upstream."""
    _check_extras(req)
    messages: list[Message] = []
    system = _system(req)
    if system is not None:
        messages.append(system)
    for i, m in enumerate(req.messages):
        messages.extend(_turn(m, i))
    tools = [
        ToolDefinition(t.name, t.description or "", t.input_schema, t.strict, t.cache_control)
        for t in req.tools or ()
    ]
    tool_choice, parallel = _tool_choice(req, bool(tools))
    thinking = req.thinking
    budget = thinking.budget_tokens if thinking and thinking.type == "enabled" else None
    if thinking is not None and thinking.type == "enabled" and budget is None:
        raise GatewayRequestError(
            "thinking.budget_tokens: required", param="thinking.budget_tokens"
        )
    native = NativeFields(
        "anthropic",
        {k: v for k, v in (req.model_extra or {}).items() if k not in _UNIFIED_FIELDS},
        {"anthropic-beta": beta} if beta else {},
    )
    tier = {"standard_only": "default"}.get(req.service_tier or "", req.service_tier)
    return {
        "messages": messages,
        "tools": tools or None,
        "tool_choice": tool_choice,
        "temperature": req.temperature,
        "top_p": req.top_p,
        "max_tokens": req.max_tokens,
        "stop": req.stop_sequences,
        "parallel_tool_calls": parallel,
        "thinking_budget": budget,
        "user": req.metadata.user_id if req.metadata else None,
        "top_k": req.top_k,
        "service_tier": tier,
        "native": native if native.body or native.headers else None,
    }
