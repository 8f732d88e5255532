"""The OpenAI pass-through as one call: open the upstream, relay its answer, book the usage.

Shared by the FastAPI route (api/routes/gateway_openai.py) and the raw ASGI fast path
(api/fastpath.py), so both answer and account exactly alike; they differ only in how the bytes
reach the socket.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any, Final

from modelreg.actor import Actor
from modelreg.errors import ProviderError
from modelreg.gateway.core import account
from modelreg.gateway.errors import classify, openai_error_body
from modelreg.gateway.passthrough import (
    Forward,
    RelayOutcome,
    json_answer,
    open_forward,
    passthrough_adapter,
    relay_stream,
)
from modelreg.gateway.sse import sse_frame
from modelreg.model_config import ModelConfig
from modelreg.services import Services

__all__ = ["SSE_HEADERS", "forward_openai", "sse_error_frame"]

SSE_HEADERS: Final = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def sse_error_frame(exc: BaseException) -> bytes:
    return sse_frame(openai_error_body(classify(exc)))


async def forward_openai(
    services: Services, actor: Actor, model: ModelConfig, data: dict[str, Any], *, stream: bool
) -> bytes | AsyncIterator[bytes] | None:
    """The upstream's JSON body, or its SSE events as they come (`stream`), or None when the
    model's request must be translated instead (not OpenAI-compatible, or a fallback chain).
    A failure before any byte of the answer raises the ProviderError (booked as an error)."""
    adapter = passthrough_adapter(model)
    if adapter is None:
        return None
    started = time.perf_counter()
    try:
        forward = await open_forward(services.client, adapter, model, data, stream=stream)
        if stream:
            return _relay(services, actor, model, forward)
        body, usage = await json_answer(forward, model)
    except ProviderError as e:
        latency = (time.perf_counter() - started) * 1000
        account(services, actor, model, source="openai", usage=None, latency_ms=latency,
                status="error", error=e)  # fmt: skip
        raise
    latency = (time.perf_counter() - started) * 1000
    account(services, actor, model, source="openai", usage=usage, latency_ms=latency)
    return body


def _relay(
    services: Services, actor: Actor, model: ModelConfig, forward: Forward
) -> AsyncIterator[bytes]:
    def book(outcome: RelayOutcome) -> None:
        latency = (time.perf_counter() - forward.started) * 1000
        status = "ok" if outcome.complete else "incomplete"
        account(services, actor, model, source="openai", usage=outcome.usage,
                latency_ms=latency, ttft_ms=outcome.ttft_ms, status=status,
                error=outcome.error, estimated=outcome.estimated)  # fmt: skip

    return relay_stream(forward, model, RelayOutcome(), sse_error_frame, book)
