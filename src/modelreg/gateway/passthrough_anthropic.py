"""The Anthropic Messages format in the byte pass-through (gateway/passthrough.py): a
`/v1/messages` request to a model whose adapter is the Anthropic one.

The body gets the upstream's model id and the model's defaults where the caller gave none
(`max_tokens`, which the API requires, `temperature` clamped into 0..1, `top_p`); everything
else — system blocks and `cache_control`, `thinking`, `metadata`, `top_k`, `service_tier`,
server tools, fields we do not know yet — goes as it came.

Headers: the caller's `anthropic-version` wins over the model's option `anthropic_version`
(else 2023-06-01); `anthropic-beta` is the caller's list followed by the model's option
`anthropic_beta` entries the caller did not name (so a model can switch a beta on for every
caller, and a caller can add its own). The caller's own credentials (our token, in
`x-api-key` or `Authorization`) never go upstream: the model's key does.

The stream has no `[DONE]`: it ends with `event: message_stop`. The usage comes in two
places: `message_start.message.usage` (input tokens and the two cache counts) and
`message_delta.usage` (output tokens, cumulative; newer API versions repeat the input counts
there). Anthropic's `input_tokens` excludes the cached tokens; the booked input is the sum of
the three (`usage_from_anthropic`). A JSON answer is a `{"type": "message"}`; a
`{"type": "error"}` with a 200 is the upstream's error. An `error` event mid-stream (e.g.
`overloaded_error`) is passed on as the upstream sent it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import orjson

from modelreg.actor import Actor
from modelreg.client.scrub import credential_bytes, scrub_credentials
from modelreg.errors import UnknownModelError
from modelreg.experiments.routing import anthropic_key, resolve_model
from modelreg.gateway.anthropic_wire import parse_messages_request
from modelreg.gateway.errors import GatewayRequestError
from modelreg.gateway.passthrough import Forward, RelayOutcome, data_json, event_ends, not_an_answer
from modelreg.gateway.tool_choice import check_named_tool
from modelreg.model_config import ModelConfig
from modelreg.providers._common import error_from_payload
from modelreg.providers.anthropic import (
    API_VERSION,
    DEFAULT_MAX_TOKENS,
    AnthropicAdapter,
    usage_from_anthropic,
)
from modelreg.providers.base import HttpRequest
from modelreg.providers.lookup import get_adapter
from modelreg.services import Services
from modelreg.types import Usage

__all__ = [
    "AnthropicWire",
    "MessagesTarget",
    "anthropic_passthrough_adapter",
    "anthropic_request",
    "merge_betas",
    "passthrough_target",
    "precheck",
    "resolve_target",
]


@dataclass(frozen=True, slots=True)
class MessagesTarget:
    model: str
    stream: bool


async def resolve_target(services: Services, actor: Actor, data: Any, name: str) -> ModelConfig:
    """The model the body names (cached; nothing counted yet). For a name the caller cannot
    use, an invalid body is still a 400 first, as on the translated path."""
    try:
        return await resolve_model(services, actor, name, anthropic_key(data))  # or an A/B arm
    except UnknownModelError:
        parse_messages_request(data)
        raise


def precheck(data: dict[str, Any]) -> None:
    """The 400s the translated path gives before any upstream call (gateway/anthropic_wire.py),
    in the same words: missing or empty turns (Anthropic's own), a tool_choice naming a tool
    not offered. A loop over the turns, not a validation of the body, which the upstream does;
    shapes it does not expect are left to the upstream."""
    choice = data.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "tool":
        tools = data.get("tools")
        offered = (
            [t.get("name") for t in tools if isinstance(t, dict)] if isinstance(tools, list) else []
        )
        name = choice.get("name")
        check_named_tool(
            name if isinstance(name, str) else None, (n for n in offered if isinstance(n, str))
        )
    messages = data.get("messages")
    if messages is None or messages == []:
        raise GatewayRequestError("messages: at least one message is required", param="messages")
    if not isinstance(messages, list):
        return
    last = len(messages) - 1
    for i, turn in enumerate(messages):
        if not isinstance(turn, dict):
            return
        content = turn.get("content")
        if not content and not (i == last and turn.get("role") == "assistant"):
            raise GatewayRequestError(
                f"messages.{i}: all messages must have non-empty content except for the "
                "optional final assistant message",
                param=f"messages.{i}.content",
            )
        for j, block in enumerate(content if isinstance(content, list) else ()):
            if isinstance(block, dict) and block.get("type") == "text" and not block.get("text"):
                raise GatewayRequestError(
                    f"messages.{i}.content.{j}.text: text content blocks must be non-empty",
                    param=f"messages.{i}.content.{j}.text",
                )


def passthrough_target(data: Any) -> MessagesTarget | None:
    """The model a Messages body names and whether it asks for a stream, read without
    validating the rest: for the pass-through the upstream validates (and answers new fields
    and block types we do not know yet); None for a body that names no model, or whose
    `stream` is not a boolean (the translated path's full check answers those)."""
    if not isinstance(data, dict):
        return None
    model = data.get("model")
    stream = data.get("stream", False)
    if not isinstance(model, str) or not model or not (stream is None or isinstance(stream, bool)):
        return None
    return MessagesTarget(model, bool(stream))


def anthropic_passthrough_adapter(model: ModelConfig) -> AnthropicAdapter | None:
    """The adapter to forward Messages requests through, or None when the request must be
    translated (another format upstream, or a fallback chain)."""
    if model.fallback_model_ids:
        return None
    adapter = get_adapter(model)
    return adapter if isinstance(adapter, AnthropicAdapter) else None


def merge_betas(caller: str | None, model: str | None) -> str | None:
    """The caller's betas, then the model's the caller did not name; None when neither."""
    names: list[str] = []
    for source in (caller, model):
        for name in (source or "").split(","):
            name = name.strip()
            if name and name not in names:
                names.append(name)
    return ",".join(names) or None


@dataclass(frozen=True, slots=True)
class _Target:
    """What a model's upstream requests share, built once per ModelConfig (the registry's
    cache hands out the same object until the model changes)."""

    model: ModelConfig  # keeps the object alive, so its id() stays unique while cached
    url: str
    json_headers: dict[str, str]  # without version and beta: they are per request
    sse_headers: dict[str, str]
    version: str
    beta: str | None
    max_tokens: int
    secrets: tuple[bytes, ...]


_targets: dict[int, _Target] = {}
_MAX_TARGETS = 4096


def _target(adapter: AnthropicAdapter, model: ModelConfig) -> _Target:
    target = _targets.get(id(model))
    if target is not None and target.model is model:
        return target
    base = adapter.request_headers(model)
    version = base.pop("anthropic-version", API_VERSION)
    beta = merge_betas(None, base.pop("anthropic-beta", None))
    base.pop("Accept", None)
    target = _Target(
        model,
        adapter.messages_url(model),
        {"Content-Type": "application/json", "Accept": "application/json", **base},
        {"Content-Type": "application/json", "Accept": "text/event-stream", **base},
        version,
        beta,
        model.max_output_tokens
        or int(model.options.get("default_max_tokens") or DEFAULT_MAX_TOKENS),
        credential_bytes(model),
    )
    if len(_targets) >= _MAX_TARGETS:
        _targets.clear()  # stale models (changed, or cached per user) are dropped wholesale
    _targets[id(model)] = target
    return target


def anthropic_request(
    adapter: AnthropicAdapter,
    model: ModelConfig,
    data: dict[str, Any],
    stream: bool,
    *,
    version: str | None,
    beta: str | None,
) -> tuple[HttpRequest, AnthropicWire, tuple[bytes, ...]]:
    """The upstream request, the wire that reads its answer, and the secrets to mask.
    `version` and `beta` are the caller's headers (None when not sent)."""
    target = _target(adapter, model)
    body = dict(data)
    body["model"] = model.model_id
    if model.default_temperature is not None and body.get("temperature") is None:
        body["temperature"] = min(max(model.default_temperature, 0.0), 1.0)
    if model.default_top_p is not None and body.get("top_p") is None:
        body["top_p"] = model.default_top_p
    if body.get("max_tokens") is None:
        body["max_tokens"] = target.max_tokens
    extra_body = model.options.get("extra_body")
    if isinstance(extra_body, dict):
        for key, value in extra_body.items():
            body.setdefault(key, value)
    headers = dict(target.sse_headers if stream else target.json_headers)
    headers["anthropic-version"] = version or target.version
    betas = merge_betas(beta, target.beta) if beta else target.beta
    if betas:
        headers["anthropic-beta"] = betas
    http = HttpRequest("POST", target.url, headers, orjson.dumps(body))
    return http, AnthropicWire(model), target.secrets


_DELTA: Final = b"event: content_block_delta\n"


def _event_name(block: bytes, start: int, end: int) -> bytes:
    """The event's name: its `event:` line (Anthropic names every event), else the `type` of
    its data for the few events the relay looks at."""
    if block.startswith(b"event:", start):
        line_end = block.find(b"\n", start, end)
        return block[start + 6 : line_end if line_end != -1 else end].strip()
    event = block[start:end]
    if b'"message_' in event or b'"error"' in event:
        data = data_json(event)
        if isinstance(data, dict) and isinstance(data.get("type"), str):
            return str(data["type"]).encode()
    return b""


class AnthropicWire:
    __slots__ = ("model", "usage_fields")
    answer_noun = "a message"

    def __init__(self, model: ModelConfig) -> None:
        self.model = model
        self.usage_fields: dict[str, Any] = {}

    def _add_usage(self, usage: Any, outcome: RelayOutcome) -> None:
        if isinstance(usage, dict):
            self.usage_fields.update((k, v) for k, v in usage.items() if v is not None)
            outcome.usage = usage_from_anthropic(self.usage_fields)

    def scan(self, block: bytes, outcome: RelayOutcome) -> bytes:
        """Every event passes; message_start / message_delta give the usage, message_stop
        the end, an error event the error already relayed."""
        for start, end in event_ends(block):
            if block.startswith(_DELTA, start):  # most events: counted without a copy
                outcome.events += 1
                continue
            name = _event_name(block, start, end)
            if name == b"content_block_delta":
                outcome.events += 1
            elif name == b"message_start":
                data = data_json(block[start:end])
                message = data.get("message") if isinstance(data, dict) else None
                if isinstance(message, dict):
                    self._add_usage(message.get("usage"), outcome)
                outcome.events += 1  # the estimate leaves one event out: this one
            elif name == b"message_delta":
                data = data_json(block[start:end])
                if isinstance(data, dict) and isinstance(data.get("usage"), dict):
                    self._add_usage(data["usage"], outcome)
                    outcome.usage_final = True
            elif name == b"message_stop":
                outcome.complete = True
            elif name == b"error":
                error = error_from_payload(data_json(block[start:end]), self.model)
                outcome.error = scrub_credentials(error, self.model)
                outcome.error_relayed = True
        return block

    def check_answer(
        self, data: Any, body: bytes, forward: Forward, model: ModelConfig
    ) -> Usage | None:
        if isinstance(data, dict) and data.get("type") == "message":
            usage = data.get("usage")
            return usage_from_anthropic(usage) if isinstance(usage, dict) else None
        if isinstance(data, dict) and (data.get("type") == "error" or data.get("error")):
            headers = forward.raw.response.headers
            error = error_from_payload(data, model, headers=headers, default_status=502)
            raise scrub_credentials(error, model)
        raise not_an_answer(model, body, self.answer_noun)
