"""Unified request, response and stream shapes shared by every adapter.

The shapes follow OpenAI's Chat Completions semantics (roles, tool calls) but are our own
frozen dataclasses, so adapters translate both ways and nothing leaks provider quirks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "CacheControl",
    "ChatRequest",
    "ChatResponse",
    "ContentPart",
    "EmbeddingResponse",
    "FinishEvent",
    "FinishReason",
    "ImagePart",
    "Message",
    "MetaEvent",
    "NativeFields",
    "ReasoningBlock",
    "ReasoningDelta",
    "ReasoningSignature",
    "RefusalDelta",
    "Role",
    "StreamEvent",
    "TextDelta",
    "TextPart",
    "ToolCall",
    "ToolCallDelta",
    "ToolCallEnd",
    "ToolCallStart",
    "ToolChoice",
    "ToolDefinition",
    "Usage",
    "UsageEvent",
]

Role = Literal["system", "developer", "user", "assistant", "tool"]
FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "error", "other"]


# Anthropic's prompt-caching marker ({"type": "ephemeral", "ttl"?}), kept on the block it
# came on; adapters of providers that cache on their own (OpenAI) leave it out
CacheControl = dict[str, Any]


@dataclass(frozen=True, slots=True)
class TextPart:
    text: str
    type: Literal["text"] = "text"
    cache_control: CacheControl | None = None


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image by URL; `data:` URLs carry base64 inline (the only form some servers take)."""

    url: str
    detail: str | None = None
    type: Literal["image"] = "image"
    cache_control: CacheControl | None = None


ContentPart = TextPart | ImagePart


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One call the model asked for. `arguments` is parsed; `raw_arguments` is what came."""

    id: str
    name: str
    arguments: dict[str, Any]
    raw_arguments: str = ""
    # set when raw_arguments was not a JSON object: the call is kept, the problem recorded
    arguments_error: str | None = None


@dataclass(frozen=True, slots=True)
class ReasoningBlock:
    """One block of a model's visible reasoning, as Anthropic returns it and wants it back in
    the history of a tool-use turn: the text and its `signature`, or (redacted) only `data`."""

    text: str = ""
    signature: str | None = None
    redacted_data: str | None = None


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: str | tuple[ContentPart, ...] | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None  # role == "tool": which call this answers
    name: str | None = None  # role == "tool": the tool's name (Ollama wants it)
    reasoning: tuple[ReasoningBlock, ...] = ()  # role == "assistant": thinking before the answer
    is_error: bool = False  # role == "tool": the tool failed (Anthropic's tool_result.is_error)
    cache_control: CacheControl | None = None  # role == "tool": on the whole tool_result

    @property
    def text(self) -> str:
        """The text of the content, images left out."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(p.text for p in self.content if isinstance(p, TextPart))

    @property
    def images(self) -> tuple[ImagePart, ...]:
        if isinstance(self.content, tuple):
            return tuple(p for p in self.content if isinstance(p, ImagePart))
        return ()


@dataclass(frozen=True, slots=True)
class ToolDefinition:
    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    strict: bool | None = None  # OpenAI function.strict / Anthropic tool strict
    cache_control: CacheControl | None = None


# "auto" | "none" | "required", or the name of one tool the model must call
ToolChoice = str


@dataclass(frozen=True, slots=True)
class ChatRequest:
    messages: tuple[Message, ...]
    tools: tuple[ToolDefinition, ...] = ()
    tool_choice: ToolChoice | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    stream: bool = False
    parallel_tool_calls: bool | None = None
    seed: int | None = None
    # provider-specific fields passed through as-is (e.g. response_format)
    extra: dict[str, Any] = field(default_factory=dict)
    # "minimal" | "low" | "medium" | "high" (OpenAI); or a thinking budget in tokens
    # (Anthropic). Each adapter maps the one it gets (providers/reasoning.py)
    reasoning_effort: str | None = None
    thinking_budget: int | None = None
    user: str | None = None  # an end-user id: OpenAI `user`, Anthropic `metadata.user_id`
    top_k: int | None = None
    service_tier: str | None = None  # as the caller's surface spelled it
    native: NativeFields | None = None


@dataclass(frozen=True, slots=True)
class NativeFields:
    """Fields of the caller's surface that have no unified meaning: honoured only by an
    upstream of the same family (`family`: "openai" | "anthropic"), refused by the others
    with a 400 naming the first of them. `headers` are the surface's own (anthropic-beta)."""

    family: str
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cached_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cached_read_tokens + other.cached_read_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
            self.reasoning_tokens + other.reasoning_tokens,
        )


@dataclass(frozen=True, slots=True)
class ChatResponse:
    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: FinishReason = "stop"
    raw_finish_reason: str | None = None
    stop_sequence: str | None = None  # which of the caller's stop sequences ended it, if known
    usage: Usage = field(default_factory=Usage)
    usage_reported: bool = False  # False when the provider sent no usage at all
    model: str = ""  # the provider's own model name, as it reported it
    response_id: str | None = None
    reasoning: str = ""
    reasoning_blocks: tuple[ReasoningBlock, ...] = ()  # with signatures where the provider signs
    refusal: str | None = None  # OpenAI's `refusal`: the model declined, in its words
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    # registry id/name of the model that answered (differs from the asked one after fallback)
    served_by_id: str | None = None
    served_by_name: str | None = None
    fallback_reasons: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class EmbeddingResponse:
    vectors: tuple[tuple[float, ...], ...]
    model: str = ""
    usage: Usage = field(default_factory=Usage)


# --- stream events -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MetaEvent:
    """First facts about the response: the provider's id and model name. The client fills in
    which registry model serves the stream and why earlier ones were skipped (fallback)."""

    response_id: str | None = None
    model: str | None = None
    type: Literal["meta"] = "meta"
    # the prompt's usage when the provider tells it at the start (Anthropic's message_start)
    usage: Usage | None = None
    served_by_id: str | None = None
    served_by_name: str | None = None
    fallback_reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str
    type: Literal["text_delta"] = "text_delta"


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    text: str
    type: Literal["reasoning_delta"] = "reasoning_delta"


@dataclass(frozen=True, slots=True)
class ReasoningSignature:
    """The end of a reasoning block: its signature, or the opaque data of a redacted one."""

    signature: str | None = None
    redacted_data: str | None = None
    type: Literal["reasoning_signature"] = "reasoning_signature"


@dataclass(frozen=True, slots=True)
class RefusalDelta:
    text: str
    type: Literal["refusal_delta"] = "refusal_delta"


@dataclass(frozen=True, slots=True)
class ToolCallStart:
    index: int
    id: str
    name: str
    type: Literal["tool_call_start"] = "tool_call_start"


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    index: int
    arguments_fragment: str
    type: Literal["tool_call_delta"] = "tool_call_delta"


@dataclass(frozen=True, slots=True)
class ToolCallEnd:
    index: int
    call: ToolCall
    type: Literal["tool_call_end"] = "tool_call_end"


@dataclass(frozen=True, slots=True)
class UsageEvent:
    usage: Usage
    type: Literal["usage"] = "usage"


@dataclass(frozen=True, slots=True)
class FinishEvent:
    reason: FinishReason
    raw_reason: str | None = None
    # the stop sequence that matched, when the provider says which (only Anthropic does)
    stop_sequence: str | None = None
    type: Literal["finish"] = "finish"


StreamEvent = (
    MetaEvent
    | TextDelta
    | ReasoningDelta
    | ReasoningSignature
    | RefusalDelta
    | ToolCallStart
    | ToolCallDelta
    | ToolCallEnd
    | UsageEvent
    | FinishEvent
)
