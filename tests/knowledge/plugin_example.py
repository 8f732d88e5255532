"""A retrieval service plugged in by configuration (MODELREG_CONTEXT_ENHANCER), for the test."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from modelreg.actor import Actor
from modelreg.types import Message

MARK = "Context from the plugged-in service: the moon is made of cheese."


class Plugged:
    async def enhance(
        self, actor: Actor, conversation_id: uuid.UUID, messages: Sequence[Message]
    ) -> Sequence[Message]:
        return [Message(role="system", content=MARK), *messages]


def build() -> Plugged:
    return Plugged()
