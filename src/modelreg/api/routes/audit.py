"""The audit log (admin): one row per change of a model, user or token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from modelreg.api.deps import AdminActor, ServicesDep
from modelreg.api.errors import error_responses
from modelreg.audit import AuditEntry, list_audit

__all__ = ["router"]

router = APIRouter(prefix="/api/audit", tags=["audit"])


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
        str | None, Query(alias="actor", max_length=64, description="Who acted (user name)")
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
        AwareDatetime | None, Query(description="From this time on (inclusive), with a timezone")
    ] = None,
    until: Annotated[
        AwareDatetime | None, Query(description="Before this time (exclusive), with a timezone")
    ] = None,
) -> list[AuditEntry]:
    return await list_audit(
        services.db, actor, limit=limit, offset=offset,
        actor_name=actor_name, action=action, since=since, until=until,
    )  # fmt: skip
