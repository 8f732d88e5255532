"""A conversation as a download: Markdown for people, JSON for programs.

Both hold the selected path only (what the model saw: one answer per user message, see
chat/branches.py), with each answer's model, tokens and cost; images are named, not
embedded (the JSON gives their URLs).
"""

from __future__ import annotations

from typing import Any

from modelreg.chat.schemas import ConversationOut, MessageOut

__all__ = ["as_json", "as_markdown", "filename"]

_ROLE = {"user": "You", "assistant": "Assistant", "system": "System", "tool": "Tool"}


def filename(title: str, extension: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_ " else "_" for c in title).strip()
    return f"{(safe or 'conversation')[:80].replace(' ', '-')}.{extension}"


def as_markdown(conversation: ConversationOut, messages: list[MessageOut]) -> str:
    lines = [f"# {conversation.title}", "", f"Exported conversation {conversation.id}.", ""]
    for m in messages:
        heading = _ROLE.get(m.role, m.role)
        if m.model is not None and m.model.name:
            heading += f" ({m.model.name})"
        lines += [f"## {heading}", "", m.content or "", ""]
        for i, _ in enumerate(m.images, 1):
            lines += [f"*[image {i} attached]*", ""]
        if m.usage is not None:
            lines += [
                f"*{m.usage.input_tokens} tokens in · {m.usage.output_tokens} out"
                + (f" · cost {m.cost}*" if m.cost is not None else "*"),
                "",
            ]
        if m.error:
            lines += [f"*Error: {m.error}*", ""]
    return "\n".join(lines).rstrip() + "\n"


def as_json(conversation: ConversationOut, messages: list[MessageOut]) -> dict[str, Any]:
    return {
        "conversation": conversation.model_dump(mode="json"),
        "messages": [m.model_dump(mode="json") for m in messages],
    }
