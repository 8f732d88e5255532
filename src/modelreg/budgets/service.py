"""BudgetService: who may set which budget, the rows, and the 80 % / 100 % alerts.

Rules (docs/analytics.md, "Budgets and cost accuracy"):
- admins set any budget: company-wide, per model (a model they can see), per user;
- a user sets user budgets for themselves only, never above a limit an admin set for them;
  they may change or remove those, not an admin's;
- everyone sees the company-wide budgets, the budgets of models they may use and their own
  user budgets (admins: all), each with this month's spend from the BudgetBook.

Every write refreshes this process's book at once; other processes read it within their
refresh interval. Alerts: after each refresh, a budget whose spend crossed 80 % or 100 % of
its limit in this period gets one audit entry per level (`budget.alert`), exactly once across
replicas: the entry is written in the transaction of a conditional UPDATE of the budget's
`alert_period` / `alert_level` that only one process can win.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from modelreg.actor import SYSTEM, Actor
from modelreg.audit import write_audit
from modelreg.budgets.book import BudgetBook, Limit
from modelreg.budgets.schemas import BudgetCreate, BudgetPublic, BudgetUpdate
from modelreg.db.engine import Database
from modelreg.db.models import Budget, LLMModel, User, utcnow
from modelreg.decimals import plain
from modelreg.errors import AccessDeniedError, ValidationFailedError

__all__ = ["BudgetService", "UnknownBudgetError", "alert_level"]

_LEVELS = (80, 100)


class UnknownBudgetError(ValidationFailedError):
    """No budget by that id that the caller may see (answered 404)."""


def alert_level(spent: Decimal, limit: Decimal) -> int:
    """100 from the limit on (where requests are refused; a zero limit at once), 80 from
    80 % of it, else 0."""
    if spent >= limit:
        return 100
    return 80 if spent * 5 >= limit * 4 else 0


class BudgetService:
    def __init__(self, db: Database, book: BudgetBook) -> None:
        self.db = db
        self.book = book
        book.on_refresh.append(self.write_alerts)

    # --- reading ---------------------------------------------------------------------------

    async def list_budgets(self, actor: Actor) -> list[BudgetPublic]:
        async with self.db.session(actor) as session:
            rows = (await session.scalars(select(Budget).order_by(Budget.created_at))).all()
            usable = await self._usable_models(session, actor, rows)
        return [self._public(r, actor) for r in rows if self._visible(r, actor, usable)]

    async def get(self, actor: Actor, budget_id: uuid.UUID) -> BudgetPublic:
        async with self.db.session(actor) as session:
            row = await self._visible_row(session, actor, budget_id)
        return self._public(row, actor)

    # --- writing ---------------------------------------------------------------------------

    async def create(self, actor: Actor, body: BudgetCreate) -> BudgetPublic:
        limit = Decimal(body.limit_usd)
        async with self.db.session(actor) as session:
            user_id, model_id = await self._target(session, actor, body)
            if not actor.is_admin:
                assert user_id is not None
                await self._below_admins(session, user_id, limit, None)
            now = utcnow()
            row = Budget(
                id=uuid.uuid4(),
                scope=body.scope,
                user_id=user_id,
                llm_model_id=model_id,
                limit_usd=limit,
                period=body.period,
                created_by=actor.id,
                set_by_admin=actor.is_admin,
                alert_level=0,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            await session.flush()
            await write_audit(session, actor, "budget.create", "budget", row.id, None, _state(row))
        await self.book.refresh()
        return self._public(row, actor)

    async def update(self, actor: Actor, budget_id: uuid.UUID, body: BudgetUpdate) -> BudgetPublic:
        limit = Decimal(body.limit_usd)
        async with self.db.session(actor) as session:
            row = await self._writable_row(session, actor, budget_id)
            if not actor.is_admin:
                assert row.user_id is not None
                await self._below_admins(session, row.user_id, limit, row.id)
            before = _state(row)
            row.limit_usd = limit
            row.alert_level = 0  # a new limit: its alerts are due afresh
            row.alert_period = None
            row.updated_at = utcnow()
            await session.flush()
            await write_audit(
                session, actor, "budget.update", "budget", row.id, before, _state(row)
            )
        await self.book.refresh()
        return self._public(row, actor)

    async def delete(self, actor: Actor, budget_id: uuid.UUID) -> None:
        async with self.db.session(actor) as session:
            row = await self._writable_row(session, actor, budget_id)
            before = _state(row)
            await session.delete(row)
            await write_audit(session, actor, "budget.delete", "budget", budget_id, before, None)
        await self.book.refresh()

    # --- alerts ------------------------------------------------------------------------------

    async def write_alerts(self) -> None:
        """One audit entry per level crossed this period, once across all processes."""
        book = self.book
        period = book.period
        for limit in list(book.limits.values()):
            spent = book.spent(limit.key)
            level = alert_level(spent, limit.limit_usd)
            done = limit.alert_level if limit.alert_period == period else 0
            if level > done:
                await self._alert(limit, period, done, level, spent)

    async def _alert(
        self, limit: Limit, period: str, done: int, level: int, spent: Decimal
    ) -> None:
        async with self.db.session(SYSTEM) as session:
            won = await session.execute(
                update(Budget)
                .where(
                    Budget.id == limit.id,
                    or_(
                        Budget.alert_period.is_(None),
                        Budget.alert_period != period,
                        Budget.alert_level < level,
                    ),
                )
                .values(alert_period=period, alert_level=level)
                .execution_options(synchronize_session=False)
            )
            if won.rowcount != 1:  # type: ignore[attr-defined]
                return  # another process wrote it
            # the stored state may be newer than the book's: only the levels still due
            for crossed in (lv for lv in _LEVELS if done < lv <= level):
                after = {
                    "level": crossed,
                    "period": period,
                    "scope": limit.scope,
                    "subject_id": limit.key[1],
                    "limit_usd": limit.limit_usd,
                    "spent_usd": spent,
                }
                await write_audit(session, SYSTEM, "budget.alert", "budget", limit.id, None, after)
        self.book.limits[limit.id] = Limit(
            limit.id, limit.scope, limit.key, limit.limit_usd, period, level
        )

    # --- rules ---------------------------------------------------------------------------------

    async def _target(
        self, session: AsyncSession, actor: Actor, body: BudgetCreate
    ) -> tuple[uuid.UUID | None, uuid.UUID | None]:
        """(user_id, model_id) of a new budget, checked against its scope and the caller."""
        if body.scope != "user" and body.user_id is not None:
            raise ValidationFailedError(
                f"user_id: only a user budget names a user (scope is {body.scope!r})",
                field="user_id",
            )
        if body.scope != "model" and body.model_id is not None:
            raise ValidationFailedError(
                f"model_id: only a model budget names a model (scope is {body.scope!r})",
                field="model_id",
            )
        if body.scope == "user":
            user_id = body.user_id or actor.id
            if user_id is None:
                raise ValidationFailedError("user_id: required for a user budget", field="user_id")
            if not actor.is_admin and user_id != actor.id:
                raise AccessDeniedError("user_id: you may only set a budget for yourself")
            if await session.get(User, user_id) is None:
                raise ValidationFailedError(f"user_id: no user {user_id}", field="user_id")
            return user_id, None
        if not actor.is_admin:
            raise AccessDeniedError(f"scope: only admins set {body.scope} budgets")
        if body.scope == "global":
            return None, None
        if body.model_id is None:
            raise ValidationFailedError("model_id: required for a model budget", field="model_id")
        model = await session.get(LLMModel, body.model_id)
        if model is None or not (model.user_id is None or model.user_id == actor.id):
            raise ValidationFailedError(f"model_id: no model {body.model_id}", field="model_id")
        return None, model.id

    async def _below_admins(
        self, session: AsyncSession, user_id: uuid.UUID, limit: Decimal, own: uuid.UUID | None
    ) -> None:
        """A user's own limit may only be stricter than the ones an admin set for them."""
        rows = await session.scalars(
            select(Budget.limit_usd).where(
                Budget.scope == "user",
                Budget.user_id == user_id,
                Budget.set_by_admin.is_(True),
            )
        )
        ceiling = min(rows.all(), default=None)
        if ceiling is not None and limit > ceiling:
            raise ValidationFailedError(
                f"limit_usd: above the ${ceiling} an admin set for you; set a lower limit",
                field="limit_usd",
            )

    async def _visible_row(
        self, session: AsyncSession, actor: Actor, budget_id: uuid.UUID
    ) -> Budget:
        row = await session.get(Budget, budget_id)
        usable = await self._usable_models(session, actor, [row] if row else [])
        if row is None or not self._visible(row, actor, usable):
            raise UnknownBudgetError(f"unknown budget {budget_id}", field="budget_id")
        return row

    async def _writable_row(
        self, session: AsyncSession, actor: Actor, budget_id: uuid.UUID
    ) -> Budget:
        row = await self._visible_row(session, actor, budget_id)
        if not actor.is_admin and (row.set_by_admin or row.created_by != actor.id):
            raise AccessDeniedError("only an admin may change or remove this budget")
        return row

    @staticmethod
    async def _usable_models(
        session: AsyncSession, actor: Actor, rows: Sequence[Budget]
    ) -> set[uuid.UUID]:
        ids = {r.llm_model_id for r in rows if r.llm_model_id is not None}
        if not ids or actor.role == "system":
            return ids
        found = await session.scalars(
            select(LLMModel.id).where(
                LLMModel.id.in_(ids), or_(LLMModel.user_id.is_(None), LLMModel.user_id == actor.id)
            )
        )
        return set(found)

    @staticmethod
    def _visible(row: Budget, actor: Actor, usable: set[uuid.UUID]) -> bool:
        if actor.is_admin or row.scope == "global":
            return True
        if row.scope == "user":
            return row.user_id == actor.id
        return row.llm_model_id in usable

    def _public(self, row: Budget, actor: Actor) -> BudgetPublic:
        key = (row.scope, row.user_id if row.scope == "user" else row.llm_model_id)
        spent = self.book.spent(key) if row.id in self.book.limits else Decimal(0)
        limit = row.limit_usd
        percent = float(spent / limit * 100) if limit > 0 else (100.0 if spent > 0 else 0.0)
        level = alert_level(spent, limit)
        applies = row.scope != "user" or row.user_id == actor.id
        return BudgetPublic(
            id=row.id,
            scope=row.scope,
            user_id=row.user_id,
            model_id=row.llm_model_id,
            limit_usd=plain(limit),
            period="month",
            set_by_admin=row.set_by_admin,
            current_period=self.book.period,
            spent_usd=plain(spent),
            percent=round(percent, 2),
            state="exceeded" if level == 100 else "warning" if level == 80 else "ok",
            applies_to_me=applies,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


def _state(row: Budget) -> dict[str, Any]:
    return {
        "scope": row.scope,
        "user_id": row.user_id,
        "model_id": row.llm_model_id,
        "limit_usd": row.limit_usd,
        "period": row.period,
        "set_by_admin": row.set_by_admin,
    }
