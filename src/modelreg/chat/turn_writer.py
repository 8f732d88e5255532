"""Group commit of chat turns: one transaction carries the writes of every turn waiting.

A turn writes little (a conversation, a user message, an answer); what costs is the
transaction around it. On SQLite only one transaction writes at a time, and a second writer
sleeps in the busy handler (in steps of up to 100 ms): 32 concurrent turns, each with its
own transactions, queued there for up to 1.8 s. On PostgreSQL each transaction was five or
more round trips and a WAL flush. So turns do not open transactions of their own:

- `write()` queues a turn's rows and waits until they are committed;
- one flusher task at a time takes everything queued, writes it in one transaction and
  wakes the waiters. SQLite: per user, multi-row INSERTs (SQLAlchemy Core, no unit of work)
  in one hop to the writer thread. PostgreSQL: one autocommitted statement on the driver's
  connection, `SELECT modelreg_store_turns($1)` (chat/pg_turns.py, migration 0015), which
  sets the RLS context per user and writes that user's rows: one round trip per batch.
  While it commits the next turns queue up, so under load a batch carries many turns, and
  a turn alone goes straight through (no timer, no wait);
- a batch that fails is retried turn by turn, so one bad turn (its conversation deleted in
  the meantime) does not fail the others; an outage fails them all (`DatabaseUnavailableError`).

Durability is the caller's: `write()` returns only after the COMMIT, and a turn's answer is
sent only after its `write()` returned, so whatever a client received complete is stored.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Connection, Executable, Table, bindparam, insert, update
from sqlalchemy.exc import IntegrityError

from modelreg.actor import Actor
from modelreg.chat.pg_turns import STORE_TURNS_SQL, batch_json
from modelreg.chat.store import ConversationNotFoundError
from modelreg.db.models import Conversation, Message
from modelreg.errors import DatabaseUnavailableError

if TYPE_CHECKING:
    from modelreg.db.engine import Database

__all__ = ["ConversationTouch", "TurnWrite", "TurnWriter"]

log = logging.getLogger(__name__)

CONVERSATIONS = cast(Table, Conversation.__table__)
MESSAGES = cast(Table, Message.__table__)

_TOUCH = (
    update(CONVERSATIONS)
    .where(CONVERSATIONS.c.id == bindparam("b_id"), CONVERSATIONS.c.user_id == bindparam("b_uid"))
    .values(updated_at=bindparam("b_at"))
)
_TOUCH_MODEL = _TOUCH.values(llm_model_id=bindparam("b_model"))
_NEW_CONVERSATIONS = insert(CONVERSATIONS)  # built once: the compiled form is cached
_NEW_MESSAGES = insert(MESSAGES)


@dataclass(frozen=True, slots=True)
class ConversationTouch:
    """A continuing conversation: its new `updated_at`, and its model when the turn named one."""

    id: uuid.UUID
    at: datetime
    set_model: bool = False
    model_id: uuid.UUID | None = None


@dataclass(slots=True)
class TurnWrite:
    """The rows of one turn (or of one part of it), written in one transaction."""

    actor: Actor
    user_id: uuid.UUID
    conversation: dict[str, Any] | None = None  # a new conversation's row
    touch: ConversationTouch | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)


class TurnWriter:
    def __init__(self, db: Database, *, max_batch: int = 256, one_statement: bool = True) -> None:
        self.db = db
        self.max_batch = max_batch
        # PostgreSQL: a batch is one call of modelreg_store_turns (migration 0015); False:
        # BEGIN, RLS context, Core INSERTs and UPDATEs, COMMIT (the reference the tests
        # compare it with)
        self.one_statement = one_statement
        self._queue: list[tuple[TurnWrite, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def write(self, work: TurnWrite) -> None:
        """Returns when `work` is committed; raises what kept it from being stored. The write
        goes on if the caller is cancelled meanwhile (it is then stored, unanswered)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # read even when nobody waits any more (a cancelled caller), so it is never "unretrieved"
        future.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._queue.append((work, future))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush())
        await asyncio.shield(future)

    async def _flush(self) -> None:
        try:
            while self._queue:
                batch = self._queue[: self.max_batch]
                del self._queue[: self.max_batch]
                await self._commit(batch)
        finally:
            self._flusher = None

    async def _commit(self, batch: list[tuple[TurnWrite, asyncio.Future[None]]]) -> None:
        try:
            await self._transaction([work for work, _ in batch])
        except DatabaseUnavailableError as exc:
            for _, future in batch:
                _settle(future, exc)
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][1], _reason(exc))
                return
            for one in batch:  # find the bad one; the others are stored as if alone
                await self._commit([one])
        else:
            for _, future in batch:
                _settle(future, None)

    async def _transaction(self, works: list[TurnWrite]) -> None:
        if self.db.runs_sync:  # SQLite: the whole transaction in one hop to its thread
            await self.db.run_sync(partial(_run_plan, _plan(works)), write=True)
            return
        if self.one_statement:  # PostgreSQL: the batch in one autocommitted statement
            payload = batch_json(_groups(works), self.db.app_role)
            async with self.db.driver_connection() as conn:
                await conn.execute(STORE_TURNS_SQL, payload)
            return
        async with self.db.connection() as conn:  # the same as Core statements
            for actor, steps in _plan(works):
                await self.db.act_as(conn, actor)
                for statement, params in steps:
                    await conn.execute(statement, params)


Step = tuple[Executable, list[dict[str, Any]]]


def _groups(works: list[TurnWrite]) -> list[list[TurnWrite]]:
    """The turns of a batch per user (the RLS context is set per user), in order."""
    by_actor: dict[tuple[uuid.UUID, str], list[TurnWrite]] = {}
    for work in works:
        by_actor.setdefault((work.user_id, work.actor.role), []).append(work)
    return list(by_actor.values())


def _plan(works: list[TurnWrite]) -> list[tuple[Actor, list[Step]]]:
    """The statements of a batch, per user: multi-row INSERTs of the new conversations, the
    updates of continuing ones, then the messages."""
    plan = []
    for group in _groups(works):
        steps: list[Step] = []
        new = [w.conversation for w in group if w.conversation is not None]
        if new:
            steps.append((_NEW_CONVERSATIONS, new))
        for statement, with_model in ((_TOUCH, False), (_TOUCH_MODEL, True)):
            params = [p for w in group if (p := _touch_params(w, with_model)) is not None]
            if params:
                steps.append((statement, params))
        rows = [row for w in group for row in w.messages]
        if rows:
            steps.append((_NEW_MESSAGES, rows))
        plan.append((group[0].actor, steps))
    return plan


def _run_plan(plan: list[tuple[Actor, list[Step]]], conn: Connection) -> None:
    for _actor, steps in plan:  # SQLite: no RLS context
        for statement, params in steps:
            conn.execute(statement, params)


def _touch_params(work: TurnWrite, with_model: bool) -> dict[str, Any] | None:
    touch = work.touch
    if touch is None or touch.set_model != with_model:
        return None
    params: dict[str, Any] = {"b_id": touch.id, "b_uid": work.user_id, "b_at": touch.at}
    if with_model:
        params["b_model"] = touch.model_id
    return params


def _reason(exc: Exception) -> Exception:
    # its conversation went away during the turn (asyncpg's errors carry the SQLSTATE:
    # class 23 is an integrity constraint violation, as SQLAlchemy's IntegrityError)
    if isinstance(exc, IntegrityError) or str(getattr(exc, "sqlstate", "")).startswith("23"):
        return ConversationNotFoundError()
    log.error("could not store a chat turn", exc_info=exc)
    return exc


def _settle(future: asyncio.Future[None], exc: BaseException | None) -> None:
    if future.done():
        return
    if exc is None:
        future.set_result(None)
    else:
        future.set_exception(exc)
