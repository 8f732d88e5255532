"""Usage totals per model, day or user over a date range, read from the daily rollup only.

Access: a user sees their own usage; an admin sees everyone's (optionally one user's). On
PostgreSQL the rollup's RLS policy enforces the same (modelreg.db.rls).

PostgreSQL sums in SQL (NUMERIC is exact). SQLite stores costs as text and would sum them as
floats, so there the rollup rows of the range are read and added in Python (the same
accumulator folds the already-summed PostgreSQL rows, one per group).
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import Select, func, select

from modelreg.actor import Actor
from modelreg.chat.usage_rollup import Sums
from modelreg.db.engine import Database
from modelreg.db.models import NO_ID, UsageDaily, User
from modelreg.decimals import plain
from modelreg.errors import AccessDeniedError

__all__ = ["GroupBy", "UsageGroup", "UsageReport", "usage_report"]

GroupBy = Literal["model", "day", "user"]

_INT_SUMS = (
    "requests",
    "errors",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "latency_count",
    "ttft_count",
)
_FLOAT_SUMS = ("latency_ms_sum", "ttft_ms_sum")


class UsageGroup(BaseModel):
    """Totals of one group. Only the key fields of the chosen `group_by` are set."""

    llm_model_id: uuid.UUID | None = Field(
        None, description="group_by=model: the model's id (null: not a registered model)"
    )
    model_name: str | None = Field(None, description="group_by=model: the name it was called by")
    day: date | None = Field(None, description="group_by=day: the UTC day")
    user_id: uuid.UUID | None = Field(None, description="group_by=user (null: deleted/no user)")
    username: str | None = Field(None, description="group_by=user: the user's current name")
    requests: int
    errors: int
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    cost: str = Field(description="Exact decimal, in the currency of the models' prices")
    avg_latency_ms: float | None = Field(description="Mean over the calls that reported one")
    avg_ttft_ms: float | None = Field(description="Mean time to first token (streamed calls)")


class UsageReport(BaseModel):
    since: date
    until: date = Field(description="Inclusive")
    group_by: GroupBy
    user_id: uuid.UUID | None = Field(description="The user the report is limited to, if any")
    groups: list[UsageGroup]
    total: UsageGroup = Field(description="All groups together (no key fields)")


class _Acc(Sums):
    __slots__ = ()

    def add(self, row: Any) -> None:
        for name in _INT_SUMS:
            setattr(self, name, getattr(self, name) + int(getattr(row, name)))
        for name in _FLOAT_SUMS:
            setattr(self, name, getattr(self, name) + float(getattr(row, name)))
        self.cost += Decimal(row.cost)

    def out(self, **key: Any) -> UsageGroup:
        return UsageGroup(
            **key,
            requests=self.requests,
            errors=self.errors,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cached_tokens=self.cached_tokens,
            # "0.00042", not "4.2E-4" or PostgreSQL's "0E-15"
            cost=plain(self.cost),
            avg_latency_ms=_mean(self.latency_ms_sum, self.latency_count),
            avg_ttft_ms=_mean(self.ttft_ms_sum, self.ttft_count),
        )


def _mean(total: float, count: int) -> float | None:
    return round(total / count, 1) if count else None


def _key_columns(group_by: GroupBy) -> list[Any]:
    if group_by == "model":
        return [UsageDaily.llm_model_id, UsageDaily.model_name]
    if group_by == "day":
        return [UsageDaily.day]
    return [UsageDaily.user_id]


def _query(group_by: GroupBy, postgres: bool) -> Select[Any]:
    keys = _key_columns(group_by)
    columns = [getattr(UsageDaily, n) for n in (*_INT_SUMS, *_FLOAT_SUMS, "cost")]
    if not postgres:
        return select(*keys, *columns)
    return select(*keys, *(func.sum(c).label(c.key) for c in columns)).group_by(*keys)


def _key_of(group_by: GroupBy, row: Any) -> tuple[Any, ...]:
    if group_by == "model":
        return (row.llm_model_id, row.model_name)
    if group_by == "day":
        return (row.day,)
    return (row.user_id,)


def _nullable(value: uuid.UUID) -> uuid.UUID | None:
    return None if value == NO_ID else value


async def usage_report(
    db: Database,
    actor: Actor,
    *,
    since: date,
    until: date,
    group_by: GroupBy = "model",
    user_id: uuid.UUID | None = None,
) -> UsageReport:
    """Totals of [since, until] (UTC days, both included), grouped by `group_by`."""
    if not actor.is_admin:
        if group_by == "user":
            raise AccessDeniedError("Only admins can group usage by user")
        if user_id is not None and user_id != actor.id:
            raise AccessDeniedError("Only admins can see other users' usage")
        user_id = actor.id
    postgres = db.dialect == "postgresql"
    stmt = _query(group_by, postgres).where(UsageDaily.day >= since, UsageDaily.day <= until)
    if user_id is not None:
        stmt = stmt.where(UsageDaily.user_id == user_id)
    groups: dict[tuple[Any, ...], _Acc] = {}
    total = _Acc()
    async with db.session(actor) as session:
        for row in await session.execute(stmt):
            key = _key_of(group_by, row)
            acc = groups.get(key)
            if acc is None:
                acc = groups[key] = _Acc()
            acc.add(row)
            total.add(row)
        names = await _usernames(session, [k[0] for k in groups]) if group_by == "user" else {}
    return UsageReport(
        since=since,
        until=until,
        group_by=group_by,
        user_id=user_id,
        groups=_ordered(group_by, groups, names),
        total=total.out(),
    )


async def _usernames(session: Any, ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    rows = await session.execute(select(User.id, User.username).where(User.id.in_(ids)))
    return {r.id: r.username for r in rows}


def _ordered(
    group_by: GroupBy, groups: dict[tuple[Any, ...], _Acc], names: dict[uuid.UUID, str]
) -> list[UsageGroup]:
    if group_by == "day":
        return [acc.out(day=key[0]) for key, acc in sorted(groups.items())]
    # the busiest first; ties by key, so the order is stable
    busiest = sorted(groups.items(), key=lambda kv: (-kv[1].requests, str(kv[0])))
    if group_by == "model":
        return [acc.out(llm_model_id=_nullable(key[0]), model_name=key[1]) for key, acc in busiest]
    return [acc.out(user_id=_nullable(key[0]), username=names.get(key[0])) for key, acc in busiest]
