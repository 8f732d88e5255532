"""API tokens of the caller. The token itself is in the creation answer only; the server
keeps its SHA-256 and a short prefix to recognise it in listings.

Admins may revoke anyone's token (a leaked token must be stoppable without its owner, as the
CLI and the database's row policy already allow); for everyone else another user's token is
404, the same answer as a token that does not exist."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from pydantic import AwareDatetime, ConfigDict, Field, field_validator

from modelreg.accounts import TokenPublic
from modelreg.api.deps import CurrentActor, ServicesDep
from modelreg.api.errors import ApiError, error_responses
from modelreg.errors import ValidationFailedError
from modelreg.nul import NulFree

__all__ = ["TokenCreate", "TokenCreated", "router"]

router = APIRouter(prefix="/api/tokens", tags=["tokens"])


class TokenCreate(NulFree):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(max_length=100, description="What the token is for")] = ""
    expires_at: AwareDatetime | None = Field(
        default=None,
        description="ISO 8601 / RFC 3339 time with a timezone, in the future, e.g. "
        '"2027-01-31T00:00:00Z"; null: never expires',
    )

    @field_validator("expires_at", mode="before")
    @classmethod
    def _a_string(cls, value: object) -> object:
        # only a string: a JSON number would otherwise be read as a Unix time. (Strict mode
        # cannot say this: FastAPI validates the decoded body in Python mode, where strict
        # refuses strings too, which refused every expiry.)
        if value is not None and not isinstance(value, str):
            raise ValueError("must be an ISO 8601 date-time string with a timezone")
        return value

    @field_validator("expires_at")
    @classmethod
    def _in_the_future(cls, value: datetime | None) -> datetime | None:
        if value is not None and value <= datetime.now(UTC):
            raise ValueError("must be in the future")
        return value


class TokenCreated(TokenPublic):
    token: str = Field(description="The token itself: shown in this answer only, keep it safe")


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create an API token for the caller (shown once)",
    responses=error_responses(400, 401, 413, 422),
)
async def create_token(
    body: TokenCreate, actor: CurrentActor, services: ServicesDep
) -> TokenCreated:
    assert actor.id is not None
    expires_at: datetime | None = body.expires_at
    token, public = await services.accounts.create_token(
        actor, actor.id, body.name, expires_at=expires_at
    )
    return TokenCreated(**public.model_dump(), token=token)


@router.get(
    "", summary="The caller's tokens (admins: any user's)", responses=error_responses(401, 422)
)
async def list_tokens(
    actor: CurrentActor,
    services: ServicesDep,
    user: Annotated[
        str | None,
        Query(max_length=64, description="Admins: the user (name or id) whose tokens to list"),
    ] = None,
) -> list[TokenPublic]:
    return await services.accounts.list_tokens(actor, user)


@router.delete(
    "/{token_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke one of the caller's tokens (admins: anyone's)",
    responses=error_responses(401, 404, 422),
    response_class=Response,
)
async def revoke_token(token_id: uuid.UUID, actor: CurrentActor, services: ServicesDep) -> None:
    try:
        await services.accounts.revoke_token(actor, token_id)
    except ValidationFailedError:
        # someone else's token or none at all: the same answer, so nothing is revealed
        raise ApiError(404, "Unknown token") from None
