"""A translated stream in Anthropic's Messages SSE format: the framer, and the call that relays
and books it (gateway/translated_stream.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

from modelreg.actor import Actor
from modelreg.errors import ModelregError, ProviderStatusError, StreamInterruptedError
from modelreg.gateway import anthropic_reply as reply
from modelreg.gateway.core import open_translated_stream
from modelreg.gateway.errors import anthropic_error_body, classify
from modelreg.gateway.sse import sse_frame
from modelreg.gateway.translated_stream import relay_translated
from modelreg.model_config import ModelConfig
from modelreg.providers.accumulate import request_chars
from modelreg.services import Services
from modelreg.types import MetaEvent, StreamEvent, Usage

__all__ = ["AnthropicFramer", "open_anthropic_stream"]


def _frames(frames: Iterable[reply.Frame]) -> bytes:
    return b"".join(sse_frame(data, name) for name, data in frames)


class AnthropicFramer:
    def __init__(self, model_name: str, first: StreamEvent) -> None:
        # message_start names the upstream's id and model, and the prompt's usage if known
        meta = first if isinstance(first, MetaEvent) else None
        self._writer = reply.StreamWriter(model_name, meta)

    def start(self) -> bytes:
        return _frames(self._writer.start())

    def meta(self, event: MetaEvent) -> None:
        pass  # the id and model were named in message_start, before any event

    def event(self, event: StreamEvent) -> bytes | None:
        frames = self._writer.event(event)
        return _frames(frames) if frames else None

    def finish(self, usage: Usage) -> bytes:
        return _frames(self._writer.finish(usage))

    def error(self, exc: ModelregError) -> bytes:
        # an upstream's own error event mid-stream (overloaded_error, say) keeps its type:
        # the interruption wraps it, and Anthropic's clients retry on overloaded_error
        cause = exc.__cause__
        if isinstance(exc, StreamInterruptedError) and isinstance(cause, ProviderStatusError):
            exc = cause
        return sse_frame(anthropic_error_body(classify(exc)), "error")


async def open_anthropic_stream(
    services: Services, actor: Actor, model: ModelConfig, kwargs: dict[str, Any]
) -> AsyncIterator[bytes]:
    """Start the stream (errors before any output raise, for a proper status), then its
    frames."""
    opened = await open_translated_stream(services, actor, model, kwargs, source="anthropic")
    framer = AnthropicFramer(model.name, opened[0])
    size = request_chars(kwargs.get("messages", ()), kwargs.get("tools") or ())
    return relay_translated(
        services, actor, model, opened, framer, source="anthropic", prompt_chars=size
    )
