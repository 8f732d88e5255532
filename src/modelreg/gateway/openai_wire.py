"""OpenAI Chat Completions wire format ↔ the unified types.

The request is validated by pydantic models that allow unknown fields (so the byte
pass-through can forward them to an OpenAI-compatible upstream). Translation maps every field
with a unified meaning (`reasoning_effort`, `user`, `service_tier`, `function.strict` ...);
the other top-level fields travel as `NativeFields`, which an OpenAI-compatible upstream
takes as they are and every other upstream refuses with a 400 naming the field.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError

from modelreg.gateway.errors import GatewayRequestError
from modelreg.gateway.tool_choice import check_named_tool
from modelreg.providers.tool_arguments import parse_tool_arguments
from modelreg.types import (
    ChatResponse,
    ContentPart,
    FinishEvent,
    ImagePart,
    Message,
    MetaEvent,
    NativeFields,
    ReasoningDelta,
    RefusalDelta,
    StreamEvent,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    ToolDefinition,
    Usage,
)

__all__ = [
    "ChatCompletionRequest",
    "ChunkWriter",
    "EmbeddingRequest",
    "completion_json",
    "parse_chat_request",
    "parse_embedding_request",
    "to_unified",
    "usage_json",
]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ImageUrl(_Open):
    url: StrictStr
    detail: StrictStr | None = None


class ContentPartIn(_Open):
    type: StrictStr
    text: StrictStr | None = None
    image_url: ImageUrl | None = None


class FunctionCallIn(_Open):
    name: StrictStr
    arguments: StrictStr = ""


class ToolCallIn(_Open):
    id: StrictStr
    type: Literal["function"] = "function"
    function: FunctionCallIn


class MessageIn(_Open):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: StrictStr | list[ContentPartIn] | None = None
    tool_calls: list[ToolCallIn] | None = None
    tool_call_id: StrictStr | None = None
    name: StrictStr | None = None


class FunctionDefIn(_Open):
    name: StrictStr = Field(min_length=1, max_length=128)
    description: StrictStr | None = None
    parameters: dict[str, Any] | None = None
    strict: StrictBool | None = None


class ToolIn(_Open):
    # other kinds ("custom", ...) are OpenAI's to judge: forwarded as they are, refused only
    # when the request must be translated
    type: StrictStr = "function"
    function: FunctionDefIn | None = None


class NamedFunction(_Open):
    name: StrictStr


class ToolChoiceIn(_Open):
    type: Literal["function"] = "function"
    function: NamedFunction


class StreamOptions(_Open):
    include_usage: StrictBool | None = None


class ChatCompletionRequest(_Open):
    """POST /v1/chat/completions (fields not listed are forwarded to OpenAI-compatible
    upstreams as they are, and dropped when the request is translated for another provider)."""

    model: StrictStr = Field(min_length=1, max_length=255)
    messages: list[MessageIn] = Field(min_length=1)
    stream: StrictBool | None = False
    stream_options: StreamOptions | None = None
    tools: list[ToolIn] | None = None
    tool_choice: Literal["auto", "none", "required"] | ToolChoiceIn | dict[str, Any] | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_tokens: StrictInt | None = Field(default=None, ge=1)
    max_completion_tokens: StrictInt | None = Field(default=None, ge=1)
    stop: StrictStr | list[StrictStr] | None = None
    # n > 1 goes to an OpenAI-compatible upstream as it is (the answer has n choices); a
    # translated request refuses it (`to_unified`): the unified response has one choice
    n: StrictInt | None = Field(default=None, ge=1)
    parallel_tool_calls: StrictBool | None = None
    seed: StrictInt | None = None
    response_format: dict[str, Any] | None = None
    logprobs: StrictBool | None = None
    top_logprobs: StrictInt | None = None
    reasoning_effort: StrictStr | None = None
    user: StrictStr | None = None
    service_tier: StrictStr | None = None


EmbeddingInput = StrictStr | list[StrictStr] | list[StrictInt] | list[list[StrictInt]]


class EmbeddingRequest(_Open):
    model: StrictStr = Field(min_length=1, max_length=255)
    input: EmbeddingInput = Field(
        description="Text, texts, or token ids (one array, or one per input: OpenAI-compatible "
        "models only)"
    )
    encoding_format: Literal["float", "base64"] | None = "float"
    dimensions: StrictInt | None = Field(default=None, ge=1)
    user: StrictStr | None = None

    def texts(self) -> list[str] | None:
        """The input as texts, or None when it is token ids."""
        if isinstance(self.input, str):
            return [self.input]
        if all(isinstance(item, str) for item in self.input):
            return [str(item) for item in self.input]
        return None


def _first_problem(exc: ValidationError) -> GatewayRequestError:
    first = exc.errors()[0]
    if first.get("loc") == ("messages",) and first.get("type") == "too_short":
        return GatewayRequestError(  # OpenAI's words, param and code for `messages: []`
            "Invalid 'messages': empty array. Expected an array with minimum length 1, "
            "but got an empty array instead.",
            param="messages",
            code="empty_array",
        )
    param = ".".join(str(p) for p in first.get("loc", ())) or None
    message = str(first.get("msg", "invalid value"))
    return GatewayRequestError(f"{param}: {message}" if param else message, param=param)


def parse_chat_request(data: object) -> ChatCompletionRequest:
    if not isinstance(data, dict):
        raise GatewayRequestError("the request body must be a JSON object")
    try:
        req = ChatCompletionRequest.model_validate(data)
    except ValidationError as exc:
        raise _first_problem(exc) from None
    if isinstance(req.tool_choice, ToolChoiceIn):
        offered = (t.function.name for t in req.tools or () if t.function is not None)
        check_named_tool(req.tool_choice.function.name, offered)
    return req


_EMBEDDING_INPUT = (
    "input: expected a string, an array of strings, an array of token ids or an array of "
    "token-id arrays"
)


def parse_embedding_request(data: object) -> EmbeddingRequest:
    if not isinstance(data, dict):
        raise GatewayRequestError("the request body must be a JSON object")
    try:
        return EmbeddingRequest.model_validate(data)
    except ValidationError as exc:
        if any(error.get("loc", ("",))[0] == "input" for error in exc.errors()):
            # one clear sentence, not the first branch of the union pydantic tried
            raise GatewayRequestError(_EMBEDDING_INPUT, param="input") from None
        raise _first_problem(exc) from None


# --- request → unified ----------------------------------------------------------------------


def _content(content: str | list[ContentPartIn] | None) -> str | tuple[ContentPart, ...] | None:
    if content is None or isinstance(content, str):
        return content
    parts: list[ContentPart] = []
    for part in content:
        if part.type == "text" and part.text is not None:
            parts.append(TextPart(part.text))
        elif part.type == "image_url" and part.image_url is not None:
            parts.append(ImagePart(part.image_url.url, part.image_url.detail))
        else:
            raise GatewayRequestError(
                f"unsupported content part type {part.type!r}", param="messages"
            )
    return tuple(parts)


def _message(m: MessageIn) -> Message:
    calls = []
    for call in m.tool_calls or ():
        parsed, problem = parse_tool_arguments(call.function.arguments)
        calls.append(
            ToolCall(call.id, call.function.name, parsed, call.function.arguments, problem)
        )
    content = _content(m.content)
    if m.role == "tool" and isinstance(content, tuple):
        content = "".join(p.text for p in content if isinstance(p, TextPart))
    return Message(
        role=m.role,
        content=content,
        tool_calls=tuple(calls),
        tool_call_id=m.tool_call_id,
        name=m.name if m.role == "tool" else None,
    )


def _translatable_extra(req: ChatCompletionRequest) -> dict[str, Any]:
    """The OpenAI-only fields a translated request can still honour, as the client's `extra`.

    `response_format` goes on as it is (the adapters translate it: Ollama's `format`; an
    OpenAI-compatible fallback sends it unchanged; Anthropic refuses it with a 400), because
    `.parse()` callers rely on it. Log probabilities have no place in the unified response, so
    asking for them here is a 400 rather than an answer that silently lacks them. The same
    for `n` > 1: the unified response holds one choice, and n-1 missing choices would break
    callers that index them."""
    if req.n is not None and req.n > 1:
        raise GatewayRequestError(
            f"n={req.n} asks for several choices, which only models served by an "
            "OpenAI-compatible provider without a fallback chain can give; use n=1 and "
            "several requests for this model",
            param="n",
            code="unsupported_parameter",
        )
    if req.logprobs or req.top_logprobs is not None:
        raise GatewayRequestError(
            "logprobs are only available from models served by an OpenAI-compatible provider "
            "without a fallback chain",
            param="logprobs",
            code="unsupported_parameter",
        )
    fmt = req.response_format
    if fmt is None or fmt.get("type") == "text":
        return {}
    return {"response_format": fmt}


def to_unified(req: ChatCompletionRequest) -> dict[str, Any]:
    """Keyword arguments for `UnifiedLLMClient.chat` / `.stream` (model left out)."""
    extra = _translatable_extra(req)
    tool_choice: str | None = None
    if isinstance(req.tool_choice, ToolChoiceIn):
        tool_choice = req.tool_choice.function.name
    elif isinstance(req.tool_choice, dict):
        raise GatewayRequestError(
            f"tool_choice of type {req.tool_choice.get('type')!r} is only available from "
            "OpenAI-compatible models; use auto, none, required or a named function",
            param="tool_choice",
            code="unsupported_parameter",
        )
    else:
        tool_choice = req.tool_choice
    tools = []
    for t in req.tools or ():
        if t.type != "function" or t.function is None:
            raise GatewayRequestError(
                f"tools of type {t.type!r} are only available from OpenAI-compatible models; "
                "this model takes function tools",
                param="tools",
                code="unsupported_parameter",
            )
        parameters = t.function.parameters or {"type": "object", "properties": {}}
        f = t.function
        tools.append(ToolDefinition(f.name, f.description or "", parameters, f.strict))
    native = {k: v for k, v in (req.model_extra or {}).items() if v is not None}
    return {
        "messages": [_message(m) for m in req.messages],
        "tools": tools or None,
        "tool_choice": tool_choice,
        "temperature": req.temperature,
        "top_p": req.top_p,
        "max_tokens": req.max_completion_tokens or req.max_tokens,
        "stop": req.stop,
        "parallel_tool_calls": req.parallel_tool_calls,
        "seed": req.seed,
        "extra": extra or None,
        "reasoning_effort": req.reasoning_effort,
        "user": req.user,
        "service_tier": req.service_tier,
        "native": NativeFields("openai", native) if native else None,
    }


# --- unified → response ---------------------------------------------------------------------

_FINISH = {"stop": "stop", "length": "length", "tool_calls": "tool_calls",
           "content_filter": "content_filter"}  # fmt: skip


def usage_json(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_read_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def _tool_call_json(call: ToolCall) -> dict[str, Any]:
    arguments = call.raw_arguments or orjson.dumps(call.arguments).decode()
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": arguments},
    }


def new_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex


def completion_json(response: ChatResponse, model_name: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": response.text or None,
                               "refusal": response.refusal}  # fmt: skip
    if response.tool_calls:
        message["tool_calls"] = [_tool_call_json(c) for c in response.tool_calls]
    if response.reasoning:
        message["reasoning_content"] = response.reasoning
    return {
        "id": response.response_id or new_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": response.model or model_name,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": _FINISH.get(response.finish_reason, "stop"),
                "logprobs": None,
            }
        ],
        "usage": usage_json(response.usage),
    }


class ChunkWriter:
    """Unified stream events → `chat.completion.chunk` objects, as OpenAI sends them."""

    def __init__(self, model_name: str, meta: MetaEvent | None = None) -> None:
        self.id = (meta.response_id if meta else None) or new_id()
        self.created = int(time.time())
        self.model = (meta.model if meta else None) or model_name
        self._tool_index: dict[int, int] = {}  # unified index → OpenAI's 0-based index
        self._started = False

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }

    def start(self) -> dict[str, Any]:
        self._started = True
        return self._chunk({"role": "assistant", "content": ""})

    def _index(self, unified: int) -> int:
        return self._tool_index.setdefault(unified, len(self._tool_index))

    def event(self, event: StreamEvent) -> dict[str, Any] | None:
        if isinstance(event, TextDelta):
            return self._chunk({"content": event.text})
        if isinstance(event, ReasoningDelta):
            return self._chunk({"reasoning_content": event.text})
        if isinstance(event, RefusalDelta):
            return self._chunk({"refusal": event.text})
        if isinstance(event, ToolCallStart):
            call = {"index": self._index(event.index), "id": event.id, "type": "function",
                    "function": {"name": event.name, "arguments": ""}}  # fmt: skip
            return self._chunk({"tool_calls": [call]})
        if isinstance(event, ToolCallDelta):
            call = {"index": self._index(event.index),
                    "function": {"arguments": event.arguments_fragment}}  # fmt: skip
            return self._chunk({"tool_calls": [call]})
        if isinstance(event, ToolCallEnd) and event.index not in self._tool_index:
            # a producer that only reports whole calls: send it in one chunk
            whole = _tool_call_json(event.call) | {"index": self._index(event.index)}
            return self._chunk({"tool_calls": [whole]})
        if isinstance(event, FinishEvent):
            return self._chunk({}, _FINISH.get(event.reason, "stop"))
        return None

    def usage(self, usage: Usage) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": usage_json(usage),
        }
