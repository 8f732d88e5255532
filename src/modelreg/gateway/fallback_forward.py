"""Fallback chains at the byte level: an OpenAI-format request to a model with fallbacks.

Each member of the chain is tried in turn through the pass-through's own upstream call
(`open_forward` → `UnifiedLLMClient.send_raw`), under the client's one fallback rule
(`UnifiedLLMClient.route`: an invalid request ends the tries, anything else moves on, and only
before any byte of the answer went out). A member that speaks OpenAI's format answers with its
own bytes, as the pass-through does: every field the caller sent reaches it and every field it
sends comes back (`reasoning_effort`, `user`, `metadata`, `strict`, `refusal`, the `id`,
`system_fingerprint`, `service_tier`, annotations, usage details). The usage is booked to the
member that served, at its prices.

When the chain reaches a member of another API family (Anthropic, Ollama's native API, ...),
the request is translated from that member on (`Translate`), with the rest of the chain as its
fallbacks: translation happens only where the serving upstream's format differs.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from modelreg.actor import Actor
from modelreg.errors import ProviderError
from modelreg.gateway.core import account
from modelreg.gateway.forward import Relayed, sse_error_frame
from modelreg.gateway.passthrough import (
    Forward,
    RelayOutcome,
    json_answer,
    open_forward,
    relay_headers,
    relay_stream,
)
from modelreg.gateway.passthrough_openai import openai_request
from modelreg.model_config import ModelConfig
from modelreg.providers.lookup import get_adapter
from modelreg.providers.openai_compat import OpenAICompatAdapter
from modelreg.services import Services
from modelreg.types import Usage

__all__ = ["Translate", "forward_chain"]


@dataclass(frozen=True, slots=True)
class Translate:
    """Translate from `model` on, with `fallbacks` (the rest of the chain) after it."""

    model: ModelConfig
    fallbacks: tuple[ModelConfig, ...]


@dataclass(frozen=True, slots=True)
class _Answered:
    forward: Forward
    body: bytes | None  # a whole JSON answer; None for a stream, still to relay
    usage: Usage | None


async def forward_chain(
    services: Services, actor: Actor, model: ModelConfig, data: dict[str, Any], *, stream: bool
) -> Relayed | Translate:
    """The serving member's JSON body or SSE events, or where to translate from. When every
    member failed, the last failure is raised (booked to the asked model as an error)."""
    client = services.client
    chain = await client.fallback_chain(model)
    members = (model, *chain)
    started = time.perf_counter()

    async def once(member: ModelConfig) -> _Answered | Translate:
        adapter = get_adapter(member)
        if not isinstance(adapter, OpenAICompatAdapter):
            at = next(i for i, m in enumerate(members) if m is member)
            return Translate(member, members[at + 1 :])
        http, wire, secrets = openai_request(adapter, member, data, stream)
        forward = await open_forward(client, adapter, member, http, wire, secrets, stream=stream)
        if stream:
            return _Answered(forward, None, None)
        # read here, so a 200 that is not a completion still moves on to the next member
        body, usage = await json_answer(forward, member)
        return _Answered(forward, body, usage)

    try:
        served, answered, _ = await client.route(
            model, once, fallbacks=chain, wants_tools=bool(data.get("tools"))
        )
    except ProviderError as e:
        account(services, actor, model, source="openai", usage=None, status="error",
                latency_ms=_ms_since(started), error=e)  # fmt: skip
        raise
    if isinstance(answered, Translate):
        return answered
    headers = relay_headers(answered.forward.raw.response.headers, answered.forward.secrets)
    if answered.body is not None:
        account(services, actor, served, source="openai", usage=answered.usage,
                latency_ms=_ms_since(started))  # fmt: skip
        return Relayed(answered.body, headers)
    return Relayed(_relay(services, actor, served, answered.forward), headers)


def _relay(
    services: Services, actor: Actor, served: ModelConfig, forward: Forward
) -> AsyncIterator[bytes]:
    def book(outcome: RelayOutcome) -> None:
        status = "ok" if outcome.complete else "incomplete"
        account(services, actor, served, source="openai", usage=outcome.usage,
                latency_ms=_ms_since(forward.started), ttft_ms=outcome.ttft_ms, status=status,
                error=outcome.error, estimated=outcome.estimated)  # fmt: skip

    return relay_stream(forward, served, RelayOutcome(), sse_error_frame, book)


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
