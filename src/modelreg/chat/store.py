"""Conversation and message rows: owner-only access, conversion to the unified messages.

Every query filters on the owner, so a user never sees another user's rows (on PostgreSQL the
row-level security policies say the same). A conversation that is not the caller's is
reported exactly like one that does not exist.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, NamedTuple

import orjson
from sqlalchemy import String, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from modelreg.actor import Actor
from modelreg.chat.branches import branches
from modelreg.db.knowledge_models import KnowledgeConversation
from modelreg.db.models import Conversation, MessageImage, utcnow
from modelreg.db.models import Message as MessageRow
from modelreg.errors import ConfigError
from modelreg.experiments.context import message_columns as experiment_columns
from modelreg.model_config import ModelConfig, UnitPrices
from modelreg.providers.tool_arguments import parse_tool_arguments
from modelreg.types import ContentPart, ImagePart, Message, TextPart, ToolCall

if TYPE_CHECKING:
    from modelreg.db.engine import Database

__all__ = [
    "ConversationNotFoundError",
    "History",
    "conversation_row",
    "get_owned_conversation",
    "history_messages",
    "load_messages",
    "message_row",
    "new_message_rows",
    "price_columns",
    "read_history",
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


_C, _M = Conversation.__table__.c, MessageRow.__table__.c
_I = MessageImage.__table__.c
_HAS_IMAGES = select(_I.id).where(_I.message_id == _M.id).exists().label("has_images")
_K = KnowledgeConversation.__table__.c
# whether the conversation has knowledge collections attached: when not (most), the turn
# need not ask the knowledge store for them (a whole session of its own)
_HAS_COLLECTIONS = (
    select(_K.collection_id)
    .where(_K.conversation_id == _C.id, _K.user_id == _C.user_id)
    .exists()
    .label("has_collections")
)


def _raw(column: Any) -> Any:
    """The column as the driver returns it: ids as text (SQLite) or the driver's UUID
    (PostgreSQL), JSON as text. Converting every id and tool-call list of a long history to
    Python objects was most of the read's CPU; `read_history` converts the few it needs."""
    return type_coerce(column, String).label(column.key)


# a conversation and its messages in one query; no message: one row whose role is NULL. The
# messages' owner is compared in Python: in the join, SQLite's planner took the index on
# (user_id, created_at) and read every message of the user (+9 ms at some 10k of them)
_HISTORY = (
    select(
        _raw(_C.llm_model_id),
        _raw(_M.user_id),
        _M.role,
        _M.content,
        _raw(_M.tool_calls),
        _M.tool_call_id,
        _M.status,
        _raw(_M.id),
        _raw(_M.reply_to_id),
        _M.selected_at,
        _M.created_at,
        _HAS_IMAGES,
        _HAS_COLLECTIONS,
    )
    .select_from(
        Conversation.__table__.outerjoin(MessageRow.__table__, _M.conversation_id == _C.id)
    )
    .order_by(_M.created_at, _M.id)
)


READ_HISTORY_SQL: Final = "SELECT * FROM modelreg_read_history($1::json, $2, $3)"


class _HistoryRow(NamedTuple):
    """A row of `modelreg_read_history`, with the names of `_HISTORY`'s columns."""

    llm_model_id: Any
    user_id: Any
    role: str | None
    content: str | None
    tool_calls: str | None
    tool_call_id: str | None
    status: str | None
    id: Any
    reply_to_id: Any
    selected_at: datetime | None
    created_at: datetime | None
    has_images: bool | None
    has_collections: bool


class History(NamedTuple):
    model_id: uuid.UUID | None  # the conversation's model
    messages: list[Message]
    has_collections: bool  # knowledge collections are attached to the conversation


async def read_history(db: Database, actor: Actor, conversation_id: uuid.UUID) -> History:
    """The caller's conversation: its model, its messages as unified messages and whether it
    has knowledge collections, in one query (Core rows, no ORM identity map; on SQLite one
    hop to a thread, not one per step)."""
    owner = owner_id(actor)
    rows: Sequence[Any]
    if db.runs_sync:
        query = _HISTORY.where(_C.id == conversation_id, _C.user_id == owner)
        rows = await db.run_sync(lambda conn: conn.execute(query).all(), write=False)
    else:  # PostgreSQL: one autocommitted statement that sets the RLS context (0016)
        context = orjson.dumps({"app_role": db.app_role, "uid": str(owner), "role": actor.role})
        async with db.driver_connection() as conn:
            found = await conn.fetch(READ_HISTORY_SQL, context.decode(), conversation_id, owner)
        rows = [_HistoryRow(*record) for record in found]
    if not rows:
        raise ConversationNotFoundError()
    owner_forms = {owner, owner.hex, str(owner)}  # as the driver returns an id (`_raw`)
    path = branches([r for r in rows if r.user_id in owner_forms]).active
    images: dict[Any, tuple[ImagePart, ...]] = {}  # by the rows' ids as read
    if any(r.has_images for r in path):  # only then a second query
        from modelreg.chat.images import load_image_parts

        by_id = await load_image_parts(db, actor, conversation_id)
        images = {r.id: by_id[_as_uuid(r.id)] for r in path if _as_uuid(r.id) in by_id}
    first = rows[0]
    model_id = None if first.llm_model_id is None else _as_uuid(first.llm_model_id)
    messages = history_messages(path, images)
    return History(model_id, messages, bool(first.has_collections))


def _as_uuid(value: Any) -> uuid.UUID:
    return value if type(value) is uuid.UUID else uuid.UUID(str(value))


def conversation_row(
    conversation_id: uuid.UUID, user_id: uuid.UUID, title: str, model: ModelConfig, now: datetime
) -> dict[str, Any]:
    """A new `conversations` row for a Core INSERT."""
    return {
        "id": conversation_id,
        "user_id": user_id,
        "title": title,
        "llm_model_id": uuid_or_none(model.id),
        "created_at": now,
        "updated_at": now,
    }


def price_columns(prices: UnitPrices) -> dict[str, Decimal]:
    """The unit prices a message was booked with, as its columns (migration 0012)."""
    return {
        "price_per_input_token": prices.input,
        "price_per_output_token": prices.output,
        "price_per_cache_read_token": prices.cache_read,
        "price_per_cache_write_token": prices.cache_write,
    }


def message_row(
    conversation_id: uuid.UUID, user_id: uuid.UUID, role: str, created_at: datetime, **values: Any
) -> dict[str, Any]:
    """A `messages` row for a Core INSERT: every column present, so that the rows of several
    turns go into one multi-row statement."""
    return {
        "id": uuid.uuid4(),
        "conversation_id": conversation_id,
        "user_id": user_id,
        "role": role,
        "content": "",
        "tool_calls": None,
        "tool_call_id": None,
        "reply_to_id": None,
        "llm_model_id": None,
        "model_name": None,
        "input_tokens": None,
        "output_tokens": None,
        "cached_tokens": None,
        "reasoning_tokens": None,
        "cost": None,
        "latency_ms": None,
        "ttft_ms": None,
        "finish_reason": None,
        "status": "complete",
        "error": None,
        "usage_estimated": False,
        "price_per_input_token": None,
        "price_per_output_token": None,
        "price_per_cache_read_token": None,
        "price_per_cache_write_token": None,
        "created_at": created_at,
        **experiment_columns(role),  # the A/B arm that chose the model, on its answers
        "selected_at": None,
    } | values


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


def _tool_calls_from_json(raw: list[Any] | str | None) -> tuple[ToolCall, ...]:
    if isinstance(raw, str):  # as stored (`_raw`): parsed only when there are calls
        raw = None if raw == "null" else orjson.loads(raw)
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


def history_messages(
    rows: Sequence[Any], images: dict[Any, tuple[ImagePart, ...]] | None = None
) -> list[Message]:
    """The stored conversation as unified messages (`rows`: ORM rows, Core rows, or anything
    with their attributes). Failed assistant turns with no text are
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
        elif row.role == "user" and images and getattr(row, "id", None) in images:
            parts: tuple[ContentPart, ...] = (TextPart(row.content), *images[row.id])
            out.append(Message(role="user", content=parts))
        elif row.role in ("user", "system", "developer"):
            out.append(Message(role=row.role, content=row.content))
    return out


def new_message_rows(
    conversation_id: uuid.UUID,
    user_id: uuid.UUID,
    messages: Sequence[Message],
    *,
    start: datetime | None = None,
) -> list[dict[str, Any]]:
    """Rows for messages the caller sent. Timestamps are spaced by a microsecond so the order
    of one request's messages survives `ORDER BY created_at`."""
    now = start or utcnow()
    return [
        message_row(
            conversation_id,
            user_id,
            m.role,
            now + timedelta(microseconds=i),
            content=m.text,
            tool_calls=tool_calls_json(m.tool_calls),
            tool_call_id=m.tool_call_id,
        )
        for i, m in enumerate(messages)
    ]
