"""Thumbs up / down (and a comment) on an answer: a chat message or a gateway response.

- A chat answer is an assistant message of a conversation the caller owns; anything else
  the caller cannot see (someone else's, or no such message) is `FeedbackTargetNotFound`,
  answered 404 like a missing one. A message that is not an answer is refused (422).
- A gateway response is named by the request id the gateway returned (`x-request-id`, or
  `request-id` on /v1/messages), found through the usage event it was booked with, which
  must be the caller's. The usage event is written in the background a fraction of a second
  after the answer; `flush` (the local recorder's) is awaited once before giving up, so a
  rating that follows its answer at once is found.

A second rating replaces the first (one row per answer); deleting removes it.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite

from modelreg.actor import Actor
from modelreg.db.analytics_models import COMMENT_MAX, MessageFeedback, ResponseFeedback
from modelreg.db.engine import Database
from modelreg.db.models import Conversation, Message, UsageEvent, utcnow
from modelreg.errors import ModelregError, ValidationFailedError

__all__ = [
    "FeedbackIn",
    "FeedbackOut",
    "FeedbackTargetNotFoundError",
    "conversation_feedback",
    "delete_message_feedback",
    "delete_response_feedback",
    "rate_message",
    "rate_response",
]


class FeedbackTargetNotFoundError(ModelregError):
    """No answer of that id that the caller may see (someone else's counts as missing)."""


class FeedbackIn(BaseModel):
    rating: Literal[1, -1] = Field(description="1: good response (thumbs up), -1: bad response")
    comment: str | None = Field(
        None, max_length=COMMENT_MAX, description=f"Optional, at most {COMMENT_MAX} characters"
    )


class FeedbackOut(BaseModel):
    message_id: uuid.UUID | None = Field(None, description="The rated chat answer")
    response_id: str | None = Field(None, description="The rated gateway response")
    rating: Literal[1, -1]
    comment: str | None
    created_at: datetime
    updated_at: datetime


def _upsert(postgres: bool, table: Any, key: str, values: dict[str, Any]) -> Any:
    insert = postgresql.insert(table) if postgres else sqlite.insert(table)
    stmt = insert.values(**values)
    changed = {k: stmt.excluded[k] for k in ("rating", "comment", "updated_at")}
    return stmt.on_conflict_do_update(index_elements=[key], set_=changed).returning(
        table.c.created_at
    )


def _clean(comment: str | None) -> str | None:
    if comment is None:
        return None
    comment = comment.replace("\x00", "\ufffd").strip()
    return comment or None


async def _own_answer(session: Any, actor: Actor, message_id: uuid.UUID) -> None:
    row = (
        await session.execute(
            select(Message.role).where(Message.id == message_id, Message.user_id == actor.id)
        )
    ).first()
    if row is None:
        raise FeedbackTargetNotFoundError("Message not found")
    if row.role != "assistant":
        raise ValidationFailedError(
            "only answers (assistant messages) can be rated", field="message_id"
        )


async def rate_message(
    db: Database, actor: Actor, message_id: uuid.UUID, body: FeedbackIn
) -> FeedbackOut:
    now = utcnow()
    comment = _clean(body.comment)
    async with db.session(actor) as session:
        await _own_answer(session, actor, message_id)
        values = {
            "message_id": message_id,
            "user_id": actor.id,
            "rating": body.rating,
            "comment": comment,
            "created_at": now,
            "updated_at": now,
        }
        table = MessageFeedback.__table__
        created = (
            await session.execute(_upsert(db.dialect == "postgresql", table, "message_id", values))
        ).scalar_one()
    return FeedbackOut(
        message_id=message_id, rating=body.rating, comment=comment, created_at=created,
        updated_at=now,
    )  # fmt: skip


async def delete_message_feedback(db: Database, actor: Actor, message_id: uuid.UUID) -> None:
    async with db.session(actor) as session:
        await _own_answer(session, actor, message_id)
        await session.execute(
            delete(MessageFeedback).where(
                MessageFeedback.message_id == message_id, MessageFeedback.user_id == actor.id
            )
        )


async def conversation_feedback(
    db: Database, actor: Actor, conversation_id: uuid.UUID
) -> list[FeedbackOut]:
    """The caller's ratings of the answers of one of their conversations."""
    async with db.session(actor) as session:
        owned = await session.execute(
            select(Conversation.id).where(
                Conversation.id == conversation_id, Conversation.user_id == actor.id
            )
        )
        if owned.first() is None:
            raise FeedbackTargetNotFoundError("Conversation not found")
        rows = await session.execute(
            select(MessageFeedback)
            .join(Message, Message.id == MessageFeedback.message_id)
            .where(Message.conversation_id == conversation_id, MessageFeedback.user_id == actor.id)
        )
        return [
            FeedbackOut(
                message_id=f.message_id,
                rating=1 if f.rating > 0 else -1,
                comment=f.comment,
                created_at=f.created_at,
                updated_at=f.updated_at,
            )
            for f in rows.scalars()
        ]


async def _response_event(session: Any, actor: Actor, response_id: str) -> Any:
    return (
        await session.execute(
            select(UsageEvent.llm_model_id, UsageEvent.model_name, UsageEvent.created_at)
            .where(UsageEvent.request_id == response_id, UsageEvent.user_id == actor.id)
            # a fallback chain books each failed member too: the answer is the last success
            .order_by((UsageEvent.status == "error").asc(), UsageEvent.created_at.desc())
            .limit(1)
        )
    ).first()


async def _find_response(
    db: Database, actor: Actor, response_id: str, flush: Callable[[], Awaitable[None]] | None
) -> Any:
    for attempt in range(2):
        async with db.session(actor) as session:
            event = await _response_event(session, actor, response_id)
        if event is not None:
            return event
        if attempt == 0 and flush is not None:
            await flush()  # the usage event may still be queued in this process
    raise FeedbackTargetNotFoundError("Response not found")


async def rate_response(
    db: Database,
    actor: Actor,
    response_id: str,
    body: FeedbackIn,
    flush: Callable[[], Awaitable[None]] | None = None,
) -> FeedbackOut:
    event = await _find_response(db, actor, response_id, flush)
    now = utcnow()
    comment = _clean(body.comment)
    values = {
        "request_id": response_id,
        "user_id": actor.id,
        "llm_model_id": event.llm_model_id,
        "model_name": event.model_name,
        "answered_at": event.created_at,
        "rating": body.rating,
        "comment": comment,
        "created_at": now,
        "updated_at": now,
    }
    async with db.session(actor) as session:
        table = ResponseFeedback.__table__
        created = (
            await session.execute(_upsert(db.dialect == "postgresql", table, "request_id", values))
        ).scalar_one()
    return FeedbackOut(
        response_id=response_id, rating=body.rating, comment=comment, created_at=created,
        updated_at=now,
    )  # fmt: skip


async def delete_response_feedback(
    db: Database,
    actor: Actor,
    response_id: str,
    flush: Callable[[], Awaitable[None]] | None = None,
) -> None:
    await _find_response(db, actor, response_id, flush)
    async with db.session(actor) as session:
        await session.execute(
            delete(ResponseFeedback).where(
                ResponseFeedback.request_id == response_id, ResponseFeedback.user_id == actor.id
            )
        )
