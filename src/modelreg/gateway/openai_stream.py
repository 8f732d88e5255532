"""A translated stream in OpenAI's `chat.completion.chunk` format (for models that are not
OpenAI-compatible, or that have a fallback chain): the framer, and the call that relays and
books it (gateway/translated_stream.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from modelreg.actor import Actor
from modelreg.errors import ModelregError
from modelreg.gateway import openai_wire as wire
from modelreg.gateway.core import open_translated_stream
from modelreg.gateway.errors import classify, openai_error_body
from modelreg.gateway.sse import sse_frame
from modelreg.gateway.translated_stream import relay_translated
from modelreg.model_config import ModelConfig
from modelreg.providers.accumulate import request_chars
from modelreg.services import Services
from modelreg.types import MetaEvent, StreamEvent, Usage

__all__ = ["OpenAIFramer", "open_openai_stream"]


class OpenAIFramer:
    def __init__(self, model_name: str, first: StreamEvent, *, include_usage: bool) -> None:
        # the first chunk already carries the upstream's id and model
        self._writer = wire.ChunkWriter(model_name, first if isinstance(first, MetaEvent) else None)
        self._include_usage = include_usage

    def start(self) -> bytes:
        return sse_frame(self._writer.start())

    def meta(self, event: MetaEvent) -> None:
        if event.model:
            self._writer.model = event.model

    def event(self, event: StreamEvent) -> bytes | None:
        chunk = self._writer.event(event)
        return sse_frame(chunk) if chunk is not None else None

    def finish(self, usage: Usage) -> bytes:
        done = b"data: [DONE]\n\n"
        return sse_frame(self._writer.usage(usage)) + done if self._include_usage else done

    def error(self, exc: ModelregError) -> bytes:
        return sse_frame(openai_error_body(classify(exc)))


async def open_openai_stream(
    services: Services,
    actor: Actor,
    model: ModelConfig,
    kwargs: dict[str, Any],
    *,
    include_usage: bool,
) -> AsyncIterator[bytes]:
    """Start the stream (errors before any output raise, for a proper status), then its
    frames."""
    opened = await open_translated_stream(services, actor, model, kwargs, source="openai")
    framer = OpenAIFramer(model.name, opened[0], include_usage=include_usage)
    size = request_chars(kwargs.get("messages", ()), kwargs.get("tools") or ())
    return relay_translated(
        services, actor, model, opened, framer, source="openai", prompt_chars=size
    )
