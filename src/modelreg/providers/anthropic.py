"""Anthropic Messages API (reference §5.2, §6.3).

Translation rules worth knowing:
- system and developer messages leave `messages` and are joined into the top-level `system`;
- `max_tokens` is required: the request's, else the model's `max_output_tokens`, else
  `options["default_max_tokens"]`, else 4096;
- `temperature` is clamped into Anthropic's 0..1. The unified scale is OpenAI's 0..2; rejecting
  1.5 would make a fallback from an OpenAI model to a Claude model fail on a request that is
  valid for the first, so we clamp and log (docs/providers.md);
- tool results: consecutive `tool` messages become one user message of `tool_result` blocks,
  results first, followed by the text of a user message that comes right after;
- a stream's block `index` is a position in `content`, not a tool-call index: tool calls get
  their own counter.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from modelreg.errors import (
    ConfigError,
    ProviderStatusError,
    StreamInterruptedError,
    ValidationFailedError,
)
from modelreg.model_config import ModelConfig
from modelreg.providers._common import (
    arguments_to_raw,
    dumps,
    error_from_payload,
    error_from_status,
    extract_error_info,
    load_json,
    map_finish_reason,
    secret_headers,
    sse_events,
    unexpected,
)
from modelreg.providers.accumulate import ToolCallAssembler, fold_events
from modelreg.providers.anthropic_request import (
    DEFAULT_MAX_TOKENS,
    caller_fields,
    clamp_temperature,
    to_anthropic_messages,
    tool_choice,
    tool_json,
)
from modelreg.providers.base import HttpRequest, StreamFormat
from modelreg.types import (
    ChatRequest,
    ChatResponse,
    EmbeddingResponse,
    FinishEvent,
    FinishReason,
    MetaEvent,
    ReasoningDelta,
    ReasoningSignature,
    StreamEvent,
    TextDelta,
    Usage,
    UsageEvent,
)

__all__ = ["DEFAULT_MAX_TOKENS", "STOP_REASONS", "AnthropicAdapter", "to_anthropic_messages"]

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"

STOP_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    "pause_turn": "other",
}


# --- response side --------------------------------------------------------------------------


def usage_from_anthropic(usage: Mapping[str, Any]) -> Usage:
    """Anthropic's input_tokens excludes cached tokens; the total input is the sum of three."""
    cache_read = int(usage.get("cache_read_input_tokens") or 0)
    cache_write = int(usage.get("cache_creation_input_tokens") or 0)
    details = usage.get("output_tokens_details") or {}
    return Usage(
        input_tokens=int(usage.get("input_tokens") or 0) + cache_read + cache_write,
        output_tokens=int(usage.get("output_tokens") or 0),
        cached_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        reasoning_tokens=int(details.get("reasoning_tokens") or 0),
    )


@dataclass(slots=True)
class _Block:
    kind: str  # text | tool_use | thinking | other
    tool_index: int = -1
    signature: str = ""


class _EventReader:
    """State of one Anthropic stream."""

    def __init__(self, model: ModelConfig) -> None:
        self.model = model
        self.tools = ToolCallAssembler()
        self.blocks: dict[int, _Block] = {}
        self.usage_fields: dict[str, Any] = {}
        self.stop_reason: str | None = None
        self.stop_sequence: str | None = None
        self.stopped = False

    def handle(self, name: str, data: Mapping[str, Any]) -> list[StreamEvent]:
        if name == "message_start":
            message = data.get("message") or {}
            start_usage = message.get("usage") or {}
            self.usage_fields.update(start_usage)
            usage = usage_from_anthropic(start_usage) if start_usage else None
            return [MetaEvent(message.get("id"), message.get("model"), usage=usage)]
        if name == "content_block_start":
            return self.block_start(int(data.get("index", 0)), data.get("content_block") or {})
        if name == "content_block_delta":
            return self._block_delta(int(data.get("index", 0)), data.get("delta") or {})
        if name == "content_block_stop":
            block = self.blocks.get(int(data.get("index", 0)))
            if block is not None and block.kind == "tool_use":
                end = self.tools.end(block.tool_index)
                return [end] if end else []
            if block is not None and block.kind == "thinking":
                return [ReasoningSignature(block.signature)]
            return []
        if name == "message_delta":
            # counts here are cumulative: the last message_delta is the final word
            self.usage_fields.update(data.get("usage") or {})
            delta = data.get("delta") or {}
            self.stop_reason = delta.get("stop_reason") or self.stop_reason
            self.stop_sequence = _str_or_none(delta.get("stop_sequence")) or self.stop_sequence
            return []
        if name == "message_stop":
            self.stopped = True
            return self.finish()
        if name == "ping":
            return []
        log.warning("ignoring unknown Anthropic stream event %r", name)
        return []

    def block_start(self, index: int, block: Mapping[str, Any]) -> list[StreamEvent]:
        kind = str(block.get("type", "other"))
        if kind == "tool_use":
            tool_index = self.tools.count
            self.blocks[index] = _Block(kind, tool_index)
            events: list[StreamEvent] = [
                self.tools.start(tool_index, str(block.get("id", "")), str(block.get("name", "")))
            ]
            # normally `{}` with the real input streamed as input_json_delta
            if block.get("input"):
                delta = self.tools.append(tool_index, arguments_to_raw(block["input"]))
                events += [delta] if delta else []
            return events
        self.blocks[index] = _Block(kind if kind in ("text", "thinking") else "other")
        if kind == "text" and block.get("text"):
            return [TextDelta(str(block["text"]))]
        if kind == "thinking":
            self.blocks[index].signature = str(block.get("signature") or "")
            return [ReasoningDelta(str(block["thinking"]))] if block.get("thinking") else []
        if kind == "redacted_thinking":
            return [ReasoningSignature(redacted_data=str(block.get("data", "")))]
        return []

    def _block_delta(self, index: int, delta: Mapping[str, Any]) -> list[StreamEvent]:
        kind = delta.get("type")
        if kind == "text_delta":
            return [TextDelta(str(delta.get("text", "")))]
        if kind == "thinking_delta":
            return [ReasoningDelta(str(delta.get("thinking", "")))]
        if kind == "input_json_delta":
            block = self.blocks.get(index)
            if block is None or block.kind != "tool_use":
                raise unexpected(self.model, "Anthropic sent tool input for a non-tool block")
            event = self.tools.append(block.tool_index, str(delta.get("partial_json", "")))
            return [event] if event else []
        if kind == "signature_delta":
            block = self.blocks.get(index)
            if block is not None:
                block.signature += str(delta.get("signature", ""))
            return []
        # citations_delta ...: nothing the unified stream carries
        return []

    def finish(self) -> list[StreamEvent]:
        events: list[StreamEvent] = list(self.tools.end_all())
        if self.usage_fields:
            events.append(UsageEvent(usage_from_anthropic(self.usage_fields)))
        reason = map_finish_reason(
            self.stop_reason, STOP_REASONS, has_tool_calls=self.tools.count > 0
        )
        events.append(FinishEvent(reason, self.stop_reason, self.stop_sequence))
        return events


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


# --- the adapter -----------------------------------------------------------------------------


class AnthropicAdapter:
    name: ClassVar[str] = "anthropic"
    stream_format: ClassVar[StreamFormat] = "sse"

    def _api_root(self, model: ModelConfig) -> str:
        base = (model.base_url or DEFAULT_BASE_URL).rstrip("/")
        return base if base.endswith("/v1") else f"{base}/v1"

    def _headers(self, model: ModelConfig) -> dict[str, str]:
        headers = {
            "anthropic-version": str(model.options.get("anthropic_version", API_VERSION)),
            "Accept": "application/json",
        }
        if model.options.get("anthropic_beta"):
            headers["anthropic-beta"] = str(model.options["anthropic_beta"])
        key = model.api_key.reveal() if model.api_key is not None else ""
        if key and model.auth_type != "none":
            # x-api-key is Anthropic's scheme whatever auth_type says; OAuth tokens opt in
            if model.options.get("auth_header") == "bearer":
                headers["Authorization"] = f"Bearer {key}"
            else:
                headers["x-api-key"] = key
        headers.update(secret_headers(model))
        return headers

    # the pass-through's base (gateway/passthrough_anthropic.py): it sends its own bodies
    def messages_url(self, model: ModelConfig) -> str:
        return f"{self._api_root(model)}/messages"

    def request_headers(self, model: ModelConfig) -> dict[str, str]:
        """Version, beta, Accept and the model's credentials, as every request sends them."""
        return self._headers(model)

    def build_body(self, req: ChatRequest, model: ModelConfig) -> dict[str, Any]:
        system, messages = to_anthropic_messages(req.messages)
        max_tokens = (
            req.max_tokens
            or model.max_output_tokens
            or int(model.options.get("default_max_tokens") or DEFAULT_MAX_TOKENS)
        )
        body: dict[str, Any] = {
            "model": model.model_id,
            "max_tokens": max_tokens,
            "messages": messages,
        }
        if system:
            body["system"] = system
        temperature = req.temperature if req.temperature is not None else model.default_temperature
        if temperature is not None:
            body["temperature"] = clamp_temperature(temperature, model)
        top_p = req.top_p if req.top_p is not None else model.default_top_p
        if top_p is not None:
            body["top_p"] = top_p
        if req.stop:
            body["stop_sequences"] = list(req.stop)
        if req.tools:
            body["tools"] = [tool_json(t) for t in req.tools]
            choice = tool_choice(req.tool_choice, req.parallel_tool_calls)
            if choice is not None:
                body["tool_choice"] = choice
        if req.stream:
            body["stream"] = True
        extra = dict(req.extra)
        if extra.pop("response_format", None) is not None:
            # OpenAI's structured output has no equivalent in the Messages API we speak;
            # answering without it would hand `.parse()` callers unchecked text
            raise ValidationFailedError(
                f"{model.name}: response_format (JSON mode / structured output) is not "
                "supported for Anthropic models; ask for JSON in the prompt instead",
                field="response_format",
            )
        body.update(caller_fields(req, model, body["max_tokens"], set_max=req.max_tokens is None))
        body.update(extra)
        return body

    def build_request(self, req: ChatRequest, model: ModelConfig) -> HttpRequest:
        headers = {"Content-Type": "application/json", **self._headers(model)}
        beta = req.native.headers.get("anthropic-beta") if req.native else None
        if beta and req.native is not None and req.native.family == "anthropic":
            # the caller's betas, after the model's own
            headers["anthropic-beta"] = ",".join(
                b for b in (headers.get("anthropic-beta"), beta) if b
            )
        if req.stream:
            headers["Accept"] = "text/event-stream"
        body = dumps(self.build_body(req, model))
        return HttpRequest("POST", f"{self._api_root(model)}/messages", headers, body)

    def parse_response(self, body: bytes, model: ModelConfig) -> ChatResponse:
        payload = load_json(body, model)
        if not isinstance(payload, dict):
            raise unexpected(model, "Anthropic sent a response that is not an object")
        if payload.get("type") == "error" or payload.get("error"):
            raise error_from_payload(payload, model)
        content = payload.get("content")
        if not isinstance(content, list):
            raise unexpected(model, "Anthropic sent a message without `content`")
        reader = _EventReader(model)
        events: list[StreamEvent] = [MetaEvent(payload.get("id"), payload.get("model"))]
        for index, block in enumerate(content):
            if not isinstance(block, dict):
                continue
            if block.get("type") == "tool_use":
                block = {**block, "input": block.get("input") or {}}
            events += reader.block_start(index, block)
            events += reader.handle("content_block_stop", {"index": index})
        reader.usage_fields.update(payload.get("usage") or {})
        reader.stop_reason = payload.get("stop_reason")
        reader.stop_sequence = _str_or_none(payload.get("stop_sequence"))
        events += reader.finish()
        return fold_events(events)

    async def parse_stream(
        self, chunks: AsyncIterator[bytes], model: ModelConfig
    ) -> AsyncIterator[StreamEvent]:
        reader = _EventReader(model)
        async for sse in sse_events(chunks, model):
            if not sse.data.strip():
                continue
            payload = load_json(sse.data.encode(), model, "stream event")
            if not isinstance(payload, dict):
                raise unexpected(model, "Anthropic sent a stream event that is not an object")
            name = sse.event or str(payload.get("type", ""))
            if name == "error":
                raise error_from_payload(payload, model)
            for event in reader.handle(name, payload):
                yield event
            if reader.stopped:
                return
        raise StreamInterruptedError(
            "Anthropic ended the stream before message_stop",
            provider=model.provider,
            model=model.name,
        )

    def map_error(
        self, status: int, headers: Mapping[str, str], body: bytes, model: ModelConfig
    ) -> ProviderStatusError:
        return error_from_status(status, headers, extract_error_info(body), model)

    def build_embeddings_request(self, inputs: Sequence[str], model: ModelConfig) -> HttpRequest:
        raise ConfigError("Anthropic has no embeddings API; register an embedding model instead")

    def parse_embeddings(self, body: bytes, model: ModelConfig) -> EmbeddingResponse:
        raise ConfigError("Anthropic has no embeddings API")

    def build_connection_test(self, model: ModelConfig) -> HttpRequest:
        return HttpRequest("GET", f"{self._api_root(model)}/models?limit=1", self._headers(model))

    def check_connection_response(self, body: bytes, model: ModelConfig) -> None:
        """A 200 from GET /v1/models proves the key; the list is paginated, so the model is
        not looked up in it (a wrong model id shows on the first chat as a 404)."""
