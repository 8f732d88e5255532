"""The request side of the OpenAI-compatible adapter: unified messages, tools and the
caller's fields in the Chat Completions shape."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from modelreg.model_config import ModelConfig
from modelreg.providers._fields import native_body, refuse, system_text, tool_text
from modelreg.providers.openai_profiles import OpenAIProfile
from modelreg.providers.reasoning import effort_for
from modelreg.providers.tool_arguments import arguments_to_raw
from modelreg.types import ChatRequest, ContentPart, ImagePart, Message, TextPart, ToolDefinition

__all__ = ["caller_fields", "to_openai_messages", "tool_choice", "tool_json"]


# --- request side ---------------------------------------------------------------------------


def _image_part(part: ImagePart) -> dict[str, Any]:
    image: dict[str, Any] = {"url": part.url}
    if part.detail:
        image["detail"] = part.detail
    return {"type": "image_url", "image_url": image}


def _content_parts(
    content: str | tuple[ContentPart, ...] | None,
) -> str | list[dict[str, Any]] | None:
    if content is None or isinstance(content, str):
        return content
    return [
        _image_part(p) if isinstance(p, ImagePart) else {"type": "text", "text": p.text}
        for p in content
    ]


def to_openai_messages(
    messages: Sequence[Message], *, developer_role: bool
) -> list[dict[str, Any]]:
    """Chat Completions messages. What this format cannot carry: `cache_control` (OpenAI
    caches prompt prefixes on its own), reasoning blocks in the history (OpenAI-compatible
    servers take no reasoning back); images in a tool result, which a `tool` message cannot
    hold, follow the run of tool messages as a user message (docs/providers.md)."""
    out: list[dict[str, Any]] = []
    pending_images: list[dict[str, Any]] = []
    for m in messages:
        if m.role != "tool" and pending_images:
            out.append({"role": "user", "content": pending_images})
            pending_images = []
        if m.role in ("system", "developer"):
            role = m.role if developer_role else "system"
            out.append({"role": role, "content": system_text(m)})
        elif m.role == "tool":
            # no `name`: Groq rejects messages[].name with a 400
            out.append(
                {"role": "tool", "tool_call_id": m.tool_call_id or "", "content": tool_text(m)}
            )
            if m.images:
                note = f"The images returned by tool call {m.tool_call_id or ''}:"
                pending_images.append({"type": "text", "text": note})
                pending_images += [_image_part(p) for p in m.images]
        elif m.role == "assistant":
            content = m.content
            if isinstance(content, tuple) and all(isinstance(p, TextPart) for p in content):
                content = m.text or None  # text blocks: one string, as every server takes it
            item: dict[str, Any] = {"role": "assistant", "content": _content_parts(content)}
            if m.tool_calls:
                item["tool_calls"] = [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {
                            "name": call.name,
                            # echo exactly what the model produced when we have it
                            "arguments": call.raw_arguments or arguments_to_raw(call.arguments),
                        },
                    }
                    for call in m.tool_calls
                ]
            out.append(item)
        else:
            out.append({"role": "user", "content": _content_parts(m.content) or ""})
    if pending_images:
        out.append({"role": "user", "content": pending_images})
    return out


def tool_json(tool: ToolDefinition) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.name, "parameters": tool.parameters}
    if tool.description:
        function["description"] = tool.description
    if tool.strict is not None:
        function["strict"] = tool.strict
    return {"type": "function", "function": function}


def _reasoning_effort(req: ChatRequest, model: ModelConfig) -> str | None:
    if req.reasoning_effort is not None:
        return req.reasoning_effort
    if req.thinking_budget is not None:
        return effort_for(req.thinking_budget)
    return None


def caller_fields(req: ChatRequest, p: OpenAIProfile, model: ModelConfig) -> dict[str, Any]:
    """reasoning, user, top_k, service_tier and the caller's OpenAI-only fields."""
    fields: dict[str, Any] = {}
    effort = _reasoning_effort(req, model)
    if effort is not None:
        fields["reasoning_effort"] = effort
    if req.user is not None:
        fields["user"] = req.user
    if req.top_k is not None:
        if not p.top_k:
            raise refuse(model, "top_k", f"{model.provider} has no top_k sampling parameter")
        fields["top_k"] = req.top_k
    if req.service_tier is not None:
        if not p.service_tier:
            raise refuse(model, "service_tier", f"{model.provider} has no service tiers")
        fields["service_tier"] = req.service_tier
    fields.update(native_body(req, "openai", model))
    return fields


def tool_choice(choice: str) -> str | dict[str, Any]:
    if choice in ("auto", "none", "required"):
        return choice
    return {"type": "function", "function": {"name": choice}}
