"""What an adapter does with the request fields that not every provider has: one place that
refuses, with a 400 naming the field, what the serving provider cannot honour (the table in
docs/providers.md lists each field per provider)."""

from __future__ import annotations

from typing import Any

from modelreg.errors import ValidationFailedError
from modelreg.model_config import ModelConfig
from modelreg.types import ChatRequest, Message, TextPart

__all__ = ["native_body", "refuse", "system_text", "tool_text"]


def refuse(model: ModelConfig, field: str, why: str) -> ValidationFailedError:
    return ValidationFailedError(f"{field}: {why} (model {model.name})", field=field)


def native_body(req: ChatRequest, family: str, model: ModelConfig) -> dict[str, Any]:
    """The caller's surface-only fields when the upstream speaks that surface's format; any
    such field toward another family is a 400 rather than a silent drop."""
    native = req.native
    if native is None or not native.body:
        return {}
    if native.family == family:
        return dict(native.body)
    name = next(iter(native.body))
    raise refuse(
        model,
        name,
        f"this {native.family} field has no equivalent for a {model.provider} upstream; "
        "leave it out for this model",
    )


def system_text(message: Message) -> str:
    """A system message as one string: separate blocks are separate instructions, joined as
    paragraphs, never glued."""
    if isinstance(message.content, tuple):
        return "\n\n".join(p.text for p in message.content if isinstance(p, TextPart) and p.text)
    return message.text


def tool_text(message: Message) -> str:
    """A tool result's text for providers without an error flag on tool results."""
    return f"error: {message.text}" if message.is_error else message.text
