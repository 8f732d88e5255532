"""Ollama's native `/api/chat` (reference §5.3, §6.4). Its `/v1` endpoint is the OpenAI-compatible
adapter with the "ollama" profile (registry.py picks it when `options["api"] == "openai"`).

Wire facts this module relies on: `stream` defaults to true upstream, so it is always sent;
sampling parameters live under `options`; images are raw base64 strings on the message; tool
calls arrive whole, with arguments as an object and (in older builds) without ids, so ids are
made up as `call_<n>`; `done_reason` stays "stop" when tools were called; the last NDJSON line
(`done: true`) carries the usage; an error after the 200 is a line `{"error": "..."}`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, ClassVar

from modelreg.errors import (
    NotFoundError,
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
    parse_data_url,
    secret_headers,
    unexpected,
)
from modelreg.providers._fields import native_body, refuse, system_text, tool_text
from modelreg.providers._ndjson import iter_ndjson
from modelreg.providers.accumulate import ToolCallAssembler, fold_events
from modelreg.providers.base import HttpRequest, StreamFormat
from modelreg.types import (
    ChatRequest,
    ChatResponse,
    EmbeddingResponse,
    FinishEvent,
    FinishReason,
    Message,
    MetaEvent,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCall,
    Usage,
    UsageEvent,
)

__all__ = ["DONE_REASONS", "OllamaAdapter", "to_ollama_messages"]

DEFAULT_BASE_URL = "http://localhost:11434"

DONE_REASONS: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "load": "other",
    "unload": "other",
}

# request fields that belong at the top level; every other `extra` key is a model option
_TOP_LEVEL = frozenset({"format", "think", "keep_alive", "truncate", "logprobs", "top_logprobs"})


def _format(response_format: Any) -> str | dict[str, Any] | None:
    """OpenAI's `response_format` as Ollama's `format`: "json", or the JSON schema itself."""
    if not isinstance(response_format, dict):
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        return "json"
    if kind == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
        return schema if isinstance(schema, dict) else "json"
    return None


def _images(message: Message) -> list[str]:
    images: list[str] = []
    for part in message.images:
        data_url = parse_data_url(part.url)
        if data_url is None:
            raise ValidationFailedError(
                "Ollama takes images only as base64 data: URLs, not links", field="messages"
            )
        images.append(data_url[1])
    return images


def _arguments_object(call: ToolCall) -> dict[str, Any]:
    # invalid arguments were kept raw; Ollama wants an object, so `{}` is the fallback
    return {} if call.arguments_error else call.arguments


def _caller_fields(req: ChatRequest, model: ModelConfig, options: dict[str, Any]) -> dict[str, Any]:
    """Reasoning becomes `think` (Ollama's switch: no budget or level for most models);
    top_k is a sampling option; `user` has no place here and Ollama would ignore it
    (documented); service tiers and other surfaces' own fields are refused."""
    fields: dict[str, Any] = {}
    if req.reasoning_effort is not None:
        fields["think"] = req.reasoning_effort != "none"
    elif req.thinking_budget is not None:
        fields["think"] = True
    if req.top_k is not None:
        options["top_k"] = req.top_k
    if req.service_tier is not None:
        raise refuse(model, "service_tier", "Ollama has no service tiers")
    native_body(req, "ollama", model)  # raises for any caller-surface-only field
    return fields


def to_ollama_messages(messages: Sequence[Message]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    names_by_call_id: dict[str, str] = {}
    for m in messages:
        role = "system" if m.role == "developer" else m.role
        text = system_text(m) if role == "system" else tool_text(m) if role == "tool" else m.text
        item: dict[str, Any] = {"role": role, "content": text}
        if m.images:
            item["images"] = _images(m)
        if m.tool_calls:
            item["tool_calls"] = [
                {
                    "function": {
                        "name": c.name,
                        "arguments": {} if c.arguments_error else c.arguments,
                    }
                }
                for c in m.tool_calls
            ]
            names_by_call_id.update((c.id, c.name) for c in m.tool_calls)
        if m.role == "tool":
            # older builds match results by tool_name, newer ones also by tool_call_id
            name = m.name or names_by_call_id.get(m.tool_call_id or "")
            if name:
                item["tool_name"] = name
            if m.tool_call_id:
                item["tool_call_id"] = m.tool_call_id
        out.append(item)
    return out


def usage_from_ollama(final: Mapping[str, Any]) -> Usage:
    # counts may be missing (a fully cached prompt): default to 0
    return Usage(
        input_tokens=int(final.get("prompt_eval_count") or 0),
        output_tokens=int(final.get("eval_count") or 0),
    )


class _LineReader:
    """State of one native stream (also used to read a non-streamed body, which is one line)."""

    def __init__(self, model: ModelConfig) -> None:
        self.model = model
        self.tools = ToolCallAssembler()
        self.done = False
        self._meta_sent = False

    def handle(self, line: Any) -> list[StreamEvent]:
        if not isinstance(line, dict):
            raise unexpected(self.model, "Ollama sent a stream line that is not an object")
        if "error" in line:
            raise error_from_payload(line, self.model)
        events: list[StreamEvent] = []
        if not self._meta_sent:
            self._meta_sent = True
            events.append(MetaEvent(None, line.get("model")))
        message = line.get("message") or {}
        if isinstance(message.get("thinking"), str) and message["thinking"]:
            events.append(ReasoningDelta(message["thinking"]))
        if isinstance(message.get("content"), str) and message["content"]:
            events.append(TextDelta(message["content"]))
        for call in message.get("tool_calls") or ():
            events += self._tool_call(call)
        if line.get("done"):
            self.done = True
            events += self.tools.end_all()
            events.append(UsageEvent(usage_from_ollama(line)))
            raw = line.get("done_reason")
            reason = map_finish_reason(raw, DONE_REASONS, has_tool_calls=self.tools.count > 0)
            events.append(FinishEvent(reason, raw))
        return events

    def _tool_call(self, call: Any) -> list[StreamEvent]:
        """Calls come whole: start, one fragment with all arguments, end."""
        if not isinstance(call, dict):
            return []
        index = self.tools.count
        function = call.get("function") or {}
        events: list[StreamEvent] = [
            self.tools.start(
                index, str(call.get("id") or f"call_{index}"), function.get("name", "")
            )
        ]
        delta = self.tools.append(index, arguments_to_raw(function.get("arguments") or {}))
        events += [delta] if delta else []
        end = self.tools.end(index)
        events += [end] if end else []
        return events


class OllamaAdapter:
    name: ClassVar[str] = "ollama"
    stream_format: ClassVar[StreamFormat] = "ndjson"

    def _base(self, model: ModelConfig) -> str:
        base = (model.base_url or DEFAULT_BASE_URL).rstrip("/")
        # people paste the /api or /v1 URL; the native routes hang off the root
        for suffix in ("/api", "/v1"):
            base = base.removesuffix(suffix)
        return base

    def _headers(self, model: ModelConfig) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = model.api_key.reveal() if model.api_key is not None else ""
        if key and model.auth_type != "none":  # only ollama.com needs a key
            headers["Authorization"] = f"Bearer {key}"
        headers.update(secret_headers(model))
        return headers

    def build_body(self, req: ChatRequest, model: ModelConfig) -> dict[str, Any]:
        options: dict[str, Any] = dict(model.options.get("ollama_options") or {})
        temperature = req.temperature if req.temperature is not None else model.default_temperature
        if temperature is not None:
            options["temperature"] = temperature
        top_p = req.top_p if req.top_p is not None else model.default_top_p
        if top_p is not None:
            options["top_p"] = top_p
        max_tokens = req.max_tokens if req.max_tokens is not None else model.max_output_tokens
        if max_tokens is not None:
            options["num_predict"] = max_tokens
        if req.stop:
            options["stop"] = list(req.stop)
        if req.seed is not None:
            options["seed"] = req.seed
        body: dict[str, Any] = {
            "model": model.model_id,
            "messages": to_ollama_messages(req.messages),
            "stream": req.stream,  # upstream default is true: always say it
        }
        if req.tools:  # tool_choice and parallel_tool_calls do not exist here
            body["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description,
                        "parameters": t.parameters,
                    },
                }
                for t in req.tools
            ]
        for key, value in req.extra.items():
            if key == "response_format":  # OpenAI's structured output, from the gateway
                fmt = _format(value)
                if fmt is not None:
                    body["format"] = fmt
            elif key in _TOP_LEVEL:
                body[key] = value
            else:
                options[key] = value
        body.update(_caller_fields(req, model, options))
        if options:
            body["options"] = options
        return body

    def build_request(self, req: ChatRequest, model: ModelConfig) -> HttpRequest:
        body = dumps(self.build_body(req, model))
        return HttpRequest("POST", f"{self._base(model)}/api/chat", self._headers(model), body)

    def parse_response(self, body: bytes, model: ModelConfig) -> ChatResponse:
        reader = _LineReader(model)
        events = reader.handle(load_json(body, model))
        if not reader.done:
            raise unexpected(model, "Ollama sent an unfinished answer (`done` is not true)")
        return fold_events(events)

    async def parse_stream(
        self, chunks: AsyncIterator[bytes], model: ModelConfig
    ) -> AsyncIterator[StreamEvent]:
        reader = _LineReader(model)
        async for line in iter_ndjson(chunks, provider=model.provider, model=model.name):
            for event in reader.handle(line):
                yield event
            if reader.done:
                return
        raise StreamInterruptedError(
            "Ollama ended the stream before the final `done` line",
            provider=model.provider,
            model=model.name,
        )

    def map_error(
        self, status: int, headers: Mapping[str, str], body: bytes, model: ModelConfig
    ) -> ProviderStatusError:
        return error_from_status(status, headers, extract_error_info(body), model)

    def build_embeddings_request(self, inputs: Sequence[str], model: ModelConfig) -> HttpRequest:
        body: dict[str, Any] = {"model": model.model_id, "input": list(inputs)}
        if model.options.get("dimensions"):
            body["dimensions"] = model.options["dimensions"]
        return HttpRequest(
            "POST", f"{self._base(model)}/api/embed", self._headers(model), dumps(body)
        )

    def parse_embeddings(self, body: bytes, model: ModelConfig) -> EmbeddingResponse:
        payload = load_json(body, model)
        if isinstance(payload, dict) and "error" in payload:
            raise error_from_payload(payload, model)
        vectors = payload.get("embeddings") if isinstance(payload, dict) else None
        if not isinstance(vectors, list):
            raise unexpected(model, "Ollama sent embeddings without `embeddings`")
        try:
            parsed = tuple(tuple(float(x) for x in vector) for vector in vectors)
        except (TypeError, ValueError) as e:
            raise unexpected(model, f"Ollama sent malformed embeddings ({e})") from e
        return EmbeddingResponse(
            vectors=parsed,
            model=str(payload.get("model") or model.model_id),
            usage=Usage(input_tokens=int(payload.get("prompt_eval_count") or 0)),
        )

    def build_connection_test(self, model: ModelConfig) -> HttpRequest:
        headers = {k: v for k, v in self._headers(model).items() if k != "Content-Type"}
        return HttpRequest("GET", f"{self._base(model)}/api/tags", headers)

    def check_connection_response(self, body: bytes, model: ModelConfig) -> None:
        """The server answers; the model must also be pulled, or every chat will 404."""
        payload = load_json(body, model)
        models = payload.get("models") if isinstance(payload, dict) else None
        if not isinstance(models, list):
            raise unexpected(model, "Ollama's /api/tags answer has no `models` list")
        names: set[str] = set()
        for entry in models:
            if isinstance(entry, dict):
                names.update(str(entry[k]) for k in ("name", "model") if entry.get(k))
        wanted = model.model_id if ":" in model.model_id else f"{model.model_id}:latest"
        if model.model_id not in names and wanted not in names:
            raise NotFoundError(
                f"Ollama has no model {model.model_id!r} (pull it with `ollama pull`)",
                status=404,
                provider=model.provider,
                model=model.name,
            )
