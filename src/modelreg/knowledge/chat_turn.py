"""The chat route's side of knowledge: a streamed turn's `done` event carries the passages
the answer was given, and they are stored on the assistant message first (the message is
written before `done` is sent, chat/service.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from modelreg.actor import Actor
from modelreg.chat.turn import ChatEvent
from modelreg.knowledge.enhancer import TurnKnowledge

if TYPE_CHECKING:
    from modelreg.knowledge.service import KnowledgeService

__all__ = ["with_citations"]


async def with_citations(
    events: AsyncIterator[ChatEvent],
    knowledge: KnowledgeService,
    actor: Actor,
    turn: TurnKnowledge,
) -> AsyncIterator[ChatEvent]:
    async for name, data in events:
        if name == "done" and turn.citations:
            await knowledge.cite(actor, uuid.UUID(str(data["message_id"])), turn.citations)
            data = {**data, "citations": turn.citations}
        yield name, data
