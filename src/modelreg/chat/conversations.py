"""Conversations of one user: list, create, read with messages, rename / re-model, delete.

Every query goes through `store.get_owned_conversation` or filters on the owner, so another
user's conversation behaves exactly like a missing one (`ConversationNotFoundError`).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, select

from modelreg.actor import Actor
from modelreg.chat.store import get_owned_conversation, load_messages, owner_id, uuid_or_none
from modelreg.db.models import Conversation, utcnow
from modelreg.db.models import Message as MessageRow

if TYPE_CHECKING:
    from modelreg.db.engine import Database
    from modelreg.registry.service import ModelManagerService

__all__ = ["ConversationService"]


class ConversationService:
    def __init__(self, db: Database, registry: ModelManagerService) -> None:
        self.db = db
        self.registry = registry

    async def list_recent(
        self, actor: Actor, *, limit: int = 50, offset: int = 0
    ) -> list[tuple[Conversation, int]]:
        user_id = owner_id(actor)
        counts = (
            select(MessageRow.conversation_id, func.count().label("n"))
            .where(MessageRow.user_id == user_id)
            .group_by(MessageRow.conversation_id)
            .subquery()
        )
        async with self.db.session(actor) as session:
            rows = await session.execute(
                select(Conversation, func.coalesce(counts.c.n, 0))
                .outerjoin(counts, counts.c.conversation_id == Conversation.id)
                .where(Conversation.user_id == user_id)
                .order_by(Conversation.updated_at.desc(), Conversation.id)
                .limit(limit)
                .offset(offset)
            )
            return [(conv, int(n)) for conv, n in rows.all()]

    async def create(
        self, actor: Actor, *, title: str | None = None, model: str | None = None
    ) -> Conversation:
        user_id = owner_id(actor)
        model_id = None
        if model:
            config = await self.registry.resolve(actor, model)
            model_id = uuid_or_none(config.id)
        async with self.db.session(actor) as session:
            conversation = Conversation(
                id=uuid.uuid4(),
                user_id=user_id,
                title=title or "New conversation",
                llm_model_id=model_id,
            )
            session.add(conversation)
            await session.flush()
            await session.refresh(conversation)
            return conversation

    async def get(
        self, actor: Actor, conversation_id: uuid.UUID
    ) -> tuple[Conversation, list[MessageRow]]:
        async with self.db.session(actor) as session:
            conversation = await get_owned_conversation(session, actor, conversation_id)
            return conversation, await load_messages(session, conversation)

    async def update(
        self,
        actor: Actor,
        conversation_id: uuid.UUID,
        *,
        title: str | None = None,
        model: str | None = None,
        clear_model: bool = False,
    ) -> Conversation:
        model_id = None
        if model:
            model_id = uuid_or_none((await self.registry.resolve(actor, model)).id)
        async with self.db.session(actor) as session:
            conversation = await get_owned_conversation(session, actor, conversation_id)
            if title is not None:
                conversation.title = title
            if model_id is not None or clear_model:
                conversation.llm_model_id = model_id
            conversation.updated_at = utcnow()
            await session.flush()
            return conversation

    async def delete(self, actor: Actor, conversation_id: uuid.UUID) -> None:
        async with self.db.session(actor) as session:
            conversation = await get_owned_conversation(session, actor, conversation_id)
            # explicit: SQLite enforces ON DELETE CASCADE only with the foreign_keys pragma
            await session.execute(
                delete(MessageRow).where(MessageRow.conversation_id == conversation.id)
            )
            await session.delete(conversation)
