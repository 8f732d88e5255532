"""A translated stream (any provider through the unified client) relayed in a caller's wire
format, and booked — also when the caller leaves early.

Both gateway surfaces share this loop; each gives a `Framer` that writes its format
(gateway/openai_stream.py, gateway/anthropic_stream.py). The events are folded with the one
`StreamAccumulator` as they are read. The upstream is read by a `DetachableStream`: when the
caller hangs up (after the finish, before the usage, say), the upstream is still read for a
short grace and the usage that comes is booked; if none comes, an estimate from the request
and the relayed output, marked as estimated.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Protocol

from modelreg.actor import Actor
from modelreg.client.detached import DetachableStream, StreamEnd
from modelreg.errors import ModelregError
from modelreg.gateway.core import account
from modelreg.model_config import ModelConfig
from modelreg.providers.accumulate import StreamAccumulator
from modelreg.services import Services
from modelreg.types import MetaEvent, StreamEvent, Usage

__all__ = ["Framer", "relay_translated"]


class Framer(Protocol):
    """One wire format's frames for a translated stream."""

    def start(self) -> bytes: ...
    def meta(self, event: MetaEvent) -> None: ...
    def event(self, event: StreamEvent) -> bytes | None: ...
    def finish(self, usage: Usage) -> bytes: ...
    def error(self, exc: ModelregError) -> bytes: ...


async def _folded(
    first: StreamEvent, events: AsyncIterator[StreamEvent], fold: StreamAccumulator
) -> AsyncIterator[StreamEvent]:
    fold.add(first)
    yield first
    async for event in events:
        fold.add(event)
        yield event


async def relay_translated(
    services: Services,
    actor: Actor,
    model: ModelConfig,
    opened: tuple[StreamEvent, AsyncIterator[StreamEvent], float],
    framer: Framer,
    *,
    source: str,
    prompt_chars: int,
) -> AsyncIterator[bytes]:
    """The frames of a stream opened by `open_translated_stream`, booked once at its end."""
    first, events, started = opened
    fold = StreamAccumulator()
    stream = DetachableStream(_folded(first, events, fold))
    ttft: float | None = None
    booked = False

    async def book(end: StreamEnd) -> None:
        served = await services.registry.served_config(model, fold.served_by_id)
        usage, estimated = fold.usage_or_estimate(prompt_chars)
        error = end.error if isinstance(end.error, ModelregError) else None
        complete = end.error is None and not end.timed_out
        account(services, actor, served, source=source, usage=usage, ttft_ms=ttft,
                latency_ms=(time.perf_counter() - started) * 1000,
                status="ok" if complete else "incomplete", error=error,
                estimated=estimated)  # fmt: skip

    try:
        yield framer.start()
        async for event in stream:
            if isinstance(event, MetaEvent):
                framer.meta(event)
            frame = framer.event(event)
            if frame:
                if ttft is None:
                    ttft = (time.perf_counter() - started) * 1000
                yield frame
        await book(StreamEnd())
        booked = True
        yield framer.finish(fold.total_usage)
    except ModelregError as e:
        if not booked:
            await book(StreamEnd(error=e))
            booked = True
        yield framer.error(e)
    finally:
        if not booked:  # the caller left: read on for the usage, then book
            stream.detach(book)
