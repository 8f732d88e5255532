"""JSON shapes of the chat and conversation endpoints (request, response, public)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from modelreg.chat.images import MAX_IMAGES, ImageIn
from modelreg.db.models import Conversation
from modelreg.db.models import Message as MessageRow
from modelreg.decimals import plain
from modelreg.nul import NulFree
from modelreg.providers.tool_arguments import parse_tool_arguments
from modelreg.types import Message, ToolCall, ToolDefinition

__all__ = [
    "ChatIn",
    "ChatOut",
    "ConversationCreate",
    "ConversationDetail",
    "ConversationOut",
    "ConversationUpdate",
    "MessageIn",
    "MessageOut",
]

_NAME = r"^[A-Za-z0-9_.:-]{1,64}$"


class _Strict(NulFree):
    model_config = ConfigDict(extra="forbid")


class ToolCallIn(_Strict):
    id: StrictStr = Field(max_length=128)
    name: StrictStr = Field(pattern=_NAME)
    arguments: StrictStr = Field(default="{}", description="JSON object as text")


class MessageIn(_Strict):
    role: Literal["user", "assistant", "tool", "system"]
    content: StrictStr | None = Field(default=None, max_length=1_000_000)
    tool_call_id: StrictStr | None = Field(
        default=None, max_length=128, description="role=tool: the call this answers"
    )
    tool_calls: list[ToolCallIn] | None = Field(default=None, max_length=128)

    @model_validator(mode="after")
    def _tool_fields(self) -> MessageIn:
        if self.role == "tool" and not self.tool_call_id:
            raise ValueError("a tool message needs tool_call_id")
        if self.role != "assistant" and self.tool_calls:
            raise ValueError("only assistant messages carry tool_calls")
        if self.role in ("user", "system") and not self.content:
            # providers refuse empty turns (Anthropic with a 400): say so here, not as a 502
            raise ValueError(f"a {self.role} message needs non-empty content")
        return self

    def unified(self) -> Message:
        calls = []
        for c in self.tool_calls or ():
            parsed, problem = parse_tool_arguments(c.arguments)
            calls.append(ToolCall(c.id, c.name, parsed, c.arguments, problem))
        return Message(
            role=self.role,
            content=self.content,
            tool_calls=tuple(calls),
            tool_call_id=self.tool_call_id,
        )


class FunctionIn(_Strict):
    name: StrictStr = Field(pattern=_NAME)
    description: StrictStr = Field(default="", max_length=4096)
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class ToolIn(_Strict):
    """A client-declared tool (OpenAI shape): its calls are returned to the caller."""

    type: Literal["function"] = "function"
    function: FunctionIn

    def unified(self) -> ToolDefinition:
        f = self.function
        return ToolDefinition(f.name, f.description, f.parameters)


class ChatIn(_Strict):
    conversation_id: uuid.UUID | None = Field(
        default=None, description="Continue this conversation; a new one is created if absent"
    )
    model_id: StrictStr | None = Field(
        default=None,
        max_length=255,
        description="Registry id or name; default: the conversation's model, then the user's "
        "default, then the first enabled global model",
    )
    experiment_id: uuid.UUID | None = Field(
        default=None,
        description="An A/B experiment chooses the model instead of `model_id` (the "
        "conversation keeps its arm; docs/analytics.md)",
    )
    message: StrictStr | None = Field(
        default=None, min_length=1, max_length=1_000_000, description="One user message (text)"
    )
    messages: list[MessageIn] | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="Messages to append instead of `message`, e.g. tool results",
    )
    tools: list[StrictStr | ToolIn] | None = Field(
        default=None,
        max_length=128,
        description="Names of server-side tools and/or client-declared tool definitions",
    )
    tool_choice: StrictStr | None = Field(
        default=None, description="auto | none | required | the name of one tool"
    )
    stream: StrictBool = Field(default=False, description="Answer as Server-Sent Events")
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    title: StrictStr | None = Field(
        default=None, max_length=200, description="Title of a new conversation"
    )
    images: list[ImageIn] | None = Field(
        default=None,
        max_length=MAX_IMAGES,
        description="Images for the user message (models marked supports_vision only)",
    )
    collection_ids: list[uuid.UUID] | None = Field(
        default=None,
        max_length=20,
        description="Knowledge collections to answer from (kept on the conversation for the "
        "next turns; [] detaches them); absent: the conversation's collections",
    )
    retrieval_mode: Literal["auto", "local", "global", "vector"] = Field(
        default="auto", description="How to search the collections (docs/knowledge.md)"
    )

    @field_validator("tool_choice")
    @classmethod
    def _offered(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or value in ("auto", "none", "required"):
            return value
        tools = info.data.get("tools") or ()
        names = {t if isinstance(t, str) else t.function.name for t in tools}
        if value not in names:
            raise ValueError(
                f"names the tool {value[:64]!r}, which is not among the tools offered in `tools`"
            )
        return value

    @model_validator(mode="after")
    def _one_input(self) -> ChatIn:
        if (self.message is None) == (self.messages is None):
            raise ValueError("send exactly one of `message` and `messages`")
        return self

    def unified_messages(self) -> tuple[Message, ...]:
        if self.message is not None:
            return (Message(role="user", content=self.message),)
        return tuple(m.unified() for m in self.messages or ())

    def server_tools(self) -> tuple[str, ...]:
        return tuple(t for t in self.tools or () if isinstance(t, str))

    def client_tools(self) -> tuple[ToolDefinition, ...]:
        return tuple(t.unified() for t in self.tools or () if isinstance(t, ToolIn))


class ModelRef(BaseModel):
    id: str | None
    name: str | None


class UsageOut(BaseModel):
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    total_tokens: int


class PricesOut(BaseModel):
    """The unit prices (USD per token, decimal strings) the message was booked with."""

    input: str
    output: str
    cache_read: str
    cache_write: str


class ToolCallOut(BaseModel):
    id: str
    name: str
    arguments: str | None = Field(description="The arguments as the model wrote them (JSON)")
    parsed_arguments: dict[str, Any]
    executed_by: Literal["server", "client"]


class ChatOut(BaseModel):
    """The assistant's answer (also the data of the stream's `done` event)."""

    conversation_id: uuid.UUID
    message_id: uuid.UUID
    model: ModelRef = Field(description="The model that answered (after any fallback)")
    content: str
    reasoning: str | None
    tool_calls: list[ToolCallOut] = Field(description="Calls to client-declared tools")
    usage: UsageOut
    cost: str = Field(description="Decimal, in the currency of the model's prices")
    latency_ms: float
    ttft_ms: float | None
    finish_reason: str | None
    status: Literal["complete", "incomplete", "error"]
    fallback_reasons: list[str]
    citations: list[dict[str, Any]] | None = Field(
        default=None, description="The knowledge passages the answer was given (numbered)"
    )


class MessageOut(BaseModel):
    id: uuid.UUID
    role: str
    content: str
    tool_calls: list[dict[str, Any]] | None
    tool_call_id: str | None
    reply_to_id: uuid.UUID | None = Field(
        default=None, description="The user message this answer replies to (siblings: alternatives)"
    )
    model: ModelRef | None = Field(description="The model that wrote it (assistant messages)")
    usage: UsageOut | None
    usage_estimated: bool = Field(
        default=False, description="The tokens are an estimate: stopped before the usage came"
    )
    cost: str | None
    prices: PricesOut | None = Field(
        default=None,
        description="Unit prices of the cost; null where not recorded (older messages, user turns)",
    )
    latency_ms: float | None
    ttft_ms: float | None
    finish_reason: str | None
    status: str
    error: str | None
    citations: list[dict[str, Any]] | None = None
    created_at: datetime
    active: bool = Field(
        default=True, description="On the selected path (what the model sees as history)"
    )
    alternatives: list[uuid.UUID] | None = Field(
        default=None, description="An answer: every answer to the same user message, oldest first"
    )
    images: list[str] = Field(default_factory=list, description="URLs of attached images")

    @classmethod
    def of(cls, row: MessageRow) -> MessageOut:
        usage = None
        if row.input_tokens is not None or row.output_tokens is not None:
            i, o = row.input_tokens or 0, row.output_tokens or 0
            usage = UsageOut(
                input_tokens=i,
                output_tokens=o,
                cached_tokens=row.cached_tokens or 0,
                reasoning_tokens=row.reasoning_tokens or 0,
                total_tokens=i + o,
            )
        model = None
        if row.model_name is not None:
            model = ModelRef(
                id=str(row.llm_model_id) if row.llm_model_id else None, name=row.model_name
            )
        return cls(
            id=row.id,
            role=row.role,
            content=row.content,
            tool_calls=row.tool_calls,
            tool_call_id=row.tool_call_id,
            reply_to_id=row.reply_to_id,
            model=model,
            usage=usage,
            usage_estimated=row.usage_estimated,
            cost=plain(row.cost) if row.cost is not None else None,
            prices=_prices(row),
            latency_ms=row.latency_ms,
            ttft_ms=row.ttft_ms,
            finish_reason=row.finish_reason,
            status=row.status,
            error=row.error,
            citations=row.citations,
            created_at=row.created_at,
        )


def _prices(row: MessageRow) -> PricesOut | None:
    values = (
        row.price_per_input_token,
        row.price_per_output_token,
        row.price_per_cache_read_token,
        row.price_per_cache_write_token,
    )
    if any(v is None for v in values):
        return None
    i, o, r, w = (plain(v) for v in values if v is not None)
    return PricesOut(input=i, output=o, cache_read=r, cache_write=w)


class ConversationOut(BaseModel):
    id: uuid.UUID
    title: str
    llm_model_id: uuid.UUID | None = Field(description="The model used when a turn names none")
    created_at: datetime
    updated_at: datetime
    message_count: int | None = None

    @classmethod
    def of(cls, row: Conversation, message_count: int | None = None) -> ConversationOut:
        return cls(
            id=row.id,
            title=row.title,
            llm_model_id=row.llm_model_id,
            created_at=row.created_at,
            updated_at=row.updated_at,
            message_count=message_count,
        )


class ConversationDetail(ConversationOut):
    messages: list[MessageOut]
    total_cost: str
    total_tokens: int


class ConversationCreate(_Strict):
    title: StrictStr | None = Field(default=None, min_length=1, max_length=200)
    llm_model_id: StrictStr | None = Field(
        default=None, max_length=255, description="Registry id or name"
    )


class ConversationUpdate(_Strict):
    title: StrictStr | None = Field(default=None, min_length=1, max_length=200)
    llm_model_id: StrictStr | None = Field(
        default=None, max_length=255, description="Registry id or name; null clears it"
    )
