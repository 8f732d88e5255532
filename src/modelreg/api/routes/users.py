"""Users: admins list and create them; everyone reads and sets their own default model."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from modelreg.accounts import UserPublic
from modelreg.api.deps import AdminActor, CurrentActor, ServicesDep
from modelreg.api.errors import error_responses

__all__ = ["MeUpdate", "UserCreate", "router"]

router = APIRouter(prefix="/api/users", tags=["users"])


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    username: Annotated[
        str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")
    ]
    password: Annotated[str | None, Field(min_length=8, max_length=1024, repr=False)] = Field(
        default=None, description="null: the user signs in with API tokens only"
    )
    role: Literal["admin", "user"] = "user"


class MeUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default_model_id: uuid.UUID | None = Field(
        description="A model visible to the caller, or null for the system default"
    )


@router.get("", summary="All users (admin)", responses=error_responses(401, 403))
async def list_users(actor: AdminActor, services: ServicesDep) -> list[UserPublic]:
    return await services.accounts.list_users(actor)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create a user (admin)",
    responses=error_responses(400, 401, 403, 413, 422),
)
async def create_user(body: UserCreate, actor: AdminActor, services: ServicesDep) -> UserPublic:
    return await services.accounts.create_user(actor, body.username, body.password, body.role)


@router.get("/me", summary="The caller", responses=error_responses(401))
async def get_me(actor: CurrentActor, services: ServicesDep) -> UserPublic:
    assert actor.id is not None  # tokens and sessions always belong to a user
    return await services.accounts.get_user(actor, actor.id)


@router.patch(
    "/me",
    summary="Set the caller's default model",
    responses=error_responses(400, 401, 404, 413, 422),
)
async def update_me(body: MeUpdate, actor: CurrentActor, services: ServicesDep) -> UserPublic:
    assert actor.id is not None
    await services.accounts.set_default_model(actor, body.default_model_id)
    return await services.accounts.get_user(actor, actor.id)
