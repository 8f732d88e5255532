"""The audit log (admin): one row per change of a model, user or token."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BeforeValidator

from modelreg.api.deps import AdminActor, ServicesDep
from modelreg.api.errors import error_responses
from modelreg.audit import AuditEntry, list_audit

__all__ = ["router"]

router = APIRouter(prefix="/api/audit", tags=["audit"])

_NUMBER = re.compile(r"\s*[+-]?\d+(\.\d*)?\s*")


def _not_a_number(value: object) -> object:
    # pydantic reads a number (or a numeric string, as every query value is) as a Unix time;
    # the API documents ISO 8601 with a timezone, so a number is refused, not guessed at
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise ValueError("must be an ISO 8601 date-time with a timezone, not a number")
    return value


IsoTime = Annotated[AwareDatetime, BeforeValidator(_not_a_number)]


@router.get(
    "",
    summary="Audit entries, newest first (admin)",
    responses=error_responses(401, 403, 422),
)
async def get_audit(
    actor: AdminActor,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    actor_name: Annotated[
        str | None,
        Query(
            alias="actor",
            max_length=64,
            pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$",  # a user name, as users are created
            description="Who acted (user name)",
        ),
    ] = None,
    action: Annotated[
        str | None,
        Query(
            max_length=64,
            pattern=r"^[a-z_]+(\.[a-z_]+)?$",
            description='One action ("model.delete") or a family ("model")',
        ),
    ] = None,
    since: Annotated[
        IsoTime | None, Query(description="From this time on (inclusive), with a timezone")
    ] = None,
    until: Annotated[
        IsoTime | None, Query(description="Before this time (exclusive), with a timezone")
    ] = None,
) -> list[AuditEntry]:
    return await list_audit(
        services.db, actor, limit=limit, offset=offset,
        actor_name=actor_name, action=action, since=since, until=until,
    )  # fmt: skip
