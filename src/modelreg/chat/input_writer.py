"""Writing a turn's input in one transaction when it is more than rows to append: images of
the user message (their rows need the message row first) and, for an edit, the branch the
edited message replaces. The group-commit `TurnWriter` only appends; these turns are rare,
so they take a transaction of their own, and the turn goes on without pending input."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, delete, insert, update

from modelreg.chat.images import CheckedImage, image_rows
from modelreg.chat.turn import Turn
from modelreg.db.models import Conversation, Message, MessageImage

if TYPE_CHECKING:
    from modelreg.db.engine import Database

__all__ = ["write_input"]

_CONVERSATIONS = cast(Table, Conversation.__table__)
_MESSAGES = cast(Table, Message.__table__)
_IMAGES = cast(Table, MessageImage.__table__)


async def write_input(
    db: Database,
    turn: Turn,
    *,
    images: Sequence[CheckedImage] = (),
    replace: Collection[uuid.UUID] = (),
) -> None:
    """Store the turn's pending input with `images` on its (last) user message, after
    deleting the messages `replace` (their images go with them), all in one transaction."""
    pending, turn.pending = turn.pending, None
    if pending is None:
        return
    users = [m for m in pending.messages if m["role"] == "user"]
    image_values: list[dict[str, Any]] = []
    if images and users:
        image_values = image_rows(list(images), users[-1], turn.conversation_id)
    owner = turn.user_id
    async with db.connection(turn.actor) as conn:
        if replace:
            ids = list(replace)
            await conn.execute(
                delete(_IMAGES).where(_IMAGES.c.message_id.in_(ids), _IMAGES.c.user_id == owner)
            )
            # answers first: they name the user messages they reply to
            for roles in (("assistant", "tool", "system", "developer"), ("user",)):
                await conn.execute(
                    delete(_MESSAGES).where(
                        _MESSAGES.c.id.in_(ids),
                        _MESSAGES.c.user_id == owner,
                        _MESSAGES.c.role.in_(roles),
                    )
                )
        if pending.conversation is not None:
            await conn.execute(insert(_CONVERSATIONS), [pending.conversation])
        if pending.touch is not None:
            values: dict[str, Any] = {"updated_at": pending.touch.at}
            if pending.touch.set_model:
                values["llm_model_id"] = pending.touch.model_id
            await conn.execute(
                update(_CONVERSATIONS)
                .where(_CONVERSATIONS.c.id == pending.touch.id, _CONVERSATIONS.c.user_id == owner)
                .values(**values)
            )
        if pending.messages:
            await conn.execute(insert(_MESSAGES), pending.messages)
        if image_values:
            await conn.execute(insert(_IMAGES), image_values)
