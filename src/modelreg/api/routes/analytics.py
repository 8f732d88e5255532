"""Per-model analytics: requests, errors, latency percentiles, time to first token, tokens,
cost and feedback over a range of UTC days, with a per-day series and (admins) per-user
totals; and each table as CSV. Read from the analytics rollup (modelreg.analytics.report)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Final

from fastapi import APIRouter, Query, Response

from modelreg.analytics.csv_export import Table, to_csv
from modelreg.analytics.report import AnalyticsReport, Source, analytics_report
from modelreg.api.deps import CurrentActor, ServicesDep
from modelreg.api.errors import error_responses
from modelreg.api.routes.usage import Day
from modelreg.errors import ValidationFailedError

__all__ = ["MAX_DAYS", "router"]

router = APIRouter(prefix="/api/analytics", tags=["analytics"])

DEFAULT_DAYS: Final = 30
MAX_DAYS: Final = 366  # a year (a leap year's) per request

_FROM = Query(alias="from", description="First UTC day, YYYY-MM-DD (default: 29 days before `to`)")
_TO = Query(description="Last UTC day, included, YYYY-MM-DD (default: today)")
_SOURCE = Query(description="Only the web chat (`chat`) or only /v1 calls (`gateway`)")
_USER = Query(description="Only this user's traffic (admins; users may name themselves)")


def _range(start: date | None, end: date | None) -> tuple[date, date]:
    end = end or datetime.now(UTC).date()
    start = start or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise ValidationFailedError("`from` must not be after `to`", field="from")
    if (end - start).days >= MAX_DAYS:
        raise ValidationFailedError(f"at most {MAX_DAYS} days per request", field="from")
    return start, end


_DESCRIPTION = (
    "Per model: requests, errors and error rate, latency p50 / p95 and mean, time to first "
    "token p50, input / output tokens, cost, and the feedback score (share of thumbs up); a "
    "per-day series per model; for admins without `user_id`, everyone's traffic and totals "
    f"per user. Users see their own traffic. At most {MAX_DAYS} days per request. "
    "Percentiles come from latency histograms: within `percentile_relative_error` "
    "(9.05 %) of the true value (docs/analytics.md)."
)


@router.get(
    "/models",
    summary="Per-model analytics over a range of UTC days",
    description=_DESCRIPTION,
    response_model_by_alias=True,
    responses=error_responses(401, 403, 422),
)
async def get_model_analytics(
    actor: CurrentActor,
    services: ServicesDep,
    from_: Annotated[Day | None, _FROM] = None,
    to: Annotated[Day | None, _TO] = None,
    source: Annotated[Source | None, _SOURCE] = None,
    user_id: Annotated[uuid.UUID | None, _USER] = None,
) -> AnalyticsReport:
    start, end = _range(from_, to)
    return await analytics_report(
        services.db, actor, start=start, end=end, source=source, user_id=user_id
    )


@router.get(
    "/models.csv",
    summary="One table of the per-model analytics as CSV",
    description="The same figures as `GET /api/analytics/models`, one table per request: "
    "`models`, `days` or `users` (admins; empty for others). A header row always.",
    response_class=Response,
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "CSV"},
        **error_responses(401, 403, 422),
    },
)
async def get_model_analytics_csv(
    actor: CurrentActor,
    services: ServicesDep,
    from_: Annotated[Day | None, _FROM] = None,
    to: Annotated[Day | None, _TO] = None,
    source: Annotated[Source | None, _SOURCE] = None,
    user_id: Annotated[uuid.UUID | None, _USER] = None,
    table: Annotated[Table, Query(description="Which table")] = "models",
) -> Response:
    start, end = _range(from_, to)
    report = await analytics_report(
        services.db, actor, start=start, end=end, source=source, user_id=user_id
    )
    name = f"analytics-{table}-{start}-{end}.csv"
    return Response(
        to_csv(report, table),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )
