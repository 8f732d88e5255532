"""Monthly cost budgets (modelreg.budgets): company-wide, per model, per user.

Admins set any budget; a user sets user budgets for themselves only, never above one an admin
set for them. A budget another user cannot see is 404 for them, the same answer as none."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from modelreg.api.deps import CurrentActor, ServicesDep
from modelreg.api.errors import ApiError, error_responses
from modelreg.budgets import UnknownBudgetError
from modelreg.budgets.schemas import BudgetCreate, BudgetPublic, BudgetUpdate

__all__ = ["router"]

router = APIRouter(prefix="/api/budgets", tags=["budgets"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Set a monthly cost budget",
    description=(
        "Once the recorded spend of a budget reaches `limit_usd` in a calendar month (UTC), "
        "the requests it covers are refused before any upstream call (429). Admins set "
        "company-wide (`global`), `model` and `user` budgets; a user sets `user` budgets for "
        "themselves, at most the limit an admin set for them."
    ),
    responses=error_responses(400, 401, 403, 413, 422),
)
async def create_budget(
    body: BudgetCreate, actor: CurrentActor, services: ServicesDep
) -> BudgetPublic:
    return await services.budgets.create(actor, body)


@router.get(
    "",
    summary="The budgets that apply to the caller (admins: all), with this month's spend",
    responses=error_responses(401),
)
async def list_budgets(actor: CurrentActor, services: ServicesDep) -> list[BudgetPublic]:
    return await services.budgets.list_budgets(actor)


@router.get(
    "/{budget_id}",
    summary="One budget with this month's spend",
    responses=error_responses(401, 404, 422),
)
async def get_budget(
    budget_id: uuid.UUID, actor: CurrentActor, services: ServicesDep
) -> BudgetPublic:
    try:
        return await services.budgets.get(actor, budget_id)
    except UnknownBudgetError:
        raise ApiError(404, "Unknown budget") from None


@router.patch(
    "/{budget_id}",
    summary="Change a budget's limit (its alerts are due afresh)",
    responses=error_responses(400, 401, 403, 404, 413, 422),
)
async def update_budget(
    budget_id: uuid.UUID, body: BudgetUpdate, actor: CurrentActor, services: ServicesDep
) -> BudgetPublic:
    try:
        return await services.budgets.update(actor, budget_id, body)
    except UnknownBudgetError:
        raise ApiError(404, "Unknown budget") from None


@router.delete(
    "/{budget_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a budget",
    responses=error_responses(401, 403, 404, 422),
    response_class=Response,
)
async def delete_budget(budget_id: uuid.UUID, actor: CurrentActor, services: ServicesDep) -> None:
    try:
        await services.budgets.delete(actor, budget_id)
    except UnknownBudgetError:
        raise ApiError(404, "Unknown budget") from None
