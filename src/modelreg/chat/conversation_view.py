"""The messages of a conversation as the API shows them: every stored message, with where it
stands among alternatives (`active`, `reply_to_id`, `alternatives`) and its images' URLs."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from sqlalchemy import select

from modelreg.actor import Actor
from modelreg.chat.branches import branches
from modelreg.chat.schemas import MessageOut
from modelreg.chat.store import owner_id
from modelreg.db.models import Message as MessageRow
from modelreg.db.models import MessageImage

if TYPE_CHECKING:
    from modelreg.db.engine import Database

__all__ = ["image_url", "message_views"]


def image_url(conversation_id: uuid.UUID, image_id: uuid.UUID) -> str:
    return f"/api/conversations/{conversation_id}/images/{image_id}"


async def message_views(
    db: Database, actor: Actor, conversation_id: uuid.UUID, rows: list[MessageRow]
) -> list[MessageOut]:
    tree = branches(rows)
    active = {r.id for r in tree.active}
    images: dict[uuid.UUID, list[uuid.UUID]] = {}
    if any(r.role == "user" for r in rows):
        i = MessageImage.__table__.c
        async with db.connection(actor) as conn:
            found = await conn.execute(
                select(i.id, i.message_id)
                .where(i.conversation_id == conversation_id, i.user_id == owner_id(actor))
                .order_by(i.message_id, i.position)
            )
            for image_id, message_id in found.all():
                images.setdefault(message_id, []).append(image_id)
    out = []
    for row in rows:
        view = MessageOut.of(row)
        view.active = row.id in active
        anchor = tree.anchor.get(row.id)
        if anchor is not None:
            view.reply_to_id = anchor
            view.alternatives = [a.head.id for a in tree.alternatives[anchor]]
        view.images = [image_url(conversation_id, x) for x in images.get(row.id, [])]
        out.append(view)
    return out
