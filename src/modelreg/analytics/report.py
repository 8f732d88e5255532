"""Per-model analytics over a range of UTC days, read from the rollup `usage_stats_daily`
(and the feedback tables), never from the ledger.

Whose traffic: a user's own; an admin's request without `user_id` reads the company-wide
rows (user id EVERYONE) and adds a per-user breakdown; with `user_id`, that user's. The
PostgreSQL policies enforce the same (modelreg.db.rls_analytics).

Rows read: one per (day, source, model) of the range for the per-model and per-day tables,
and one per (day, source, model, user) for an admin's per-user table (sums only, summed in
SQL on PostgreSQL). Percentiles come from the summed histograms (modelreg.analytics.buckets).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal

import orjson
from pydantic import BaseModel, Field
from sqlalchemy import Text, case, func, select

from modelreg.actor import SYSTEM, Actor
from modelreg.analytics.buckets import RELATIVE_ERROR, bucket_bounds, percentile
from modelreg.db.analytics_models import EVERYONE, MessageFeedback, ResponseFeedback
from modelreg.db.analytics_models import UsageStatsDaily as S
from modelreg.db.engine import Database
from modelreg.db.models import NO_ID, Message, User
from modelreg.decimals import plain
from modelreg.errors import AccessDeniedError

__all__ = [
    "AnalyticsReport",
    "DayRow",
    "HistogramBin",
    "ModelRow",
    "Source",
    "UserRow",
    "analytics_report",
]

Source = Literal["chat", "gateway"]


class HistogramBin(BaseModel):
    low_ms: float = Field(description="Lower bound of the bucket, in ms (included)")
    high_ms: float | None = Field(description="Upper bound (excluded); null: no upper bound")
    count: int = Field(description="Calls whose latency fell into the bucket")


class _Totals(BaseModel):
    requests: int = Field(description="Upstream calls")
    errors: int = Field(description="Calls that failed")
    error_rate: float | None = Field(description="errors / requests (null: no requests)")
    input_tokens: int
    output_tokens: int
    cost: str = Field(description="Exact decimal, in the currency of the models' prices")


class ModelRow(_Totals):
    llm_model_id: uuid.UUID | None = Field(description="null: not a registered model")
    model_name: str
    latency_p50_ms: float | None = Field(
        description="Median latency of the calls that did not fail"
    )
    latency_p95_ms: float | None = Field(description="95th percentile latency (same calls)")
    latency_mean_ms: float | None
    ttft_p50_ms: float | None = Field(description="Median time to first token (streamed calls)")
    ratings_up: int = Field(description="Thumbs up on this model's answers in the range")
    ratings_down: int
    feedback_score: float | None = Field(
        description="ratings_up / (ratings_up + ratings_down); null: no ratings"
    )
    latency_histogram: list[HistogramBin] = Field(description="Non-empty buckets, fastest first")


class DayRow(_Totals):
    day: date
    llm_model_id: uuid.UUID | None
    model_name: str
    latency_mean_ms: float | None


class UserRow(_Totals):
    user_id: uuid.UUID | None = Field(description="null: usage without a user")
    username: str | None = Field(description="The user's current name (null: deleted)")


class AnalyticsReport(BaseModel):
    from_: date = Field(alias="from", description="First UTC day")
    to: date = Field(description="Last UTC day (included)")
    source: Source | None = Field(description="chat, gateway or null (both)")
    scope: Literal["own", "user", "everyone"] = Field(
        description="own: the caller's traffic; user: one user's (admins); everyone: all"
    )
    user_id: uuid.UUID | None = Field(description="Whose traffic (null: everyone)")
    percentile_relative_error: float = Field(
        description="Bound on the percentiles' relative error (histogram bucket width)"
    )
    totals: _Totals
    models: list[ModelRow] = Field(description="Busiest first")
    days: list[DayRow] = Field(description="One row per day and model with traffic, by day")
    users: list[UserRow] | None = Field(description="Admins, scope everyone: busiest first")

    model_config = {"populate_by_name": True}


@dataclass(slots=True)
class _Acc:
    requests: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: Decimal = Decimal(0)
    latency_sum: float = 0.0
    latency_count: int = 0
    latency_hist: dict[str, int] = field(default_factory=dict)
    ttft_hist: dict[str, int] = field(default_factory=dict)

    def add(self, r: Any, hist: bool = True) -> None:
        self.requests += int(r.requests)
        self.errors += int(r.errors)
        self.input_tokens += int(r.input_tokens)
        self.output_tokens += int(r.output_tokens)
        self.cost += Decimal(r.cost)
        self.latency_sum += float(r.latency_ms_sum)
        self.latency_count += int(r.latency_count)
        if hist:
            _add_into(self.latency_hist, r.latency_hist)
            _add_into(self.ttft_hist, r.ttft_hist)

    def totals(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "error_rate": round(self.errors / self.requests, 6) if self.requests else None,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost": plain(self.cost),
        }

    def mean(self) -> float | None:
        return round(self.latency_sum / self.latency_count, 1) if self.latency_count else None


_HISTS = ("latency_hist", "ttft_hist")


def _add_into(total: dict[str, int], hist: str | dict[str, int] | None) -> None:
    parsed: dict[str, int] = orjson.loads(hist) if isinstance(hist, str) else (hist or {})
    for bucket, count in parsed.items():
        total[bucket] = total.get(bucket, 0) + count


def _nullable(value: uuid.UUID) -> uuid.UUID | None:
    return None if value == NO_ID else value


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _histogram(hist: dict[str, int]) -> list[HistogramBin]:
    out = []
    for bucket, count in sorted(((int(b), c) for b, c in hist.items() if c > 0)):
        low, high = bucket_bounds(bucket)
        out.append(
            HistogramBin(
                low_ms=round(low, 3), high_ms=None if high == float("inf") else round(high, 3),
                count=count,
            )
        )  # fmt: skip
    return out


def _hist_items(hist: dict[str, int]) -> list[tuple[int, int]]:
    return [(int(b), c) for b, c in hist.items()]


async def analytics_report(
    db: Database,
    actor: Actor,
    *,
    start: date,
    end: date,
    source: Source | None = None,
    user_id: uuid.UUID | None = None,
) -> AnalyticsReport:
    if not actor.is_admin and user_id is not None and user_id != actor.id:
        raise AccessDeniedError("Only admins can see other users' analytics")
    whose: uuid.UUID
    if actor.is_admin:
        whose = user_id or EVERYONE
        scope: Literal["own", "user", "everyone"] = (
            "everyone" if user_id is None else ("own" if user_id == actor.id else "user")
        )
    else:
        assert actor.id is not None  # a signed-in user
        whose, scope = actor.id, "own"
    # columns, not ORM objects (no identity map for thousands of read-only rows), and the
    # histograms as text for orjson: the JSON type's json.loads took ~70 of an admin's 190 ms
    columns = [c for c in S.__table__.c if c.key not in _HISTS]
    hists = [S.__table__.c[h].cast(Text).label(h) for h in _HISTS]
    stmt = select(*columns, *hists).where(S.user_id == whose, S.day >= start, S.day <= end)
    if source is not None:
        stmt = stmt.where(S.source == source)
    models: dict[tuple[uuid.UUID, str], _Acc] = {}
    days: dict[tuple[date, uuid.UUID, str], _Acc] = {}
    total = _Acc()
    async with db.session(actor) as session:
        for r in await session.execute(stmt):
            key = (r.llm_model_id, r.model_name)
            models.setdefault(key, _Acc()).add(r)
            days.setdefault((r.day, *key), _Acc()).add(r, hist=False)
            total.add(r, hist=False)
        users = (
            await _users(session, start, end, source, db.dialect == "postgresql")
            if scope == "everyone"
            else None
        )
    # messages are their owner's only, admins included (RLS): another user's or everyone's
    # ratings are joined to their messages as system, once the access check above is done
    async with db.session(actor if whose == actor.id else SYSTEM) as session:
        ratings = await _ratings(session, whose, start, end, source)
    return AnalyticsReport(
        from_=start,
        to=end,
        source=source,
        scope=scope,
        user_id=None if whose == EVERYONE else whose,
        percentile_relative_error=round(RELATIVE_ERROR, 4),
        totals=_Totals(**total.totals()),
        models=[
            _model_row(key, acc, ratings.get(key, (0, 0)))
            for key, acc in sorted(models.items(), key=lambda kv: (-kv[1].requests, kv[0][1]))
        ],
        days=[
            DayRow(
                day=key[0],
                llm_model_id=_nullable(key[1]),
                model_name=key[2],
                latency_mean_ms=acc.mean(),
                **acc.totals(),
            )
            for key, acc in sorted(days.items(), key=lambda kv: (kv[0][0], kv[0][2]))
        ],
        users=users,
    )


def _model_row(key: tuple[uuid.UUID, str], acc: _Acc, ratings: tuple[int, int]) -> ModelRow:
    up, down = ratings
    lat = _hist_items(acc.latency_hist)
    return ModelRow(
        llm_model_id=_nullable(key[0]),
        model_name=key[1],
        latency_p50_ms=_ms(percentile(lat, 0.5)),
        latency_p95_ms=_ms(percentile(lat, 0.95)),
        latency_mean_ms=acc.mean(),
        ttft_p50_ms=_ms(percentile(_hist_items(acc.ttft_hist), 0.5)),
        ratings_up=up,
        ratings_down=down,
        feedback_score=round(up / (up + down), 4) if up + down else None,
        latency_histogram=_histogram(acc.latency_hist),
        **acc.totals(),
    )


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    until = end + timedelta(days=1)
    return datetime.combine(start, time.min, UTC), datetime.combine(until, time.min, UTC)


async def _ratings(
    session: Any, whose: uuid.UUID, start: date, end: date, source: Source | None
) -> dict[tuple[uuid.UUID, str], tuple[int, int]]:
    """(thumbs up, thumbs down) per model of the answers made in the range."""
    since, until = _bounds(start, end)
    queries: list[Any] = []
    up = func.sum(case((MessageFeedback.rating > 0, 1), else_=0))
    if source in (None, "chat"):
        q = (
            select(Message.llm_model_id, Message.model_name, up, func.count())
            .join(Message, Message.id == MessageFeedback.message_id)
            .where(Message.created_at >= since, Message.created_at < until)
            .group_by(Message.llm_model_id, Message.model_name)
        )
        if whose != EVERYONE:
            q = q.where(MessageFeedback.user_id == whose)
        queries.append(q)
    if source in (None, "gateway"):
        rf = ResponseFeedback
        q = (
            select(rf.llm_model_id, rf.model_name,
                   func.sum(case((rf.rating > 0, 1), else_=0)), func.count())
            .where(rf.answered_at >= since, rf.answered_at < until)
            .group_by(rf.llm_model_id, rf.model_name)
        )  # fmt: skip
        if whose != EVERYONE:
            q = q.where(rf.user_id == whose)
        queries.append(q)
    out: dict[tuple[uuid.UUID, str], tuple[int, int]] = {}
    for q in queries:
        for model_id, name, ups, count in await session.execute(q):
            key = (model_id or NO_ID, name or "")
            old = out.get(key, (0, 0))
            out[key] = (old[0] + int(ups or 0), old[1] + int(count) - int(ups or 0))
    return out


async def _users(
    session: Any, start: date, end: date, source: Source | None, postgres: bool
) -> list[UserRow]:
    cols = (S.requests, S.errors, S.input_tokens, S.output_tokens, S.cost, S.latency_ms_sum,
            S.latency_count)  # fmt: skip
    where = [S.user_id != EVERYONE, S.day >= start, S.day <= end]
    if source is not None:
        where.append(S.source == source)
    stmt: Any = (
        select(S.user_id, *(func.sum(c).label(c.key) for c in cols)).group_by(S.user_id)
        if postgres
        else select(S.user_id, *cols)
    )
    accs: dict[uuid.UUID, _Acc] = {}
    for r in await session.execute(stmt.where(*where)):
        accs.setdefault(r.user_id, _Acc()).add(r, hist=False)
    names = await _usernames(session, list(accs))
    ordered = sorted(accs.items(), key=lambda kv: (-kv[1].requests, str(kv[0])))
    return [
        UserRow(user_id=_nullable(uid), username=names.get(uid), **acc.totals())
        for uid, acc in ordered
    ]


async def _usernames(session: Any, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    wanted = [i for i in ids if i != NO_ID]
    if not wanted:
        return {}
    rows = await session.execute(select(User.id, User.username).where(User.id.in_(wanted)))
    return {r.id: r.username for r in rows}
