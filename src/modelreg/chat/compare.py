"""Side-by-side compare: one prompt to 2-4 models at once, through the chat turn machinery.

Each model's answer is an ordinary chat turn (`ChatService.prepare` / `complete` /
`stream`), so usage, cost, latency and the model are recorded per model exactly as for
/api/chat. What compare adds:

- every model is checked (`prepare`) before anything is written, so bad input leaves no rows;
- one user message is stored, once, before the models are called; every answer is a stored
  assistant message whose `reply_to_id` names it (siblings: one per model);
- the models run concurrently; a stream merges their events as they arrive, each tagged
  with its column (and, outside the blind arena, its model id), never buffered per model.

A compare does not change the conversation's model (a named model in /api/chat does).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from modelreg.actor import Actor
from modelreg.chat.events import error_type
from modelreg.chat.store import ConversationNotFoundError
from modelreg.chat.turn import ChatEvent, Turn, TurnInput, TurnResult
from modelreg.errors import ConfigError, ModelregError, ValidationFailedError
from modelreg.model_config import ModelConfig
from modelreg.types import Message

if TYPE_CHECKING:
    from modelreg.chat.service import ChatService

__all__ = [
    "MAX_MODELS",
    "MIN_MODELS",
    "ColumnEvent",
    "CompareModelError",
    "CompareRun",
    "CompareService",
    "ModelAnswer",
    "is_embedding_model",
]

log = logging.getLogger(__name__)

MIN_MODELS = 2
MAX_MODELS = 4

_EMBEDDING_NAME = re.compile(r"embed", re.IGNORECASE)

# (column, event name, data) of a merged stream
ColumnEvent = tuple[int, str, dict[str, Any]]


def is_embedding_model(model: ModelConfig) -> bool:
    """An embedding model cannot chat: the registry's `kind` says so; models registered before
    it existed are recognised by an option `"kind": "embedding"` or an upstream name that says
    embed (text-embedding-3-small, nomic-embed-text, ...)."""
    if model.kind == "embedding":
        return True
    kind = model.options.get("kind") or model.options.get("type")
    if isinstance(kind, str) and kind.lower() in ("embedding", "embeddings"):
        return True
    return bool(_EMBEDDING_NAME.search(model.model_id))


class CompareModelError(ModelregError):
    """One of the requested models cannot be used; `index` says which, `cause` why."""

    def __init__(self, index: int, cause: ModelregError) -> None:
        super().__init__(f"model_ids[{index}]: {cause.message}")
        self.index = index
        self.cause = cause


@dataclass(frozen=True, slots=True)
class ModelAnswer:
    """One column's outcome: the stored answer, or the error that ended it."""

    column: int
    turn: Turn
    result: TurnResult | None
    error: ModelregError | None
    latency_ms: float


@dataclass(slots=True)
class CompareRun:
    """Validated turns, one per model, answering one stored user message."""

    turns: list[Turn]
    conversation_id: uuid.UUID
    reply_to_id: uuid.UUID


class CompareService:
    def __init__(self, chat: ChatService) -> None:
        self.chat = chat

    async def prepare(
        self,
        actor: Actor,
        model_ids: Sequence[str],
        message: str,
        *,
        conversation_id: uuid.UUID | None = None,
        title: str | None = None,
    ) -> CompareRun:
        """Check every model (visible, enabled, a chat model, within limits) and the
        conversation; nothing is written yet."""
        if not MIN_MODELS <= len(model_ids) <= MAX_MODELS:
            raise ValidationFailedError(
                f"give {MIN_MODELS} to {MAX_MODELS} models", field="model_ids"
            )
        if len(set(model_ids)) != len(model_ids):
            raise ValidationFailedError("a model is named twice", field="model_ids")
        inp = TurnInput(
            messages=(Message(role="user", content=message),),
            conversation_id=conversation_id,
            title=title,
        )
        turns: list[Turn] = []
        for index, model_id in enumerate(model_ids):
            try:
                turn = await self.chat.prepare(actor, replace(inp, model=model_id))
            except (ValidationFailedError, ConversationNotFoundError):
                raise
            except ConfigError as exc:  # unknown, disabled, someone else's, keyless
                raise CompareModelError(index, exc) from exc
            if is_embedding_model(turn.model):
                raise CompareModelError(
                    index, ValidationFailedError(f"{turn.model.name!r} is an embedding model")
                )
            turns.append(turn)
        if len({t.model.id for t in turns}) != len(turns):  # a name and an id of one model
            raise ValidationFailedError("a model is named twice", field="model_ids")
        first = turns[0]
        assert first.pending is not None
        if first.pending.touch is not None:  # a compare keeps the conversation's model
            first.pending.touch = replace(first.pending.touch, set_model=False, model_id=None)
        reply_to_id = first.pending.messages[-1]["id"]
        for turn in turns:
            turn.reply_to_id = reply_to_id
        for turn in turns[1:]:  # the first turn carries the conversation and the message
            turn.conversation_id = first.conversation_id
            turn.pending = None
        return CompareRun(turns, first.conversation_id, reply_to_id)

    async def store_input(self, run: CompareRun) -> None:
        """The conversation (when new) and the user message, before any model is called: the
        answers arrive in any order and each is written on its own."""
        await self.chat.store_input(run.turns[0])

    async def complete(self, run: CompareRun) -> list[ModelAnswer]:
        """Every model at once; an upstream error ends its own column only (and is stored as
        that answer's error, as /api/chat stores it)."""
        return list(await asyncio.gather(*(self._one(i, t) for i, t in enumerate(run.turns))))

    async def _one(self, column: int, turn: Turn) -> ModelAnswer:
        started = time.perf_counter()
        try:
            result = await self.chat.complete(turn)
        except ConversationNotFoundError:
            raise
        except ModelregError as exc:
            took = (time.perf_counter() - started) * 1000
            return ModelAnswer(column, turn, None, exc, took)
        return ModelAnswer(column, turn, result, None, result.latency_ms)

    def stream(self, run: CompareRun) -> AsyncIterator[ColumnEvent]:
        """The events of every model's turn, merged as they arrive."""
        return merge_streams([self.chat.stream(turn) for turn in run.turns])


async def merge_streams(
    streams: Sequence[AsyncGenerator[ChatEvent, None]],
) -> AsyncIterator[ColumnEvent]:
    """(column, event, data) from every stream as soon as it has it. Closing this iterator
    (the reader left) cancels every stream, which then books what it used (ChatService)."""
    queue: asyncio.Queue[tuple[int, ChatEvent | None]] = asyncio.Queue()

    async def pump(column: int, events: AsyncGenerator[ChatEvent, None]) -> None:
        try:
            async for event in events:
                queue.put_nowait((column, event))
        except Exception as exc:  # the turn reports its own errors; this is a bug
            log.exception("a compare column failed")
            error = exc if isinstance(exc, ModelregError) else ModelregError("internal error")
            queue.put_nowait(
                (column, ("error", {"type": error_type(error), "message": error.message}))
            )
        finally:
            queue.put_nowait((column, None))

    tasks = [asyncio.create_task(pump(i, s)) for i, s in enumerate(streams)]
    try:
        open_columns = len(tasks)
        while open_columns:
            column, item = await queue.get()
            if item is None:
                open_columns -= 1
                continue
            yield column, item[0], item[1]
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
