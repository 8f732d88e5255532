"""Conversation and message rows: owner-only access, conversion to the unified messages.

Every query filters on the owner, so a user never sees another user's rows (on PostgreSQL the
row-level security policies say the same). A conversation that is not the caller's is
reported exactly like one that does not exist.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from modelreg.actor import Actor
from modelreg.db.models import Conversation, utcnow
from modelreg.db.models import Message as MessageRow
from modelreg.errors import ConfigError
from modelreg.providers.tool_arguments import parse_tool_arguments
from modelreg.types import Message, ToolCall

__all__ = [
    "ConversationNotFoundError",
    "get_owned_conversation",
    "history_messages",
    "load_messages",
    "new_message_rows",
    "tool_calls_json",
    "uuid_or_none",
]

TITLE_LENGTH = 60


class ConversationNotFoundError(ConfigError):
    """No conversation with that id belongs to the caller (shown as 404)."""

    def __init__(self) -> None:
        super().__init__("conversation not found")


def owner_id(actor: Actor) -> uuid.UUID:
    if actor.id is None:  # the system actor has no conversations of its own
        raise ConversationNotFoundError()
    return actor.id


async def get_owned_conversation(
    session: AsyncSession, actor: Actor, conversation_id: uuid.UUID
) -> Conversation:
    row = await session.scalar(
        select(Conversation).where(
            Conversation.id == conversation_id, Conversation.user_id == owner_id(actor)
        )
    )
    if row is None:
        raise ConversationNotFoundError()
    return row


async def load_messages(session: AsyncSession, conversation: Conversation) -> list[MessageRow]:
    rows = await session.scalars(
        select(MessageRow)
        .where(
            MessageRow.conversation_id == conversation.id,
            MessageRow.user_id == conversation.user_id,
        )
        .order_by(MessageRow.created_at, MessageRow.id)
    )
    return list(rows)


def uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:  # models from the environment have no row
        return None


def title_from(text: str) -> str:
    line = " ".join(text.split())
    if len(line) <= TITLE_LENGTH:
        return line or "New conversation"
    return line[: TITLE_LENGTH - 1].rstrip() + "…"


def tool_calls_json(calls: Sequence[ToolCall]) -> list[dict[str, Any]] | None:
    if not calls:
        return None
    return [
        {"id": c.id, "name": c.name, "arguments": c.raw_arguments or _dump(c.arguments)}
        for c in calls
    ]


def _dump(arguments: dict[str, Any]) -> str:
    return orjson.dumps(arguments).decode()


def _tool_calls_from_json(raw: list[Any] | None) -> tuple[ToolCall, ...]:
    calls = []
    for item in raw or ():
        if not isinstance(item, dict):
            continue
        arguments = str(item.get("arguments") or "{}")
        parsed, problem = parse_tool_arguments(arguments)
        calls.append(
            ToolCall(
                id=str(item.get("id", "")),
                name=str(item.get("name", "")),
                arguments=parsed,
                raw_arguments=arguments,
                arguments_error=problem,
            )
        )
    return tuple(calls)


def history_messages(rows: Sequence[MessageRow]) -> list[Message]:
    """The stored conversation as unified messages. Failed assistant turns with no text are
    left out (the model never said them); interrupted ones keep the text that arrived."""
    out: list[Message] = []
    for row in rows:
        if row.role == "assistant":
            calls = _tool_calls_from_json(row.tool_calls)
            if row.status == "error" and not row.content and not calls:
                continue
            out.append(Message(role="assistant", content=row.content or None, tool_calls=calls))
        elif row.role == "tool":
            out.append(Message(role="tool", content=row.content, tool_call_id=row.tool_call_id))
        elif row.role in ("user", "system", "developer"):
            out.append(Message(role=row.role, content=row.content))  # type: ignore[arg-type]
    return out


def new_message_rows(
    conversation: Conversation, messages: Sequence[Message], *, start: datetime | None = None
) -> list[MessageRow]:
    """Rows for messages the caller sent. Timestamps are spaced by a microsecond so the order
    of one request's messages survives `ORDER BY created_at`."""
    now = start or utcnow()
    return [
        MessageRow(
            id=uuid.uuid4(),
            conversation_id=conversation.id,
            user_id=conversation.user_id,
            role=m.role,
            content=m.text,
            tool_calls=tool_calls_json(m.tool_calls),
            tool_call_id=m.tool_call_id,
            status="complete",
            created_at=now + timedelta(microseconds=i),
        )
        for i, m in enumerate(messages)
    ]
