"""OpenAI Chat Completions, and every server that speaks it.

OpenAI, vLLM, LM Studio, Groq, Mistral, DeepSeek, OpenRouter, Together, Gemini's compatible
endpoint, Ollama's /v1 and custom servers differ in a handful of facts (the max-tokens field,
whether `developer` is a role, whether `stream_options` is accepted ...). Those facts are an
`OpenAIProfile`; the adapter is one class configured by it. Azure and Hugging Face subclass it
and override only URLs, auth and error quirks (azure.py, huggingface.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, ClassVar

from modelreg.errors import NotFoundError, ProviderStatusError, StreamInterruptedError
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
from modelreg.providers.base import HttpRequest, StreamFormat
from modelreg.providers.openai_profiles import PROFILES, OpenAIProfile
from modelreg.providers.openai_request import (
    caller_fields,
    to_openai_messages,
    tool_choice,
    tool_json,
)
from modelreg.types import (
    ChatRequest,
    ChatResponse,
    EmbeddingResponse,
    FinishEvent,
    FinishReason,
    MetaEvent,
    ReasoningDelta,
    RefusalDelta,
    StreamEvent,
    TextDelta,
    Usage,
    UsageEvent,
)

__all__ = [
    "FINISH_REASONS",
    "PROFILES",
    "OpenAICompatAdapter",
    "OpenAIProfile",
    "to_openai_messages",
    "usage_from_openai",
]


FINISH_REASONS: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",  # legacy functions API
    "content_filter": "content_filter",
    "model_length": "length",  # Mistral
    "error": "error",  # Mistral, OpenRouter
    "stop_sequence": "stop",  # TGI does not normalise it
    "eos_token": "stop",  # older TGI
    "eos": "stop",
}


# --- response side --------------------------------------------------------------------------


def usage_from_openai(usage: Mapping[str, Any]) -> Usage:
    prompt = usage.get("prompt_tokens_details") or {}
    completion = usage.get("completion_tokens_details") or {}
    cached = prompt.get("cached_tokens") or usage.get("prompt_cache_hit_tokens") or 0  # DeepSeek
    return Usage(
        input_tokens=int(usage.get("prompt_tokens") or 0),
        output_tokens=int(usage.get("completion_tokens") or 0),
        cached_read_tokens=int(cached),
        cache_write_tokens=int(prompt.get("cache_write_tokens") or 0),
        reasoning_tokens=int(completion.get("reasoning_tokens") or 0),
    )


def _content_events(content: Any) -> list[StreamEvent]:
    """Text of a message or delta. Mistral's reasoning models send a list of typed chunks."""
    if isinstance(content, str):
        return [TextDelta(content)] if content else []
    events: list[StreamEvent] = []
    if isinstance(content, list):
        for part in content:
            if not isinstance(part, dict):
                continue
            if part.get("type") == "text" and part.get("text"):
                events.append(TextDelta(str(part["text"])))
            elif part.get("type") == "thinking":
                inner = part.get("thinking")
                texts = inner if isinstance(inner, list) else [{"text": inner}]
                for t in texts:
                    if isinstance(t, dict) and t.get("text"):
                        events.append(ReasoningDelta(str(t["text"])))
    return events


def _reasoning_events(obj: Mapping[str, Any]) -> list[StreamEvent]:
    text = obj.get("reasoning_content") or obj.get("reasoning")
    return [ReasoningDelta(text)] if isinstance(text, str) and text else []


class _ChunkReader:
    """State of one OpenAI-style stream: folds chunks into unified events."""

    def __init__(self) -> None:
        self.tools = ToolCallAssembler()
        self.raw_finish: str | None = None
        self.usage: Usage | None = None
        self._meta_sent = False
        self._index_by_id: dict[str, int] = {}
        self._id_by_index: dict[int, str] = {}
        self._last_index = 0

    def handle(self, chunk: Mapping[str, Any]) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        if not self._meta_sent:
            self._meta_sent = True
            events.append(MetaEvent(response_id=chunk.get("id"), model=chunk.get("model")))
        usage = chunk.get("usage") or (chunk.get("x_groq") or {}).get("usage")
        if isinstance(usage, dict):
            self.usage = usage_from_openai(usage)
        # guard every choices[0]: Azure's first chunk and the usage chunk have none
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            events += _reasoning_events(delta)
            events += _content_events(delta.get("content"))
            if isinstance(delta.get("refusal"), str) and delta["refusal"]:
                events.append(RefusalDelta(delta["refusal"]))
            for call in delta.get("tool_calls") or ():
                if isinstance(call, dict):
                    events += self._tool_fragment(call)
            if choice.get("finish_reason"):
                self.raw_finish = str(choice["finish_reason"])
        return events

    def _resolve_index(self, call: Mapping[str, Any]) -> int:
        """Index of a fragment. Most servers send `index`; a few omit it or reuse 0 for calls
        with distinct ids, so the id decides when it disagrees."""
        call_id = call.get("id")
        if call_id and call_id in self._index_by_id:
            return self._index_by_id[call_id]
        index = call.get("index")
        known_id = self._id_by_index.get(index) if isinstance(index, int) else None
        if not isinstance(index, int) or (call_id and known_id and known_id != call_id):
            if call_id or not self.tools.count:
                index = max(self._id_by_index, default=-1) + 1
            else:
                index = self._last_index
        if call_id:
            self._index_by_id[call_id] = index
            self._id_by_index[index] = call_id
        self._last_index = index
        return index

    def _tool_fragment(self, call: Mapping[str, Any]) -> list[StreamEvent]:
        index = self._resolve_index(call)
        function = call.get("function") or {}
        name = function.get("name") or ""
        events: list[StreamEvent] = []
        if not self.tools.started(index):
            self._id_by_index.setdefault(index, call.get("id") or f"call_{index}")
            events.append(self.tools.start(index, self._id_by_index[index], name))
        elif name:
            self.tools.set_name(index, name)
        arguments = function.get("arguments")
        if arguments is not None:
            delta = self.tools.append(index, arguments_to_raw(arguments))
            if delta is not None:
                events.append(delta)
        return events

    def finish(self) -> list[StreamEvent]:
        events: list[StreamEvent] = list(self.tools.end_all())
        if self.usage is not None:
            events.append(UsageEvent(self.usage))
        reason = map_finish_reason(
            self.raw_finish, FINISH_REASONS, has_tool_calls=self.tools.count > 0
        )
        events.append(FinishEvent(reason=reason, raw_reason=self.raw_finish))
        return events


# --- the adapter -----------------------------------------------------------------------------


class OpenAICompatAdapter:
    name: ClassVar[str] = "openai_compat"
    stream_format: ClassVar[StreamFormat] = "sse"

    def __init__(self, profile: OpenAIProfile) -> None:
        self.profile = profile

    # hooks that Azure and Hugging Face override ------------------------------------------

    def base_url(self, model: ModelConfig) -> str:
        return (model.base_url or self.profile.default_base_url).rstrip("/")

    def chat_url(self, model: ModelConfig) -> str:
        return f"{self.base_url(model)}/chat/completions"

    def embeddings_url(self, model: ModelConfig) -> str:
        return f"{self.base_url(model)}/embeddings"

    def auth_headers(self, model: ModelConfig) -> dict[str, str]:
        headers: dict[str, str] = {}
        key = model.api_key.reveal() if model.api_key is not None else ""
        if key and model.auth_type == "bearer":
            headers["Authorization"] = f"Bearer {key}"
        elif key and model.auth_type == "api_key":
            headers[str(model.options.get("api_key_header", "api-key"))] = key
        headers.update(secret_headers(model))
        return headers

    def _post(self, url: str, body: dict[str, Any], model: ModelConfig) -> HttpRequest:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        headers.update(self.auth_headers(model))
        return HttpRequest("POST", url, headers, dumps(body))

    # chat --------------------------------------------------------------------------------

    def max_tokens_field(self, model: ModelConfig) -> str:
        return str(model.options.get("max_tokens_field", self.profile.max_tokens_field))

    def build_body(self, req: ChatRequest, model: ModelConfig) -> dict[str, Any]:
        p = self.profile
        body: dict[str, Any] = {
            "model": model.model_id,
            "messages": to_openai_messages(req.messages, developer_role=p.developer_role),
        }
        temperature = req.temperature if req.temperature is not None else model.default_temperature
        if temperature is not None:
            body["temperature"] = temperature
        top_p = req.top_p if req.top_p is not None else model.default_top_p
        if top_p is not None:
            body["top_p"] = top_p
        max_tokens = req.max_tokens if req.max_tokens is not None else model.max_output_tokens
        if max_tokens is not None:
            body[self.max_tokens_field(model)] = max_tokens
        if req.stop:
            body["stop"] = list(req.stop)  # always a list: TGI takes nothing else
        if req.seed is not None:
            body[p.seed_field] = req.seed
        if req.tools:
            body["tools"] = [tool_json(t) for t in req.tools]
            if req.tool_choice is not None and p.tool_choice:
                body["tool_choice"] = tool_choice(req.tool_choice)
            if req.parallel_tool_calls is not None:
                body["parallel_tool_calls"] = req.parallel_tool_calls
        if req.stream:
            body["stream"] = True
            if p.include_usage and model.options.get("include_usage", True):
                body["stream_options"] = {"include_usage": True}
        body.update(caller_fields(req, p, model))
        extra_body = model.options.get("extra_body")
        if isinstance(extra_body, dict):
            body.update(extra_body)
        body.update(req.extra)
        return body

    def build_request(self, req: ChatRequest, model: ModelConfig) -> HttpRequest:
        request = self._post(self.chat_url(model), self.build_body(req, model), model)
        if req.stream:
            request.headers["Accept"] = "text/event-stream"
        return request

    def parse_response(self, body: bytes, model: ModelConfig) -> ChatResponse:
        payload = load_json(body, model)
        if isinstance(payload, dict) and payload.get("error"):
            raise error_from_payload(payload, model)  # a 200 that is an error
        choices = payload.get("choices") if isinstance(payload, dict) else None
        if not isinstance(choices, list):
            raise unexpected(model, f"{model.provider} sent a response without `choices`")
        if not choices or not isinstance(choices[0], dict):
            raise unexpected(model, f"{model.provider} sent a response with no choices")
        choice = choices[0]
        message = choice.get("message") or {}
        events: list[StreamEvent] = [MetaEvent(payload.get("id"), payload.get("model"))]
        events += _reasoning_events(message)
        events += _content_events(message.get("content"))
        if isinstance(message.get("refusal"), str) and message["refusal"]:
            events.append(RefusalDelta(message["refusal"]))
        tools = ToolCallAssembler()
        for i, call in enumerate(message.get("tool_calls") or ()):
            function = call.get("function") or {}
            events.append(tools.start(i, call.get("id") or f"call_{i}", function.get("name", "")))
            fragment = tools.append(i, arguments_to_raw(function.get("arguments") or ""))
            events += [fragment] if fragment else []
        events += tools.end_all()
        if isinstance(payload.get("usage"), dict):
            events.append(UsageEvent(usage_from_openai(payload["usage"])))
        raw = choice.get("finish_reason")
        reason = map_finish_reason(raw, FINISH_REASONS, has_tool_calls=tools.count > 0)
        events.append(FinishEvent(reason, raw))
        return fold_events(events)

    async def parse_stream(
        self, chunks: AsyncIterator[bytes], model: ModelConfig
    ) -> AsyncIterator[StreamEvent]:
        reader = _ChunkReader()
        done = False
        async for sse in sse_events(chunks, model):
            data = sse.data.strip()
            if data == "[DONE]":
                done = True
                break
            if not data:
                continue
            payload = load_json(data.encode(), model, "stream chunk")
            if not isinstance(payload, dict):
                raise unexpected(model, f"{model.provider} sent a stream chunk that is no object")
            if payload.get("error") or sse.event == "error":
                raise error_from_payload(payload, model)
            for event in reader.handle(payload):
                yield event
        if not done and reader.raw_finish is None:
            raise StreamInterruptedError(
                f"{model.provider} ended the stream before the answer was complete",
                provider=model.provider,
                model=model.name,
            )
        for event in reader.finish():
            yield event

    def map_error(
        self, status: int, headers: Mapping[str, str], body: bytes, model: ModelConfig
    ) -> ProviderStatusError:
        return error_from_status(status, headers, extract_error_info(body), model)

    # embeddings and connection test ------------------------------------------------------

    def build_embeddings_request(self, inputs: Sequence[str], model: ModelConfig) -> HttpRequest:
        body: dict[str, Any] = {
            "model": model.model_id,
            "input": list(inputs),
            "encoding_format": "float",
        }
        if model.options.get("dimensions"):
            body["dimensions"] = model.options["dimensions"]
        return self._post(self.embeddings_url(model), body, model)

    def parse_embeddings(self, body: bytes, model: ModelConfig) -> EmbeddingResponse:
        payload = load_json(body, model)
        if isinstance(payload, dict) and payload.get("error"):
            raise error_from_payload(payload, model)
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, list):
            raise unexpected(model, f"{model.provider} sent embeddings without `data`")
        try:
            rows = sorted(data, key=lambda row: int(row.get("index", 0)))
            vectors = tuple(tuple(float(x) for x in row["embedding"]) for row in rows)
        except (AttributeError, KeyError, TypeError, ValueError) as e:
            raise unexpected(model, f"{model.provider} sent malformed embeddings ({e})") from e
        usage = payload.get("usage") or {}
        return EmbeddingResponse(
            vectors=vectors,
            model=str(payload.get("model") or model.model_id),
            usage=Usage(input_tokens=int(usage.get("prompt_tokens") or 0)),
        )

    def build_connection_test(self, model: ModelConfig) -> HttpRequest:
        headers = {"Accept": "application/json", **self.auth_headers(model)}
        return HttpRequest("GET", f"{self.base_url(model)}/models", headers)

    def check_connection_response(self, body: bytes, model: ModelConfig) -> None:
        """A 200 from GET /models proves the key; on servers that list exactly what they
        serve, the model must be among them too."""
        if not self.profile.verify_model_listed:
            return
        payload = load_json(body, model)
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, list):
            return  # a server without the list shape: reachability is all we can tell
        ids = {str(row.get("id")) for row in data if isinstance(row, dict)}
        # Ollama lists `name:tag`; a bare name means the `latest` tag
        if model.model_id not in ids and f"{model.model_id}:latest" not in ids:
            raise NotFoundError(
                f"{model.provider} does not list the model {model.model_id!r}",
                status=404,
                provider=model.provider,
                model=model.name,
            )
