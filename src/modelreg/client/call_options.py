"""What one call asks of the model beyond its messages (`CallOptions`), made into the unified
request, and each candidate's own defaults filled in where the call did not say."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, TypedDict

from modelreg.model_config import ModelConfig
from modelreg.types import ChatRequest, Message, NativeFields, ToolChoice, ToolDefinition

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
    reasoning_effort: str | None
    thinking_budget: int | None
    user: str | None
    top_k: int | None
    service_tier: str | None
    native: NativeFields | None


def build_request(messages: Sequence[Message], call: CallOptions, *, stream: bool) -> ChatRequest:
    stop = call.get("stop")
    rest: dict[str, Any] = {k: v for k, v in call.items() if k not in ("tools", "stop", "extra")}
    return ChatRequest(
        messages=tuple(messages),
        tools=tuple(call.get("tools") or ()),
        stop=(stop,) if isinstance(stop, str) else tuple(stop or ()),
        stream=stream,
        extra=dict(call.get("extra") or {}),
        **rest,
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
