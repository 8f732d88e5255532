"""Users: admins list, create, disable / enable, promote / demote, reset and delete them
(what each does to the account: modelreg.user_lifecycle); everyone reads themselves, sets
their own default model and changes their own password."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from typing import Annotated, Literal, TypeVar

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from modelreg.accounts import UserPublic
from modelreg.api.auth import read_session
from modelreg.api.deps import AdminActor, CurrentActor, ServicesDep
from modelreg.api.errors import ApiError, error_responses
from modelreg.errors import ValidationFailedError
from modelreg.user_lifecycle import AccountChangeRefused

__all__ = ["MeUpdate", "PasswordChange", "PasswordReset", "UserCreate", "UserUpdate", "router"]

T = TypeVar("T")

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


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["admin", "user"] | None = Field(default=None, description="A new role")
    is_active: bool | None = Field(
        default=None,
        description="false: disable (ends their sessions and revokes their tokens at once); "
        "true: enable again (sessions and tokens do not come back)",
    )


class PasswordReset(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    password: Annotated[
        str,
        Field(
            min_length=8,
            max_length=1024,
            repr=False,
            description="The user's new password (their sessions end; their tokens stay)",
        ),
    ]


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    current_password: Annotated[str, Field(min_length=1, max_length=1024, repr=False)]
    new_password: Annotated[str, Field(min_length=8, max_length=1024, repr=False)]


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


@router.post(
    "/me/password",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Change the caller's password (the current one is required)",
    description="Ends every other browser session of the caller; API tokens stay valid. "
    "Attempts count toward the sign-in rate limit.",
    responses=error_responses(400, 401, 413, 422, 429),
    response_class=Response,
)
async def change_my_password(
    body: PasswordChange, request: Request, actor: CurrentActor, services: ServicesDep
) -> None:
    assert actor.id is not None
    client_ip = request.client.host if request.client else "unknown"
    await services.limiter.check_login(actor.username, client_ip)
    await services.accounts.change_own_password(
        actor,
        body.current_password,
        body.new_password,
        keep_session=read_session(request, services.settings),
    )


async def _admin_change(call: Awaitable[T]) -> T:
    """An admin's change: a refused one is 409, an unknown user 404."""
    try:
        return await call
    except AccountChangeRefused as exc:
        raise ApiError(409, exc.message, field=exc.field) from None
    except ValidationFailedError as exc:
        if exc.field == "user":
            raise ApiError(404, "Unknown user", field="user_id") from None
        raise


@router.patch(
    "/{user_id}",
    summary="Disable / enable a user or change their role (admin)",
    description="Nobody disables or demotes themselves, and the last active administrator "
    "stays one (409).",
    responses=error_responses(400, 401, 403, 404, 409, 413, 422),
)
async def update_user(
    user_id: uuid.UUID, body: UserUpdate, actor: AdminActor, services: ServicesDep
) -> UserPublic:
    return await _admin_change(
        services.accounts.update_user(actor, user_id, role=body.role, is_active=body.is_active)
    )


@router.post(
    "/{user_id}/password",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Set a user's password (admin)",
    description="Ends the user's sessions; their API tokens stay. Your own password: "
    "POST /api/users/me/password, which asks for the current one.",
    responses=error_responses(400, 401, 403, 404, 409, 413, 422),
    response_class=Response,
)
async def reset_password(
    user_id: uuid.UUID, body: PasswordReset, actor: AdminActor, services: ServicesDep
) -> None:
    if user_id == actor.id:
        raise ApiError(
            409, "Change your own password with POST /api/users/me/password", field="user_id"
        )
    await _admin_change(services.accounts.update_user(actor, user_id, password=body.password))


@router.delete(
    "/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a user (admin)",
    description="Their personal models, conversations, tokens and sessions are deleted; "
    "their usage stays, anonymised. Nobody deletes themselves or the last administrator.",
    responses=error_responses(401, 403, 404, 409, 422),
    response_class=Response,
)
async def delete_user(user_id: uuid.UUID, actor: AdminActor, services: ServicesDep) -> None:
    await _admin_change(services.accounts.delete_user(actor, user_id))
