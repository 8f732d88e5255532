"""What one call asks of the model beyond its messages (`CallOptions`), made into the unified
request, and each candidate's own defaults filled in where the call did not say."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, TypedDict

from modelreg.model_config import ModelConfig
from modelreg.types import ChatRequest, Message, ToolChoice, ToolDefinition

__all__ = ["CallOptions", "build_request", "with_defaults"]


class CallOptions(TypedDict, total=False):
    """What one call asks of the model, beyond its messages."""

    tools: Sequence[ToolDefinition] | None
    tool_choice: ToolChoice | None
    temperature: float | None
    top_p: float | None
    max_tokens: int | None
    stop: str | Sequence[str] | None
    parallel_tool_calls: bool | None
    seed: int | None
    extra: dict[str, Any] | None


def build_request(messages: Sequence[Message], call: CallOptions, *, stream: bool) -> ChatRequest:
    stop = call.get("stop")
    return ChatRequest(
        messages=tuple(messages),
        tools=tuple(call.get("tools") or ()),
        tool_choice=call.get("tool_choice"),
        temperature=call.get("temperature"),
        top_p=call.get("top_p"),
        max_tokens=call.get("max_tokens"),
        stop=(stop,) if isinstance(stop, str) else tuple(stop or ()),
        stream=stream,
        parallel_tool_calls=call.get("parallel_tool_calls"),
        seed=call.get("seed"),
        extra=dict(call.get("extra") or {}),
    )


def with_defaults(request: ChatRequest, model: ModelConfig) -> ChatRequest:
    """The model's defaults where the call did not say (per candidate: fallbacks differ)."""
    return replace(
        request,
        temperature=request.temperature
        if request.temperature is not None
        else model.default_temperature,
        top_p=request.top_p if request.top_p is not None else model.default_top_p,
        max_tokens=request.max_tokens
        if request.max_tokens is not None
        else model.max_output_tokens,
    )
