"""Usage and cost per model, day or user: the data for comparing models (from the rollup)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BeforeValidator

from modelreg.api.deps import CurrentActor, ServicesDep
from modelreg.api.errors import error_responses
from modelreg.chat.usage_report import GroupBy, UsageReport, usage_report
from modelreg.errors import ValidationFailedError

__all__ = ["router"]

router = APIRouter(prefix="/api/usage", tags=["usage"])

DEFAULT_DAYS = 30
# a bound on the work one request can ask for: ten years of days
MAX_DAYS = 3660


def _iso_day(value: object) -> object:
    # pydantic's lax mode reads "1700000000" or "-1e-218" as a Unix time: only a calendar day
    if isinstance(value, str) and not _DAY.fullmatch(value):
        raise ValueError("write the day as YYYY-MM-DD")
    return value


_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
Day = Annotated[date, BeforeValidator(_iso_day)]


@router.get(
    "",
    summary="Usage totals per model, day or user over a date range",
    description=(
        "Requests, errors, tokens, cost and mean latency / time to first token of every "
        "upstream call (chat and gateway), per UTC day range. Users see their own usage; "
        "admins see everyone's, or one user's with `user_id`, and may group by user."
    ),
    responses=error_responses(401, 403, 422),
)
async def get_usage(
    actor: CurrentActor,
    services: ServicesDep,
    since: Annotated[
        Day | None, Query(description="First UTC day (default: 29 days before `until`)")
    ] = None,
    until: Annotated[
        Day | None, Query(description="Last UTC day, included (default: today)")
    ] = None,
    group_by: Annotated[GroupBy, Query(description="`user` is for admins only")] = "model",
    user_id: Annotated[
        uuid.UUID | None, Query(description="Only this user's usage (admins; users: their own)")
    ] = None,
) -> UsageReport:
    until = until or datetime.now(UTC).date()
    since = since or until - timedelta(days=DEFAULT_DAYS - 1)
    if since > until:
        raise ValidationFailedError("since must not be after until", field="since")
    if (until - since).days >= MAX_DAYS:
        raise ValidationFailedError(f"at most {MAX_DAYS} days per report", field="since")
    return await usage_report(
        services.db, actor, since=since, until=until, group_by=group_by, user_id=user_id
    )
