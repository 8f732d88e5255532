"""OpenAPI documents of the gateway routes, for docs and contract tests only.

The routes read and write their bodies themselves (for speed, and so the byte pass-through can
forward unknown fields and relay upstream bytes), so nothing here validates anything at run
time: these models only describe the wire shapes in /openapi.json. They are deliberately open
(`extra="allow"`): an OpenAI-compatible upstream's answer is relayed as it is, with whatever
extra fields it has; what is listed is what the official SDKs rely on.

- `json_body(model)`: `openapi_extra` for a route whose JSON body has the shape of `model`.
- `OPENAI_CHAT_RESPONSES`, `OPENAI_EMBEDDING_RESPONSES`, `OPENAI_MODELS_RESPONSES`,
  `ANTHROPIC_MESSAGES_RESPONSES`: `responses=` of each route, the answer and every error in
  that API's own shape, streams as Server-Sent Events (one schema per event).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

__all__ = [
    "ANTHROPIC_MESSAGES_RESPONSES",
    "OPENAI_CHAT_RESPONSES",
    "OPENAI_EMBEDDING_RESPONSES",
    "OPENAI_MODELS_RESPONSES",
    "AnthropicErrorBody",
    "OpenAIErrorBody",
    "json_body",
]


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline(defs[ref.rsplit("/", 1)[1]], defs)
        return {k: _inline(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with its `$defs` inlined: a route's `openapi_extra` and the
    schema inside an SSE event cannot point at shared components."""
    schema = model.model_json_schema(mode="serialization")
    defs = schema.pop("$defs", {})
    inlined: dict[str, Any] = _inline(schema, defs)
    return inlined


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` for a route whose JSON body has the shape of `model`."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _inline(schema, defs)}},
        }
    }


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


# --- errors -------------------------------------------------------------------------------


class OpenAIError(_Open):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIErrorBody(_Open):
    """The error shape of the OpenAI-compatible endpoints."""

    error: OpenAIError


class AnthropicError(_Open):
    type: str
    message: str


class AnthropicErrorBody(_Open):
    """The error shape of the Anthropic-compatible endpoint."""

    type: Literal["error"]
    error: AnthropicError


# --- OpenAI answers ---------------------------------------------------------------------------


class ModelObject(_Open):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class ModelList(_Open):
    object: Literal["list"]
    data: list[ModelObject]


class FunctionCallOut(_Open):
    name: str
    arguments: str


class ToolCallOut(_Open):
    id: str
    type: Literal["function"]
    function: FunctionCallOut


class AssistantMessage(_Open):
    role: Literal["assistant"]
    content: str | None
    tool_calls: list[ToolCallOut] | None = None


class Choice(_Open):
    index: int
    message: AssistantMessage
    finish_reason: str | None


class CompletionUsage(_Open):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(_Open):
    """A `chat.completion` (`stream: false`)."""

    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[Choice]
    usage: CompletionUsage | None = None


class ChunkChoice(_Open):
    index: int
    delta: dict[str, Any]
    finish_reason: str | None = None


class ChatCompletionChunk(_Open):
    """One `data:` event of a stream; the stream ends with `data: [DONE]`."""

    id: str
    object: Literal["chat.completion.chunk"]
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: CompletionUsage | None = None


class Embedding(_Open):
    object: Literal["embedding"]
    index: int
    embedding: list[float] | str  # str: base64 of little-endian float32s


class EmbeddingUsage(_Open):
    prompt_tokens: int
    total_tokens: int


class EmbeddingList(_Open):
    object: Literal["list"]
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage


# --- Anthropic answers ------------------------------------------------------------------------


class ContentBlock(_Open):
    type: str  # text | tool_use | thinking


class MessageUsage(_Open):
    input_tokens: int
    output_tokens: int


class AnthropicMessage(_Open):
    """A `message` (`stream: false`)."""

    id: str
    type: Literal["message"]
    role: Literal["assistant"]
    model: str
    content: list[ContentBlock]
    stop_reason: str | None
    stop_sequence: str | None = None
    usage: MessageUsage


class StreamEventData(_Open):
    """The data of every event of a Messages stream: an object named by its `type`."""

    type: str


# --- Server-Sent Events -----------------------------------------------------------------------


def _json_data(model: type[BaseModel]) -> dict[str, Any]:
    return {"type": "string", "contentMediaType": "application/json",
            "contentSchema": _schema(model)}  # fmt: skip


_OPENAI_EVENT = {
    "type": "object",
    "description": "`data: <chat.completion.chunk JSON>` events, then `data: [DONE]`; an error "
    "after the stream started comes as `data: <error JSON>`",
    "required": ["data"],
    "properties": {
        "data": {
            "anyOf": [
                {"const": "[DONE]"},
                _json_data(ChatCompletionChunk),
                _json_data(OpenAIErrorBody),
            ]
        }
    },
}

ANTHROPIC_STREAM_EVENTS = (
    "message_start",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
    "ping",
    "error",
)

_ANTHROPIC_EVENT = {
    "type": "object",
    "description": "`event: <name>` + `data: <JSON object whose type is the name>`",
    "required": ["event", "data"],
    "properties": {
        "event": {"enum": list(ANTHROPIC_STREAM_EVENTS)},
        "data": _json_data(StreamEventData),
    },
}


# --- responses= of each route -----------------------------------------------------------------


def _errors(body: type[BaseModel], descriptions: dict[int, str]) -> dict[int | str, Any]:
    return {code: {"model": body, "description": text} for code, text in descriptions.items()}


_COMMON = {
    400: "Invalid request: malformed JSON, wrong types, a model without an API key",
    401: "Missing or invalid token",
    404: "Unknown or disabled model (or not visible to the caller)",
    413: "Request body too large",
    429: "Rate limited (see Retry-After), or on the OpenAI surface a spent budget or upstream "
    "quota (`insufficient_quota`)",
    502: "The upstream provider failed",
}

_OPENAI_ERRORS = _errors(
    OpenAIErrorBody,
    {
        **_COMMON,
        403: "Not allowed",
        503: "The upstream is overloaded, its circuit breaker is open, or no upstream connection "
        "was free (`upstream_connections_exhausted`)",
        504: "The upstream timed out",
    },
)

OPENAI_CHAT_RESPONSES: dict[int | str, Any] = {
    **_OPENAI_ERRORS,
    200: {
        "model": ChatCompletion,
        "description": "A chat.completion, or with `stream: true` Server-Sent Events",
        "content": {"text/event-stream": {"schema": _OPENAI_EVENT}},
    },
}

OPENAI_EMBEDDING_RESPONSES: dict[int | str, Any] = {
    **_OPENAI_ERRORS,
    200: {"model": EmbeddingList, "description": "The embeddings, in the order of `input`"},
}

OPENAI_MODELS_RESPONSES: dict[int | str, Any] = {
    200: {"model": ModelList, "description": "Enabled models the caller may use"},
    **_errors(OpenAIErrorBody, {401: "Missing or invalid token"}),
}

ANTHROPIC_MESSAGES_RESPONSES: dict[int | str, Any] = {
    **_errors(
        AnthropicErrorBody,
        {
            **_COMMON,
            401: "Missing or invalid token (Authorization: Bearer or x-api-key)",
            402: "Out of credit (`billing_error`): a spent budget, or the upstream's billing error",
            403: "Not allowed",
            503: "The upstream's circuit breaker is open, or no upstream connection was free",
            504: "The upstream timed out",
            529: "The upstream is overloaded",
        },
    ),
    200: {
        "model": AnthropicMessage,
        "description": "A message, or with `stream: true` Server-Sent Events",
        "content": {"text/event-stream": {"schema": _ANTHROPIC_EVENT}},
    },
}
