"""Members' personal models as admins see them: that they exist, whose, which provider, how
much used (modelreg.registry.personal_overview). Never their keys."""

from __future__ import annotations

from fastapi import APIRouter

from modelreg.api.deps import AdminActor, ServicesDep
from modelreg.api.errors import error_responses
from modelreg.registry.personal_overview import PersonalModelSummary, list_personal_models

__all__ = ["router"]

router = APIRouter(prefix="/api/personal-models", tags=["models"])


@router.get(
    "",
    summary="Every member's personal models, with owner and usage (admin)",
    description="Names, providers, owners and usage only: keys, headers and base URLs stay "
    "with their owners.",
    responses=error_responses(401, 403),
)
async def list_all_personal_models(
    actor: AdminActor, services: ServicesDep
) -> list[PersonalModelSummary]:
    return await list_personal_models(services.db, actor)
