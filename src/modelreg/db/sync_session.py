"""Session-style code on a synchronous connection, for `Database.run_sync` (SQLite).

The usage writer's steps are async functions over an `AsyncSession` (PostgreSQL runs them
so). On SQLite every `await session.execute(...)` of aiosqlite is a hop to its thread and
back, and its write transaction competes with the chat's turn writer for SQLite's write
lock (the loser sleeps in the busy handler). Run on the writer thread instead, over
`sync_session(conn)`, the same functions make one hop for the whole transaction and queue
behind the turn writer instead of sleeping.

The adapter's methods are coroutines that never suspend, so `run_to_completion` drives the
whole function in one step, on the calling thread.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Dialect, Result
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["run_to_completion", "sync_session"]

T = TypeVar("T")


class _SyncConnection:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    @property
    def dialect(self) -> Dialect:
        return self._conn.dialect

    async def exec_driver_sql(self, statement: str, parameters: Any = None) -> Result[Any]:
        return self._conn.exec_driver_sql(statement, parameters)


class _SyncSession:
    """What the usage writer's steps use of an AsyncSession: `execute`, `connection()` and
    `get_bind()`."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def execute(self, statement: Any, params: Any = None) -> Result[Any]:
        return self._conn.execute(statement, params)

    async def connection(self) -> _SyncConnection:
        return _SyncConnection(self._conn)

    def get_bind(self) -> Connection:
        return self._conn


def sync_session(conn: Connection) -> AsyncSession:
    """`conn` as the part of an AsyncSession that the usage writer's steps call (typed as
    one so they keep their signatures; anything else they called would fail loudly)."""
    return cast(AsyncSession, _SyncSession(conn))


def run_to_completion(coro: Coroutine[Any, Any, T]) -> T:
    """The result of a coroutine that awaits nothing but the adapter's methods."""
    try:
        coro.send(None)
    except StopIteration as done:
        return cast(T, done.value)
    coro.close()
    raise RuntimeError("a step awaited something other than the synchronous session")
