"""The OpenAI format in the byte pass-through (gateway/passthrough.py): chat completions to an
OpenAI-compatible upstream.

The body gets the upstream's model id, the model's default temperature / top_p / max tokens
where the caller gave none, and `stream_options.include_usage` so the usage can be recorded.
The SSE stream is looked at only where an event contains `"usage"`; it ends with
`data: [DONE]`. When the caller did not ask for usage, the usage-only chunk we asked for
(empty `choices`) is left out so strict clients never see it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import orjson

from modelreg.client.scrub import credential_bytes, scrub_credentials
from modelreg.gateway.passthrough import Forward, RelayOutcome, data_json, event_ends, not_an_answer
from modelreg.model_config import ModelConfig
from modelreg.providers.base import HttpRequest
from modelreg.providers.lookup import get_adapter
from modelreg.providers.openai_compat import OpenAICompatAdapter
from modelreg.types import Usage

__all__ = ["OpenAIWire", "openai_request", "passthrough_adapter", "usage_of"]

_DONE: Final = b"data: [DONE]"


def passthrough_adapter(model: ModelConfig) -> OpenAICompatAdapter | None:
    """The adapter to forward OpenAI-format requests through, or None when the request must
    be translated."""
    if model.fallback_model_ids:
        return None
    adapter = get_adapter(model)
    return adapter if isinstance(adapter, OpenAICompatAdapter) else None


def usage_of(data: Any) -> Usage | None:
    usage = data.get("usage") if isinstance(data, dict) else None
    if not isinstance(usage, dict):
        return None
    prompt = usage.get("prompt_tokens") or 0
    completion = usage.get("completion_tokens") or 0
    details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    return Usage(
        # prompt_tokens includes the cached ones (unlike Anthropic's input_tokens)
        input_tokens=int(prompt),
        output_tokens=int(completion),
        cached_read_tokens=int(details.get("cached_tokens") or 0),
        reasoning_tokens=int(completion_details.get("reasoning_tokens") or 0),
    )


@dataclass(frozen=True, slots=True)
class _Target:
    """What a model's upstream requests share: URL and headers, built once per ModelConfig
    (the registry's cache hands out the same object until the model changes)."""

    model: ModelConfig  # keeps the object alive, so its id() stays unique while cached
    url: str
    json_headers: dict[str, str]
    sse_headers: dict[str, str]
    secrets: tuple[bytes, ...]


_targets: dict[int, _Target] = {}
_MAX_TARGETS = 4096


def _target(adapter: OpenAICompatAdapter, model: ModelConfig) -> _Target:
    target = _targets.get(id(model))
    if target is not None and target.model is model:
        return target
    auth = adapter.auth_headers(model)
    target = _Target(
        model,
        adapter.chat_url(model),
        {"Content-Type": "application/json", "Accept": "application/json", **auth},
        {"Content-Type": "application/json", "Accept": "text/event-stream", **auth},
        credential_bytes(model),
    )
    if len(_targets) >= _MAX_TARGETS:
        _targets.clear()  # stale models (changed, or cached per user) are dropped wholesale
    _targets[id(model)] = target
    return target


def openai_request(
    adapter: OpenAICompatAdapter, model: ModelConfig, data: dict[str, Any], stream: bool
) -> tuple[HttpRequest, OpenAIWire, tuple[bytes, ...]]:
    """The upstream request, the wire that reads its answer, and the secrets to mask."""
    body = dict(data)
    body["model"] = model.model_id
    if model.default_temperature is not None and body.get("temperature") is None:
        body["temperature"] = model.default_temperature
    if model.default_top_p is not None and body.get("top_p") is None:
        body["top_p"] = model.default_top_p
    if (
        model.max_output_tokens is not None
        and body.get("max_tokens") is None
        and body.get("max_completion_tokens") is None
    ):
        body[adapter.max_tokens_field(model)] = model.max_output_tokens
    added_usage = False
    if stream and adapter.profile.include_usage and model.options.get("include_usage", True):
        options = body.get("stream_options") or {}
        if not options.get("include_usage"):
            body["stream_options"] = {**options, "include_usage": True}
            added_usage = True
    extra_body = model.options.get("extra_body")
    if isinstance(extra_body, dict):
        for key, value in extra_body.items():
            body.setdefault(key, value)
    target = _target(adapter, model)
    headers = target.sse_headers if stream else target.json_headers
    http = HttpRequest("POST", target.url, headers, orjson.dumps(body))
    return http, OpenAIWire(added_usage), target.secrets


def _has_usage_object(block: bytes, start: int, end: int) -> bool:
    """Whether the event holds a `"usage"` that is not null (OpenAI sends `"usage":null` in
    every chunk of a stream that asked for usage; only the last one carries the numbers)."""
    at = block.find(b'"usage"', start, end)
    while at != -1:
        value = block[at + 7 : at + 40].lstrip()
        if not value.startswith(b":") or not value[1:].lstrip().startswith(b"null"):
            return True
        at = block.find(b'"usage"', at + 7, end)
    return False


class OpenAIWire:
    __slots__ = ("added_usage",)
    answer_noun = "a chat completion"

    def __init__(self, added_usage: bool) -> None:
        self.added_usage = added_usage  # we asked for the usage chunk, the caller did not

    def scan(self, block: bytes, outcome: RelayOutcome) -> bytes:
        """All events, except the usage-only chunk that only we asked for."""
        kept: list[bytes] = []
        run = 0  # start of the events not yet copied into `kept`
        events = 0
        for start, end in event_ends(block):
            events += 1
            if block.startswith(_DONE, start):
                outcome.complete = True
            elif _has_usage_object(block, start, end):
                data = data_json(block[start:end])
                usage = usage_of(data)
                if usage is not None:
                    outcome.usage = usage
                    outcome.usage_final = True
                    if self.added_usage and not data.get("choices"):
                        kept.append(block[run:start])
                        run = end
        outcome.events += events
        if run == 0:
            return block
        kept.append(block[run:])
        return b"".join(kept)

    def check_answer(
        self, data: Any, body: bytes, forward: Forward, model: ModelConfig
    ) -> Usage | None:
        if not isinstance(data, dict) or "choices" not in data:
            if isinstance(data, dict) and data.get("error"):
                error = get_adapter(model).map_error(502, forward.raw.response.headers, body, model)
                raise scrub_credentials(error, model)
            raise not_an_answer(model, body, self.answer_noun)
        return usage_of(data)
