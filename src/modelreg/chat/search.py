"""Search the caller's conversations by title and message text.

Case-insensitive on both databases: `lower(column) LIKE lower(pattern)` (PostgreSQL's ILIKE
and SQLite's LIKE differ on non-ASCII letters; `lower()` of both sides is the same on
each for ASCII, and PostgreSQL lowers non-ASCII too). `%`, `_` and `\\` in the query are
matched literally. Newest conversation first, paginated with limit / offset. A scan: fine
for one user's conversations; a full-text index is the step after.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import exists, func, or_, select

from modelreg.actor import Actor
from modelreg.chat.store import owner_id
from modelreg.db.models import Conversation
from modelreg.db.models import Message as MessageRow
from modelreg.errors import ValidationFailedError

if TYPE_CHECKING:
    from modelreg.db.engine import Database

__all__ = ["search_conversations"]


def _pattern(query: str) -> str:
    escaped = query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def search_conversations(
    db: Database, actor: Actor, query: str, *, limit: int, offset: int
) -> list[tuple[Conversation, int]]:
    if "\x00" in query:
        raise ValidationFailedError("may not contain NUL characters", field="q")
    user_id = owner_id(actor)
    pattern = _pattern(query)
    in_text = exists().where(
        MessageRow.conversation_id == Conversation.id,
        MessageRow.user_id == user_id,
        MessageRow.role.in_(("user", "assistant")),
        func.lower(MessageRow.content).like(pattern, escape="\\"),
    )
    counts = (
        select(func.count())
        .where(MessageRow.conversation_id == Conversation.id, MessageRow.user_id == user_id)
        .scalar_subquery()
    )
    async with db.session(actor) as session:
        rows = await session.execute(
            select(Conversation, counts)
            .where(
                Conversation.user_id == user_id,
                or_(func.lower(Conversation.title).like(pattern, escape="\\"), in_text),
            )
            .order_by(Conversation.updated_at.desc(), Conversation.id)
            .limit(limit)
            .offset(offset)
        )
        return [(conversation, int(n)) for conversation, n in rows.all()]
