"""The request side of the Anthropic adapter: unified messages, tools and the caller's
fields in the Messages API's shape (providers/anthropic.py has the rules worth knowing)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from modelreg.model_config import ModelConfig
from modelreg.providers._common import parse_data_url
from modelreg.providers._fields import native_body, refuse
from modelreg.providers.reasoning import budget_for
from modelreg.types import (
    CacheControl,
    ChatRequest,
    ContentPart,
    ImagePart,
    Message,
    ToolDefinition,
)

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "MIN_THINKING_BUDGET",
    "caller_fields",
    "clamp_temperature",
    "to_anthropic_messages",
    "tool_choice",
    "tool_json",
]

log = logging.getLogger(__name__)

DEFAULT_MAX_TOKENS = 4096
MIN_THINKING_BUDGET = 1024


# --- request side ---------------------------------------------------------------------------


def _image_block(part: ImagePart) -> dict[str, Any]:
    data_url = parse_data_url(part.url)
    if data_url is not None:
        media_type, data = data_url
        source = {"type": "base64", "media_type": media_type, "data": data}
    else:
        source = {"type": "url", "url": part.url}
    return _cached({"type": "image", "source": source}, part.cache_control)


def _cached(block: dict[str, Any], cache_control: CacheControl | None) -> dict[str, Any]:
    if cache_control is not None:
        block["cache_control"] = cache_control
    return block


def _blocks(content: str | tuple[ContentPart, ...] | None) -> list[dict[str, Any]]:
    """Content as Anthropic blocks, each part's cache_control kept on its block."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return [
        _image_block(p)
        if isinstance(p, ImagePart)
        else _cached({"type": "text", "text": p.text}, p.cache_control)
        for p in content
        if isinstance(p, ImagePart) or p.text
    ]


def _reasoning_blocks(message: Message) -> list[dict[str, Any]]:
    """Thinking blocks of the history, signed ones only: Anthropic verifies the signature,
    and reasoning from another provider has none (docs/providers.md)."""
    out: list[dict[str, Any]] = []
    for block in message.reasoning:
        if block.redacted_data is not None:
            out.append({"type": "redacted_thinking", "data": block.redacted_data})
        elif block.signature:
            out.append({"type": "thinking", "thinking": block.text, "signature": block.signature})
    return out


def _assistant_blocks(message: Message) -> list[dict[str, Any]]:
    blocks = _reasoning_blocks(message) + _blocks(message.content)
    for call in message.tool_calls:
        # invalid arguments were kept raw; Anthropic wants an object, `{}` is the fallback
        arguments = {} if call.arguments_error else call.arguments
        blocks.append({"type": "tool_use", "id": call.id, "name": call.name, "input": arguments})
    return blocks


def _tool_result(m: Message) -> dict[str, Any]:
    content: str | list[dict[str, Any]] = m.text
    if isinstance(m.content, tuple):  # blocks, images included, as they came
        content = _blocks(m.content)
    result: dict[str, Any] = {
        "type": "tool_result",
        "tool_use_id": m.tool_call_id or "",
        "content": content,
    }
    if m.is_error:
        result["is_error"] = True
    return _cached(result, m.cache_control)


def _is_plain(content: str | tuple[ContentPart, ...] | None) -> bool:
    return not isinstance(content, tuple)


def to_anthropic_messages(
    messages: Sequence[Message],
) -> tuple[str | list[dict[str, Any]] | None, list[dict[str, Any]]]:
    """(system, messages) in Anthropic's shape. `system` is a string unless a system message
    came as blocks (cache_control on them, say): then it is the list of those blocks."""
    system: list[Message] = []
    out: list[dict[str, Any]] = []
    pending_results: list[dict[str, Any]] = []

    def flush_results(extra: list[dict[str, Any]]) -> None:
        if pending_results:
            out.append({"role": "user", "content": [*pending_results, *extra]})
            pending_results.clear()
        elif extra:
            out.append({"role": "user", "content": extra})

    for m in messages:
        if m.role in ("system", "developer"):
            if m.text:
                system.append(m)
        elif m.role == "tool":
            pending_results.append(_tool_result(m))
        elif m.role == "user":
            blocks = _blocks(m.content)
            if pending_results:
                flush_results(blocks)
            elif isinstance(m.content, str):
                out.append({"role": "user", "content": m.content})
            else:
                out.append({"role": "user", "content": blocks})
        else:
            flush_results([])
            blocks = _assistant_blocks(m)
            if not blocks:
                continue  # Anthropic refuses empty assistant turns
            plain = not m.tool_calls and not m.reasoning and isinstance(m.content, str)
            out.append({"role": "assistant", "content": m.content if plain else blocks})
    flush_results([])
    return _system(system), out


def _system(system: list[Message]) -> str | list[dict[str, Any]] | None:
    if not system:
        return None
    if all(_is_plain(m.content) for m in system):
        return "\n\n".join(m.text for m in system)
    return [block for m in system for block in _blocks(m.content)]


def tool_choice(choice: str | None, parallel: bool | None) -> dict[str, Any] | None:
    mapped: dict[str, Any] | None
    if choice is None:
        mapped = {"type": "auto"} if parallel is False else None
    elif choice == "auto":
        mapped = {"type": "auto"}
    elif choice == "required":
        mapped = {"type": "any"}
    elif choice == "none":
        mapped = {"type": "none"}
    else:
        mapped = {"type": "tool", "name": choice}
    if mapped is not None and parallel is False and mapped["type"] != "none":
        mapped["disable_parallel_tool_use"] = True
    return mapped


def clamp_temperature(value: float, model: ModelConfig) -> float:
    if 0.0 <= value <= 1.0:
        return value
    clamped = min(max(value, 0.0), 1.0)
    log.info("temperature %s clamped to %s for Anthropic model %s", value, clamped, model.name)
    return clamped


def tool_json(t: ToolDefinition) -> dict[str, Any]:
    tool: dict[str, Any] = {"name": t.name, "description": t.description,
                            "input_schema": t.parameters}  # fmt: skip
    if t.strict is not None:
        tool["strict"] = t.strict
    return _cached(tool, t.cache_control)


_TIERS = {"auto": "auto", "default": "standard_only", "standard_only": "standard_only"}


def _thinking_budget(req: ChatRequest, model: ModelConfig) -> int | None:
    if req.thinking_budget is not None:
        return req.thinking_budget
    if req.reasoning_effort is None or req.reasoning_effort == "none":
        return None
    budget = budget_for(req.reasoning_effort)
    if budget is None:
        raise refuse(model, "reasoning_effort", f"unknown level {req.reasoning_effort!r}")
    return budget


def caller_fields(
    req: ChatRequest, model: ModelConfig, max_tokens: int, *, set_max: bool
) -> dict[str, Any]:
    """thinking, metadata.user_id, top_k, service_tier and the caller's Anthropic-only
    fields; seed has no equivalent and is refused."""
    fields: dict[str, Any] = {}
    budget = _thinking_budget(req, model)
    if budget is not None:
        if set_max:  # no max_tokens asked: room for the thinking and an answer
            fields["max_tokens"] = max_tokens = budget + max_tokens
        elif budget >= max_tokens and req.thinking_budget is None:
            # OpenAI's max_completion_tokens counts the reasoning: keep the budget inside it
            budget = max_tokens - 1
            if budget < MIN_THINKING_BUDGET:
                why = f"max_tokens leaves no room for the minimum budget ({MIN_THINKING_BUDGET})"
                raise refuse(model, "reasoning_effort", why)
        fields["thinking"] = {"type": "enabled", "budget_tokens": budget}
    if req.user is not None:
        fields["metadata"] = {"user_id": req.user}
    if req.top_k is not None:
        fields["top_k"] = req.top_k
    if req.service_tier is not None:
        if req.service_tier not in _TIERS:
            raise refuse(model, "service_tier", f"{req.service_tier!r} has no Anthropic "
                         "equivalent (Anthropic has auto and standard_only)")  # fmt: skip
        fields["service_tier"] = _TIERS[req.service_tier]
    if req.seed is not None:
        raise refuse(model, "seed", "Anthropic has no seed; leave it out for this model")
    native = native_body(req, "anthropic", model)
    if "metadata" in native and "metadata" in fields:
        native["metadata"] = {**native["metadata"], **fields["metadata"]}
    return fields | native
