"""The built-in context enhancer (modelreg.chat.enhance): before each chat turn, the
question (the last user message) is searched in the conversation's collections, and the
context goes to the model as a system message ahead of the conversation. The passages used
are handed to the turn's `TurnKnowledge`, which the chat route stores on the answer as its
citations.

A turn's choices (the collections named in the request, the retrieval mode) travel in a
context variable set by the chat route around the turn: the enhancer's interface stays the
one every enhancer implements, `enhance(actor, conversation_id, messages)`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from modelreg.actor import Actor
from modelreg.knowledge.retrieval import Mode, Retriever
from modelreg.knowledge.store import KnowledgeStore
from modelreg.types import Message

__all__ = ["CONTEXT_PREAMBLE", "KnowledgeEnhancer", "TurnKnowledge", "turn_knowledge"]

CONTEXT_PREAMBLE = (
    "Answer using the context below, retrieved from the user's documents. Cite the passages "
    "you use by their number in square brackets, like [1]. If the context does not contain "
    "the answer, say so."
)


@dataclass(slots=True)
class TurnKnowledge:
    """One turn's retrieval: what it asked for, and the passages it used (filled in)."""

    mode: Mode = "auto"
    # the conversation's collections when the turn already knows them (named in the
    # request, or none for a conversation this turn creates): no query; None: look them up
    collections: list[uuid.UUID] | None = None
    citations: list[dict[str, Any]] = field(default_factory=list)
    retrieval_mode: str | None = None


_TURN: ContextVar[TurnKnowledge | None] = ContextVar("modelreg_knowledge_turn", default=None)


@contextmanager
def turn_knowledge(turn: TurnKnowledge) -> Iterator[TurnKnowledge]:
    """Around a chat turn: tasks started inside (a stream's upstream call) see `turn`."""
    token = _TURN.set(turn)
    try:
        yield turn
    finally:
        _TURN.reset(token)


class KnowledgeEnhancer:
    def __init__(self, store: KnowledgeStore, retriever: Retriever) -> None:
        self.store = store
        self.retriever = retriever

    async def enhance(
        self, actor: Actor, conversation_id: uuid.UUID, messages: Sequence[Message]
    ) -> Sequence[Message]:
        if actor.id is None:
            return messages
        turn = _TURN.get() or TurnKnowledge()
        collections = turn.collections
        if collections is None:
            collections = await self.store.attached(actor, conversation_id)
        question = next((m.text for m in reversed(messages) if m.role == "user"), "")
        if not collections or not question.strip():
            return messages
        found = await self.retriever.retrieve(actor, collections, question, mode=turn.mode)
        turn.retrieval_mode = found.mode
        turn.citations = [p.citation(n) for n, p in enumerate(found.passages, 1)]
        context = found.context()
        if not context:
            return messages
        note = Message(role="system", content=f"{CONTEXT_PREAMBLE}\n\n{context}")
        return [note, *messages]
