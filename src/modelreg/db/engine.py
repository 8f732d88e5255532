"""The Database: one async engine, and sessions that are one transaction each.

On PostgreSQL every transaction first switches to the application role (`modelreg_app`,
which row-level security applies to) and records who is asking, with `set_config(..., true)`
so both are undone when the transaction ends and never leak to the next user of the pooled
connection. On SQLite the service layer applies the same rules.

A session or ping that fails because the database is unreachable raises
`DatabaseUnavailableError` (db/outage.py decides what counts), which every API surface answers
as a 503 with `Retry-After`; the pool reconnects on its own when the database is back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from modelreg.actor import Actor
from modelreg.db.outage import Outage, is_outage
from modelreg.db.rls import APP_ROLE, rls_context_sql
from modelreg.errors import ModelregError

if TYPE_CHECKING:
    from modelreg.settings import Settings

__all__ = ["Database", "Dialect", "normalize_url"]

Dialect = Literal["sqlite", "postgresql"]
T = TypeVar("T")


def normalize_url(url: str) -> str:
    """Accept plain `sqlite:///` and `postgresql://` URLs and pick the async drivers."""
    if url.startswith("sqlite://"):
        return "sqlite+aiosqlite://" + url[len("sqlite://") :]
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets readers run while one writer writes; busy_timeout makes concurrent writers
    # wait instead of failing at once; SQLite enforces foreign keys only when asked to.
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class Database:
    def __init__(
        self,
        url: str,
        *,
        app_role: str | None = APP_ROLE,
        pool_size: int = 10,
        echo: bool = False,
        connect_timeout: float = 5.0,
    ) -> None:
        self.url = normalize_url(url)
        self.outage = Outage(self.url)
        backend = make_url(self.url).get_backend_name()
        if backend not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported database backend {backend!r}")
        self.dialect: Dialect = "sqlite" if backend == "sqlite" else "postgresql"
        # PostgreSQL: the role each transaction switches to (None: stay the login role)
        self.app_role = app_role if self.dialect == "postgresql" else None
        kwargs: dict[str, Any] = {"echo": echo}
        if self.dialect == "postgresql":
            kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=False)
            # asyncpg waits 60 s for an unanswered connect; a request should not
            kwargs["connect_args"] = {"timeout": connect_timeout}
        elif make_url(self.url).database in (None, "", ":memory:"):
            # each pooled connection would see its own empty in-memory database
            raise ValueError("use a SQLite file, not an in-memory database")
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        self._sync: Engine | None = None
        self._writer: ThreadPoolExecutor | None = None
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            # aiosqlite hops to its thread and back for every statement, fetch and commit
            # (~90 µs of CPU each on a busy 2-core machine); `run_sync` makes it one hop
            self._sync = create_engine(make_url(self.url).set(drivername="sqlite"), echo=echo)
            event.listen(self._sync, "connect", _sqlite_pragmas)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        return cls(
            settings.resolved_database_url, connect_timeout=settings.database_connect_timeout
        )

    @asynccontextmanager
    async def session(self, actor: Actor) -> AsyncIterator[AsyncSession]:
        """One transaction as `actor`: committed when the block ends, rolled back on error.
        Raises DatabaseUnavailableError when the database cannot be reached."""
        async with self._watching_outages(), self._sessions() as session, session.begin():
            if self.dialect == "postgresql":
                sql, params = rls_context_sql(actor, self.app_role)
                await session.execute(text(sql), params)
            yield session

    @asynccontextmanager
    async def connection(self, actor: Actor | None = None) -> AsyncIterator[AsyncConnection]:
        """One transaction on a Core connection, without the ORM's unit of work (the chat
        path's reads and batched writes): committed when the block ends, rolled back on error.
        `actor`: who is asking, as in `session`; None: the caller sets it with `act_as`
        (a transaction that carries the writes of several users switches between them)."""
        async with self._watching_outages(), self.engine.begin() as conn:
            if actor is not None:
                await self.act_as(conn, actor)
            yield conn

    async def act_as(self, conn: AsyncConnection, actor: Actor) -> None:
        """PostgreSQL: the app role and `actor` for the rest of this transaction (settings
        local to the transaction; a later call switches to another actor)."""
        if self.dialect == "postgresql":
            sql, params = rls_context_sql(actor, self.app_role)
            await conn.execute(text(sql), params)

    @asynccontextmanager
    async def driver_connection(self) -> AsyncIterator[Any]:
        """PostgreSQL: the asyncpg connection of a pooled connection, outside any transaction,
        so that each statement on it is one round trip and commits on its own (the chat
        path's batch of turns). Nothing of SQLAlchemy runs per statement: the caller sets the
        RLS context in its statement, and errors come as asyncpg raises them (outages as
        `DatabaseUnavailableError`, the connection then dropped from the pool)."""
        if self.dialect != "postgresql":
            raise RuntimeError("driver_connection is for PostgreSQL")
        async with self._watching_outages(), self.engine.connect() as conn:
            raw = await conn.get_raw_connection()
            try:
                yield raw.driver_connection
            except BaseException as exc:
                # SQLAlchemy did not see it: pool neither a dead connection nor one whose
                # statement was cancelled half-way
                if isinstance(exc, asyncio.CancelledError) or is_outage(exc):
                    await conn.invalidate()
                raise

    @property
    def runs_sync(self) -> bool:
        """SQLite: `run_sync` is available (PostgreSQL: use `connection`)."""
        return self._sync is not None

    async def run_sync(self, fn: Callable[[Connection], T], *, write: bool) -> T:
        """SQLite only: `fn` in one transaction of a synchronous connection, in a thread, so
        that the whole transaction costs one hop there and back. Writes go to one writer
        thread (they queue there instead of in SQLite's busy handler, which sleeps), reads to
        the default executor. Outages are reported as by `session`."""
        if self._sync is None:
            raise RuntimeError("run_sync is for SQLite")
        if write and self._writer is None:
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="modelreg-sqlite-writer")
        loop = asyncio.get_running_loop()
        async with self._watching_outages():
            return await loop.run_in_executor(
                self._writer if write else None, self._in_transaction, fn
            )

    def _in_transaction(self, fn: Callable[[Connection], T]) -> T:
        assert self._sync is not None
        with self._sync.begin() as conn:
            return fn(conn)

    async def ping(self) -> None:
        async with self._watching_outages(), self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    @asynccontextmanager
    async def _watching_outages(self) -> AsyncIterator[None]:
        """A failure to reach the database becomes DatabaseUnavailableError (logged once per
        outage); the first success after one says it is back."""
        try:
            yield
        except ModelregError:
            raise  # ours, raised by the block (an outage of a nested session included)
        except Exception as exc:
            if is_outage(exc):
                raise self.outage.unavailable(exc) from exc
            raise
        if self.outage.down:
            self.outage.recovered()

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None
        if self._sync is not None:
            self._sync.dispose()

    def __repr__(self) -> str:
        # the URL may hold a password: render it masked
        return f"Database({make_url(self.url).render_as_string(hide_password=True)!r})"
