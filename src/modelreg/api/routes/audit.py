"""The audit log (admin): one row per change of a model, user or token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

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
) -> list[AuditEntry]:
    return await list_audit(services.db, actor, limit=limit, offset=offset)
