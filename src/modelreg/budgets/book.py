"""BudgetBook: every budget and this month's spend, in memory, for the check on the hot path.

Spend of a budget = the month's rows of `usage_daily` for its key (all, one user, one model),
read by `refresh()`, plus what this process booked that the last refresh may not have seen.
The second part makes a replica see its own spend at once:

- `booked(record)` (the UsageRecorder's listener, at `record()`) adds the record's cost to
  the local counters at once;
- `written(records)`: the rows are committed; they stay counted locally until a refresh that
  *started* after the commit has read them from the database, then leave the local counters.
  The recorder holds `commit_gate` from before its commit until it has called `written`, and
  a refresh reads under the same gate, so no commit of this process falls between a
  refresh's start and its read: each record counts exactly once (it used to count twice for
  an interval when a refresh read it between the commit and `written`, refusing a request
  below the limit).

Other replicas' spend arrives with the next `refresh()` (every `interval`, 0.5 s by default:
their rows are committed within the recorder's linger, 0.1 s, so a replica sees another's
spend within about a second). With no budget defined `check` is one attribute test and the
refresh reads only the (empty) budgets table; the local counters are kept all the same, for
a budget another replica sets.

`check(actor, model)` runs in the RateLimiter's admission, before any upstream call: it
raises BudgetExceededError once the spend of a budget covering the request has reached its
limit (spent >= limit). It only reads dicts: no I/O on the request path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from modelreg.actor import SYSTEM, Actor
from modelreg.db.models import NO_ID, Budget, UsageDaily
from modelreg.errors import BudgetExceededError

if TYPE_CHECKING:
    from modelreg.chat.usage_rows import UsageRecord
    from modelreg.db.engine import Database
    from modelreg.model_config import ModelConfig

__all__ = ["BudgetBook", "Key", "Limit", "month_of", "month_start", "next_month"]

log = logging.getLogger(__name__)

# ("global", None) | ("user", user id) | ("model", model id)
Key = tuple[str, uuid.UUID | None]
_GLOBAL: Key = ("global", None)


def month_of(moment: datetime) -> str:
    return f"{moment.year:04d}-{moment.month:02d}"


def month_start(moment: datetime) -> date:
    return date(moment.year, moment.month, 1)


def next_month(moment: datetime) -> datetime:
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return datetime(year, month, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Limit:
    """One budget as the book keeps it."""

    id: uuid.UUID
    scope: str
    key: Key
    limit_usd: Decimal
    alert_period: str | None
    alert_level: int


def _as_uuid(value: object) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:  # env-sourced models may carry non-UUID ids: no budget can name them
        return None


class BudgetBook:
    def __init__(self, db: Database, *, interval: float = 0.5) -> None:
        self._db = db
        self._interval = interval
        self.limits: dict[uuid.UUID, Limit] = {}
        self._by_key: dict[Key, list[Limit]] = {}
        self.active = False  # any budget at all: otherwise `check` returns at once
        self._stored: dict[Key, Decimal] = {}  # this month, from usage_daily
        self._local: dict[Key, Decimal] = {}  # booked here, not yet seen by a refresh
        self._unwritten: dict[uuid.UUID, UsageRecord] = {}
        self._written: list[tuple[int, UsageRecord]] = []  # (commit number, record)
        self._commits = 0  # notices of commits so far (`written` calls)
        self.period = month_of(datetime.now(UTC))
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._refreshing = asyncio.Lock()
        # held by the UsageRecorder from its commit to `written`, and by a refresh's read
        self.commit_gate = asyncio.Lock()
        self._model_keys: dict[str, Key] = {}  # ModelConfig ids are strings; keys hold UUIDs
        self.refreshes = 0  # completed refreshes (tests wait for some to pass)
        # run after each refresh, off the request path (the alerts)
        self.on_refresh: list[Callable[[], Awaitable[None]]] = []

    # --- the hot path ------------------------------------------------------------------

    def check(self, actor: Actor, model: ModelConfig) -> None:
        """Raise BudgetExceededError when a budget covering this request is spent."""
        if not self.active:
            return
        by_key = self._by_key
        model_key = self._model_keys.get(model.id)
        if model_key is None:
            if len(self._model_keys) >= 10_000:
                self._model_keys.clear()
            model_key = self._model_keys[model.id] = ("model", _as_uuid(model.id))
        for key in (_GLOBAL, ("user", actor.id), model_key):
            for limit in by_key.get(key, ()):
                spent = self.spent(key)
                if spent >= limit.limit_usd:
                    raise BudgetExceededError(
                        f"budget {limit.id} ({limit.scope}, ${limit.limit_usd} per month) is "
                        f"used up: ${spent} spent this month; requests it covers are refused "
                        "until the next month or until the budget is raised",
                        retry_after=(
                            next_month(datetime.now(UTC)) - datetime.now(UTC)
                        ).total_seconds(),
                    )

    def spent(self, key: Key) -> Decimal:
        return self._stored.get(key, Decimal(0)) + self._local.get(key, Decimal(0))

    # --- the UsageRecorder's listener ----------------------------------------------------

    def booked(self, record: UsageRecord) -> None:
        # tracked with no budget too: one may have been set on another replica a moment ago
        if not record.cost:
            return
        self._unwritten[record.id] = record
        self._add(record, record.cost)

    def written(self, records: Sequence[UsageRecord]) -> None:
        if not self._unwritten:
            return
        self._commits += 1
        for record in records:
            if self._unwritten.pop(record.id, None) is not None:
                self._written.append((self._commits, record))

    def _add(self, record: UsageRecord, amount: Decimal) -> None:
        local = self._local
        for key in (_GLOBAL, ("user", record.user_id), ("model", record.llm_model_id)):
            local[key] = local.get(key, Decimal(0)) + amount

    # --- refresh ---------------------------------------------------------------------------

    async def refresh(self) -> None:
        """Read the budgets and this month's spend per user and model from the database."""
        # one at a time: an older snapshot finishing last would drop what a newer one pruned
        async with self._refreshing:
            await self._refresh()

    async def _refresh(self) -> None:
        # the gate first, then a connection: the recorder takes them in the same order
        async with self.commit_gate:
            await self._read(self._commits)

    async def _read(self, seen: int) -> None:
        """Read budgets and spend; the first `seen` commits' rows are in what is read."""
        now = datetime.now(UTC)
        async with self._db.session(SYSTEM) as session:
            rows = (await session.scalars(select(Budget))).all()
            limits = {
                row.id: Limit(
                    row.id,
                    row.scope,
                    (row.scope, row.user_id if row.scope == "user" else row.llm_model_id),
                    row.limit_usd,
                    row.alert_period,
                    row.alert_level,
                )
                for row in rows
            }
            stored: dict[Key, Decimal] = {}
            if limits:
                stored = await self._month_spend(session, now)
        by_key: dict[Key, list[Limit]] = {}
        for limit in limits.values():
            by_key.setdefault(limit.key, []).append(limit)
        self.limits, self._by_key, self._stored = limits, by_key, stored
        self.period = month_of(now)
        self.refreshes += 1
        self.active = bool(limits)
        # rows committed before this refresh began are in `stored` now
        keep = [(n, r) for n, r in self._written if n > seen]
        for _, record in (item for item in self._written if item[0] <= seen):
            self._add(record, -record.cost)
        self._written = keep

    @staticmethod
    async def _month_spend(session: AsyncSession, now: datetime) -> dict[Key, Decimal]:
        c = UsageDaily
        result = await session.execute(
            select(c.user_id, c.llm_model_id, c.cost).where(c.day >= month_start(now))
        )
        spend: dict[Key, Decimal] = {}
        total = Decimal(0)
        for user_id, model_id, cost in result:
            cost = Decimal(cost)  # summed in Python: SQLite keeps decimals as text
            total += cost
            if user_id != NO_ID:
                spend[("user", user_id)] = spend.get(("user", user_id), Decimal(0)) + cost
            if model_id != NO_ID:
                spend[("model", model_id)] = spend.get(("model", model_id), Decimal(0)) + cost
        spend[_GLOBAL] = total
        return spend

    async def start(self) -> None:
        await self.refresh()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="budget-refresh")

    async def _run(self) -> None:
        while True:
            try:  # a stop waits for a refresh under way: cancelling one mid-query leaks it
                await asyncio.wait_for(self._stopping.wait(), self._interval)
                return
            except TimeoutError:
                pass
            try:
                await self.refresh()
                for hook in self.on_refresh:
                    await hook()
            except Exception:  # the database may be down: keep the last figures, try again
                log.warning("budget refresh failed; keeping the last figures", exc_info=True)

    async def stop(self) -> None:
        if self._task is None:
            return
        self._stopping.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), 10)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None
