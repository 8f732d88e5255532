"""Cross-process cache invalidation through a generation value in the database.

Every process (each `serve --workers` worker, each replica, each CLI run) keeps its own
registry and token caches. A write that can make a cached entry stale calls `bump(session,
scope)` in the same transaction as the write, so the new generation becomes visible exactly
when the write does (and not at all if it rolls back). A `CachePoller` in every server process
reads the generations once per `MODELREG_CACHE_POLL_INTERVAL` (1 s) off the request path and
clears a scope's caches when its value changed. The request path itself never queries for
this.

The generations live in `app_settings` (key `cache_generation:<scope>`), so no schema change
is needed and it works on SQLite and PostgreSQL alike (no row-level security on that table).
The value is a fresh random token rather than a counter: the column is JSON, where an atomic
`+ 1` is not portable, and a read-modify-write counter could lose a bump between two concurrent
writers. A random value needs no read, and any change of it means "something was written".
The write is an upsert, so a missing row (a new database, a truncated table) is no problem.

Cost: one primary-key SELECT of two rows per process per interval; one upsert of one row per
write, which also serialises concurrent registry/accounts writes on that row (they are
administrative and rare).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final, Literal

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from modelreg.actor import SYSTEM
from modelreg.db.engine import Database
from modelreg.db.models import AppSetting
from modelreg.errors import DatabaseUnavailableError

__all__ = [
    "ACCOUNTS",
    "EXPERIMENTS",
    "MODELS",
    "CachePoller",
    "Scope",
    "bump",
    "read_generations",
]

log = logging.getLogger(__name__)

Scope = Literal["models", "accounts", "experiments"]
# the registry (model lists, decrypted configs, the system default)
MODELS: Final = "models"
# the token cache (tokens, users, roles)
ACCOUNTS: Final = "accounts"
# the A/B experiments' routing table (modelreg.experiments)
EXPERIMENTS: Final = "experiments"

_PREFIX: Final = "cache_generation:"
# differs from every stored generation, None (never bumped) included
_UNSEEN: Final = object()


def _key(scope: str) -> str:
    return _PREFIX + scope


async def bump(session: AsyncSession, scope: Scope) -> None:
    """Give `scope` a new generation, in the caller's transaction. Call it last in the
    transaction: the row lock is then held for the shortest time and always taken after the
    rows the write changed, so two writers cannot deadlock on it (a write that bumps both
    scopes bumps accounts before models)."""
    values = {
        "key": _key(scope),
        "value": {"generation": secrets.token_hex(8)},
        "updated_at": datetime.now(UTC),
    }
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(AppSetting).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=[AppSetting.key],
        set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at},
    )
    await session.execute(stmt)


async def read_generations(db: Database, scopes: tuple[Scope, ...]) -> dict[Scope, object]:
    """The current generation of each scope (None for one never bumped)."""
    keys = [_key(s) for s in scopes]
    async with db.session(SYSTEM) as session:
        result = await session.execute(
            select(AppSetting.key, AppSetting.value).where(AppSetting.key.in_(keys))
        )
        found: dict[str, Any] = {key: value for key, value in result}  # noqa: C416
    return {s: (found.get(_key(s)) or {}).get("generation") for s in scopes}


class CachePoller:
    """Polls the generations and calls a scope's `clear` callbacks when it changed.

    `start()` polls once, then every `interval` seconds in a background task until `stop()`.
    The first successful reading clears every scope (an entry cached before it might predate
    a change it cannot see any more). An interval of 0 or less disables polling (caches
    then expire by their TTL only). A failed poll is logged and retried at the next tick.
    """

    def __init__(
        self,
        db: Database,
        clear: Mapping[Scope, Callable[[], None]],
        *,
        interval: float = 1.0,
    ) -> None:
        self._db = db
        self._clear = dict(clear)
        self._scopes = tuple(self._clear)
        self.interval = interval
        self._seen: dict[Scope, object] = {}
        self._task: asyncio.Task[None] | None = None
        self._failing = False
        # times a scope was cleared because of a change seen in the database
        self.cleared: dict[Scope, int] = dict.fromkeys(self._scopes, 0)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        if self.interval <= 0 or self.running:
            return
        with contextlib.suppress(Exception):  # logged by poll(); the loop retries
            await self.poll()
        self._task = asyncio.create_task(self._run(), name="modelreg-cache-poller")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def poll(self) -> list[Scope]:
        """Read the generations once and clear what changed; returns the changed scopes."""
        try:
            current = await read_generations(self._db, self._scopes)
        except Exception as exc:
            if not self._failing:  # once per outage, not once a second
                # an outage is logged by the database in one line: no traceback for it
                outage = isinstance(exc, DatabaseUnavailableError)
                log.warning("cache generation poll failed; retrying", exc_info=not outage)
            self._failing = True
            raise
        if self._failing:
            log.info("cache generation poll works again")
            self._failing = False
        changed = [s for s in self._scopes if self._seen.get(s, _UNSEEN) != current[s]]
        self._seen = current
        for scope in changed:
            self._clear[scope]()
            self.cleared[scope] += 1
        return changed

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            with contextlib.suppress(Exception):  # logged by poll()
                await self.poll()
