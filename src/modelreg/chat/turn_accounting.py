"""A chat turn's accounting, once its answer is stored (or could not be): the usage record
(tokens, cost, latency, time to first token, status, unit prices) and the metrics."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from modelreg.chat.turn import Booking

if TYPE_CHECKING:
    from modelreg.chat.usage import UsageRecorder
    from modelreg.metrics import Metrics

__all__ = ["account_turn"]


def account_turn(
    recorder: UsageRecorder,
    metrics: Metrics,
    user_id: uuid.UUID,
    ttft_ms: float | None,
    booking: Booking,
) -> None:
    served, usage, cost, error = booking.served, booking.usage, booking.cost, booking.error
    recorder.record(
        user_id=user_id,
        llm_model_id=served.id,
        model_name=served.name,
        source="chat",
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cached_tokens=usage.cached_read_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        cost=cost,
        latency_ms=booking.latency_ms,
        ttft_ms=ttft_ms,
        status={"complete": "ok"}.get(booking.status, booking.status),
        estimated=booking.estimated,
        prices=served.unit_prices(),
    )
    if error is not None:
        metrics.record_upstream_error(served.name, served.provider, type(error).__name__)
    else:
        metrics.observe_upstream(
            served.name,
            served.provider,
            booking.latency_ms / 1000,
            ttft_ms / 1000 if ttft_ms is not None else None,
        )
    metrics.record_usage(served.name, usage.input_tokens, usage.output_tokens, cost)
