"""What an ordinary chat turn gets beyond `ChatService.prepare`: the conversation's settings
(system prompt, sampling parameters) and the images attached to its user message."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelreg.chat.conversation_settings import SettingsStore
from modelreg.chat.images import ImageIn, check_images
from modelreg.chat.input_writer import write_input
from modelreg.types import ContentPart, Message, TextPart

if TYPE_CHECKING:
    from modelreg.chat.service import ChatService
    from modelreg.chat.turn import Turn

__all__ = ["add_extras"]


async def add_extras(chat: ChatService, turn: Turn, images: list[ImageIn] | None) -> None:
    """Raises ValidationFailedError (naming `images`) before anything is stored."""
    checked = check_images(images, turn.model)
    await SettingsStore(chat.db, chat.registry).apply(turn)
    if not checked:
        return
    for i in range(len(turn.history) - 1, -1, -1):
        message = turn.history[i]
        if message.role == "user":
            parts: tuple[ContentPart, ...] = (
                TextPart(message.text),
                *(image.part() for image in checked),
            )
            turn.history[i] = Message(role="user", content=parts)
            break
    await write_input(chat.db, turn, images=checked)
