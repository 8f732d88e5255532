"""The start of a streamed chat turn: the model is called while the turn's input is written.

A stream writes its input before the response starts, so that an unreachable database is a
503 (not a 200 with an error event) and the conversation announced in `meta` exists. Done one
after the other, the write (a group commit: up to two batches' time under load, ~30 ms at
c=32 on PostgreSQL here) came before the upstream call and added to the time to first token.
`open_stream` starts both at once: the upstream's first event is awaited in a task while the
input is committed, and the events are handed out only when the write succeeded; when it
fails, the upstream call is cancelled and the write's error raised.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import TYPE_CHECKING

from modelreg.chat.turn import ChatEvent, Turn

if TYPE_CHECKING:
    from modelreg.chat.service import ChatService

__all__ = ["open_stream"]


async def open_stream(chat: ChatService, turn: Turn) -> AsyncIterator[ChatEvent]:
    """The events of `chat.stream(turn)`, once the turn's input is stored. Raises what kept
    the input from being stored (DatabaseUnavailableError, ConversationNotFoundError)."""
    events = chat.stream(turn)
    meta = await anext(events)  # yielded before any I/O
    first = asyncio.ensure_future(anext(events))  # the upstream call starts now
    try:
        await chat.store_input(turn)
    except BaseException:
        first.cancel()
        with contextlib.suppress(BaseException):
            await first
        await events.aclose()
        raise
    return _chained(meta, first, events)


async def _chained(
    meta: ChatEvent,
    first: asyncio.Future[ChatEvent],
    events: AsyncGenerator[ChatEvent, None],
) -> AsyncIterator[ChatEvent]:
    try:
        yield meta
        try:
            yield await first
        except StopAsyncIteration:
            return
        async for event in events:
            yield event
    finally:
        if not first.done():  # the reader left before the first event
            first.cancel()
            with contextlib.suppress(BaseException):
                await first
        await events.aclose()
