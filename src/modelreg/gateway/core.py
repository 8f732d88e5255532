"""What every gateway call does before and after the upstream: admit and account; and the
translated calls (any provider through the unified client) that both gateway surfaces share.

`admit` resolves the model from the registry's cache (name or id, as the caller sees it),
refuses unusable models, and checks the rate limits — no database write. `account` books the
call: one queued usage event (written later in a batch by the UsageRecorder), the Prometheus
metrics, and the tokens against the token-per-minute windows.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import orjson

from modelreg.actor import Actor
from modelreg.client.detached import spawn
from modelreg.errors import ModelregError, ProviderError
from modelreg.gateway.errors import GatewayRequestError
from modelreg.gateway.request_ids import CURRENT_REQUEST_ID
from modelreg.model_config import ModelConfig
from modelreg.registry.usable import ensure_usable
from modelreg.services import Services
from modelreg.types import ChatResponse, StreamEvent, Usage

__all__ = [
    "account",
    "admit",
    "admit_model",
    "loads_body",
    "open_translated_stream",
    "translated_chat",
]


def loads_body(raw: bytes) -> Any:
    """The request body as JSON, or a 400 in the caller's error shape."""
    if not raw:
        raise GatewayRequestError("the request body is empty; send a JSON object")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise GatewayRequestError(f"the request body is not valid JSON: {e}") from None


async def admit(
    services: Services, actor: Actor, model_name: str, *, purpose: str | None = "chat"
) -> ModelConfig:
    model = await services.registry.resolve(actor, model_name)
    return await admit_model(services, actor, model, purpose=purpose)


async def admit_model(
    services: Services, actor: Actor, model: ModelConfig, *, purpose: str | None = "chat"
) -> ModelConfig:
    """`admit` for a model already resolved for `actor`; `purpose` as in `ensure_usable`."""
    ensure_usable(model, purpose)
    await services.limiter.check_request(actor, model)
    await services.limiter.check_tokens(actor, model)
    await services.usage.room()  # the usage ledger keeps up, or new calls wait for it
    return model


def account(
    services: Services,
    actor: Actor,
    model: ModelConfig,
    *,
    source: str,
    usage: Usage | None,
    latency_ms: float,
    ttft_ms: float | None = None,
    status: str = "ok",
    error: ModelregError | None = None,
    estimated: bool = False,
) -> Decimal:
    """Book one call; never awaits, so it is safe in a stream's `finally`."""
    usage = usage or Usage()
    cost = model.cost(
        usage.input_tokens,
        usage.output_tokens,
        cache_read_tokens=usage.cached_read_tokens,
        cache_write_tokens=usage.cache_write_tokens,
    )
    services.usage.record(
        user_id=actor.id,
        llm_model_id=model.id,
        model_name=model.name,
        source=source,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cached_tokens=usage.cached_read_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        cost=cost,
        latency_ms=latency_ms,
        ttft_ms=ttft_ms,
        status=status,
        estimated=estimated,
        prices=model.unit_prices(),
        request_id=CURRENT_REQUEST_ID.get(),
    )
    metrics = services.metrics
    if error is not None:
        metrics.record_upstream_error(model.name, model.provider, type(error).__name__)
    else:
        ttft = ttft_ms / 1000 if ttft_ms is not None else None
        metrics.observe_upstream(model.name, model.provider, latency_ms / 1000, ttft)
    metrics.record_usage(model.name, usage.input_tokens, usage.output_tokens, cost)
    has_token_limit = bool(model.tpm_limit) or services.settings.user_tpm_limit > 0
    if usage.total_tokens and has_token_limit:
        spawn(services.limiter.add_tokens(actor, model, usage.total_tokens), "counting tokens")
    return cost


def _elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


async def translated_chat(
    services: Services, actor: Actor, model: ModelConfig, kwargs: dict[str, Any], *, source: str
) -> ChatResponse:
    """One non-streamed call through the unified client, booked to the model that answered."""
    started = time.perf_counter()
    try:
        response = await services.client.chat(model, **kwargs)
    except ProviderError as e:
        account(services, actor, model, source=source, usage=None, status="error",
                latency_ms=_elapsed_ms(started), error=e)  # fmt: skip
        raise
    served = await services.registry.served_config(model, response.served_by_id)
    account(services, actor, served, source=source, usage=response.usage,
            latency_ms=_elapsed_ms(started))  # fmt: skip
    return response


async def open_translated_stream(
    services: Services, actor: Actor, model: ModelConfig, kwargs: dict[str, Any], *, source: str
) -> tuple[StreamEvent, AsyncIterator[StreamEvent], float]:
    """Start a stream and wait for its first event, so that errors before any output still
    answer with a proper status; returns (first event, the rest, start time)."""
    started = time.perf_counter()
    events = services.client.stream(model, **kwargs)
    try:
        first = await anext(events)
    except ProviderError as e:
        account(services, actor, model, source=source, usage=None, status="error",
                latency_ms=_elapsed_ms(started), error=e)  # fmt: skip
        raise
    return first, events, started
