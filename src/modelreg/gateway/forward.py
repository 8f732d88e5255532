"""The pass-through as one call: open the upstream, relay its answer, book the usage.

Shared by the FastAPI routes (api/routes/gateway_openai.py, gateway_anthropic.py) and the raw
ASGI fast path (api/fastpath.py), so both answer and account exactly alike; they differ only
in how the bytes reach the socket. One function per caller format (`forward_openai`,
`forward_anthropic`), one relay and one booking for both.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Final

from modelreg.actor import Actor
from modelreg.errors import ProviderError
from modelreg.gateway.core import account
from modelreg.gateway.errors import anthropic_error_body, classify, openai_error_body
from modelreg.gateway.passthrough import (
    Forward,
    RelayOutcome,
    Wire,
    json_answer,
    open_forward,
    relay_headers,
    relay_stream,
)
from modelreg.gateway.passthrough_anthropic import anthropic_passthrough_adapter, anthropic_request
from modelreg.gateway.passthrough_openai import openai_request, passthrough_adapter
from modelreg.gateway.sse import sse_frame
from modelreg.model_config import ModelConfig
from modelreg.providers.base import HttpRequest, ProviderAdapter
from modelreg.services import Services

__all__ = [
    "SSE_HEADERS",
    "Relayed",
    "anthropic_sse_error_frame",
    "forward_anthropic",
    "forward_openai",
    "sse_error_frame",
]

SSE_HEADERS: Final = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def sse_error_frame(exc: BaseException) -> bytes:
    return sse_frame(openai_error_body(classify(exc)))


def anthropic_sse_error_frame(exc: BaseException) -> bytes:
    return sse_frame(anthropic_error_body(classify(exc)), "error")


@dataclass(frozen=True, slots=True)
class Relayed:
    """The upstream's answer to pass on: its JSON body, or its SSE events as they come, and
    the response headers of its that the caller gets too (gateway/passthrough.py)."""

    body: bytes | AsyncIterator[bytes]
    headers: list[tuple[str, str]]


async def forward_openai(
    services: Services, actor: Actor, model: ModelConfig, data: dict[str, Any], *, stream: bool
) -> Relayed | None:
    """The answer of an OpenAI-compatible upstream, or None when the model's request must be
    translated instead (not OpenAI-compatible, or a fallback chain). A failure before any
    byte of the answer raises the ProviderError (booked as an error)."""
    adapter = passthrough_adapter(model)
    if adapter is None:
        return None
    http, wire, secrets = openai_request(adapter, model, data, stream)
    return await _forward(services, actor, model, adapter, http, wire, secrets, stream,
                          source="openai", error_frame=sse_error_frame)  # fmt: skip


async def forward_anthropic(
    services: Services,
    actor: Actor,
    model: ModelConfig,
    data: dict[str, Any],
    *,
    stream: bool,
    version: str | None,
    beta: str | None,
) -> Relayed | None:
    """`forward_openai` for a Messages request to an Anthropic upstream; `version` and `beta`
    are the caller's `anthropic-version` and `anthropic-beta` headers."""
    adapter = anthropic_passthrough_adapter(model)
    if adapter is None:
        return None
    http, wire, secrets = anthropic_request(
        adapter, model, data, stream, version=version, beta=beta
    )
    return await _forward(services, actor, model, adapter, http, wire, secrets, stream,
                          source="anthropic", error_frame=anthropic_sse_error_frame)  # fmt: skip


async def _forward(
    services: Services,
    actor: Actor,
    model: ModelConfig,
    adapter: ProviderAdapter,
    http: HttpRequest,
    wire: Wire,
    secrets: tuple[bytes, ...],
    stream: bool,
    *,
    source: str,
    error_frame: Callable[[ProviderError], bytes],
) -> Relayed:
    started = time.perf_counter()
    try:
        forward = await open_forward(
            services.client, adapter, model, http, wire, secrets, stream=stream
        )
        headers = relay_headers(forward.raw.response.headers, forward.secrets)
        if stream:
            events = _relay(services, actor, model, forward, source, error_frame)
            return Relayed(events, headers)
        body, usage = await json_answer(forward, model)
    except ProviderError as e:
        latency = (time.perf_counter() - started) * 1000
        account(services, actor, model, source=source, usage=None, latency_ms=latency,
                status="error", error=e)  # fmt: skip
        raise
    latency = (time.perf_counter() - started) * 1000
    account(services, actor, model, source=source, usage=usage, latency_ms=latency)
    return Relayed(body, headers)


def _relay(
    services: Services,
    actor: Actor,
    model: ModelConfig,
    forward: Forward,
    source: str,
    error_frame: Callable[[ProviderError], bytes],
) -> AsyncIterator[bytes]:
    def book(outcome: RelayOutcome) -> None:
        latency = (time.perf_counter() - forward.started) * 1000
        status = "ok" if outcome.complete else "incomplete"
        account(services, actor, model, source=source, usage=outcome.usage,
                latency_ms=latency, ttft_ms=outcome.ttft_ms, status=status,
                error=outcome.error, estimated=outcome.estimated)  # fmt: skip

    return relay_stream(forward, model, RelayOutcome(), error_frame, book)
