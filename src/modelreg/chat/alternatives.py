"""Regenerate an answer, retry a failed one, edit a sent message, pick an alternative.

- **Regenerate** (also **Retry**): a new answer to a stored user message, by the same or
  another model, from the history up to that message. The user message is not stored again
  and not sent twice. The new answer replies to it (`reply_to_id`) and is selected; the
  answers before it stay as alternatives (chat/branches.py). A failed answer (status
  `error` with no text: the model never said anything) is not an alternative: it is deleted
  when the user message is answered again, so a retried turn leaves one answer.
- **Edit**: the user message is replaced by the new text (and images), and everything after
  it in the conversation — later messages and their alternatives — is deleted in the same
  transaction as the new message is written. Deleting, not keeping an inactive branch: the
  issue asks that the branch be replaced, not mixed in, and a deleted branch cannot leak
  into a later history or an export. Alternatives of earlier answers stay.
- **Select**: makes one alternative the one the history (and the UI) uses from now on.

Each returns a prepared `Turn` (validated like any chat turn: model, limits), answered by the
chat service's `complete` or `stream` as a new turn is.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import update

from modelreg.actor import Actor
from modelreg.chat.branches import Branches, branches
from modelreg.chat.images import CheckedImage, ImageIn, check_images, load_image_parts
from modelreg.chat.input_writer import write_input
from modelreg.chat.store import history_messages
from modelreg.chat.turn import Turn, TurnInput
from modelreg.db.models import Message as MessageRow
from modelreg.db.models import utcnow
from modelreg.errors import ConfigError, ValidationFailedError
from modelreg.types import Message, TextPart

if TYPE_CHECKING:
    from modelreg.chat.conversation_settings import SettingsStore
    from modelreg.chat.service import ChatService

__all__ = ["Alternatives", "MessageNotFoundError", "Sampling"]


class MessageNotFoundError(ConfigError):
    """No message with that id in the caller's conversation (shown as 404)."""

    def __init__(self) -> None:
        super().__init__("message not found in this conversation")


@dataclass(frozen=True, slots=True)
class Sampling:
    model: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None


class Alternatives:
    def __init__(self, chat: ChatService, settings: SettingsStore) -> None:
        self.chat = chat
        self.settings = settings

    async def _tree(
        self, actor: Actor, conversation_id: uuid.UUID
    ) -> tuple[list[MessageRow], Branches[MessageRow]]:
        _, rows = await self.chat.conversations.get(actor, conversation_id)
        return rows, branches(rows)

    async def regenerate(
        self, actor: Actor, conversation_id: uuid.UUID, message_id: uuid.UUID, sampling: Sampling
    ) -> Turn:
        rows, tree = await self._tree(actor, conversation_id)
        target = _find(rows, message_id)
        anchor = target.id if target.role == "user" else tree.anchor.get(target.id)
        if anchor is None:
            raise ValidationFailedError(
                "name a user message or an answer to one", field="message_id"
            )
        user = _find(rows, anchor)
        turn = await self._prepare(actor, conversation_id, user.content, sampling)
        assert turn.pending is not None
        turn.pending.messages = []  # the user message is stored already
        path = tree.active[: tree.active.index(user) + 1]
        turn.history = history_messages(path, await self._images(actor, conversation_id, path))
        turn.reply_to_id = user.id
        await self.settings.apply(turn)
        failed = [
            getattr(r, "id")  # noqa: B009
            for alternative in tree.alternatives.get(user.id, [])
            if alternative.head.status == "error" and not alternative.head.content
            for r in alternative.rows
        ]
        await write_input(self.chat.db, turn, replace=failed)
        return turn

    async def edit(
        self,
        actor: Actor,
        conversation_id: uuid.UUID,
        message_id: uuid.UUID,
        content: str,
        images: list[ImageIn] | None,
        sampling: Sampling,
    ) -> Turn:
        rows, tree = await self._tree(actor, conversation_id)
        target = _find(rows, message_id)
        if target.role != "user":
            raise ValidationFailedError("only a user message can be edited", field="message_id")
        turn = await self._prepare(actor, conversation_id, content, sampling)
        checked: list[CheckedImage] = check_images(images, turn.model)
        path = tree.active[: tree.active.index(target)]
        new = Message(role="user", content=(TextPart(content), *(i.part() for i in checked)))
        turn.history = [
            *history_messages(path, await self._images(actor, conversation_id, path)),
            new if checked else Message(role="user", content=content),
        ]
        await self.settings.apply(turn)
        await write_input(self.chat.db, turn, images=checked, replace=_from(rows, target))
        return turn

    async def select(self, actor: Actor, conversation_id: uuid.UUID, message_id: uuid.UUID) -> None:
        rows, tree = await self._tree(actor, conversation_id)
        target = _find(rows, message_id)
        if target.id not in tree.anchor:
            raise ValidationFailedError("name an answer (an assistant message)", field="message_id")
        table: Any = MessageRow.__table__
        async with self.chat.db.connection(actor) as conn:
            await conn.execute(
                update(table)
                .where(table.c.id == target.id, table.c.user_id == target.user_id)
                .values(selected_at=utcnow())
            )

    async def _prepare(
        self, actor: Actor, conversation_id: uuid.UUID, text: str, sampling: Sampling
    ) -> Turn:
        return await self.chat.prepare(
            actor,
            TurnInput(
                messages=(Message(role="user", content=text),),
                conversation_id=conversation_id,
                model=sampling.model,
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                max_tokens=sampling.max_tokens,
            ),
        )

    async def _images(
        self, actor: Actor, conversation_id: uuid.UUID, path: list[MessageRow]
    ) -> dict[uuid.UUID, Any]:
        if not any(r.role == "user" for r in path):
            return {}
        return await load_image_parts(self.chat.db, actor, conversation_id)


def _find(rows: list[MessageRow], message_id: uuid.UUID) -> MessageRow:
    for row in rows:
        if row.id == message_id:
            return row
    raise MessageNotFoundError()


def _from(rows: list[MessageRow], target: MessageRow) -> list[uuid.UUID]:
    """`target` and what follows it: the later rows of the thread, and the regenerated
    answers to the user messages among them."""
    plain = [r for r in rows if r.reply_to_id is None]
    later = plain[plain.index(target) :]
    users = {r.id for r in later if r.role == "user"}
    return [r.id for r in later] + [r.id for r in rows if r.reply_to_id in users]
