"""FastAPI dependencies as `Annotated` aliases: the services, and who is calling.

```python
@router.get("/things")
async def list_things(actor: CurrentActor, services: ServicesDep) -> list[Thing]: ...
```

- `OptionalActor`: the caller or None (an *invalid* token is still a 401, never anonymous).
- `CurrentActor`: the caller; 401 with `WWW-Authenticate: Bearer` when there is none.
- `AdminActor`: the caller if an admin; 403 otherwise.

The security schemes are declared through FastAPI's `HTTPBearer` / `APIKeyCookie` so that
/openapi.json documents how to authenticate.
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from modelreg.actor import Actor
from modelreg.api.auth import (
    SESSION_COOKIE,
    read_session,
    session_csrf_token,
    verify_csrf_header,
)
from modelreg.api.errors import ApiError
from modelreg.services import Services

__all__ = [
    "AdminActor",
    "CurrentActor",
    "OptionalActor",
    "ServicesDep",
    "get_admin_actor",
    "get_current_actor",
    "get_optional_actor",
    "get_services",
    "session_actor",
]

_CHALLENGE: Final = {"WWW-Authenticate": 'Bearer realm="modelreg"'}

_bearer = HTTPBearer(auto_error=False, description="An API token (`modelreg tokens create`)")
_api_key = APIKeyHeader(
    name="x-api-key", auto_error=False, description="An API token (as the Anthropic SDK sends)"
)
_cookie = APIKeyCookie(
    name=SESSION_COOKIE, auto_error=False, description="The web UI's session (plus CSRF header)"
)


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def unauthenticated(message: str = "Authentication required") -> ApiError:
    return ApiError(401, message, headers=dict(_CHALLENGE))


async def get_optional_actor(
    request: Request,
    services: ServicesDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
    session: Annotated[str | None, Depends(_cookie)],
) -> Actor | None:
    token = bearer.credentials if bearer is not None else api_key
    if token:
        actor = await services.accounts.resolve_token(token)
        if actor is None:
            raise unauthenticated("Invalid or revoked API token")
    elif session:
        actor = await session_actor(request, services)
    else:
        return None
    request.state.actor = actor
    return actor


async def session_actor(request: Request, services: Services) -> Actor:
    """The user of the request's session cookie (which must be there), its CSRF header
    checked; 401 for a session that is expired or invalid, 403 for a missing CSRF header."""
    session_id = read_session(request, services.settings)
    actor = await services.accounts.session_actor(session_id) if session_id else None
    if actor is None or session_id is None:
        raise unauthenticated("Session expired or invalid; log in again")
    verify_csrf_header(request, session_csrf_token(services.settings, session_id))
    return actor


OptionalActor = Annotated[Actor | None, Depends(get_optional_actor)]


async def get_current_actor(actor: OptionalActor) -> Actor:
    if actor is None:
        raise unauthenticated()
    return actor


CurrentActor = Annotated[Actor, Depends(get_current_actor)]


async def get_admin_actor(actor: CurrentActor) -> Actor:
    if not actor.is_admin:
        raise ApiError(403, "Administrator role required")
    return actor


AdminActor = Annotated[Actor, Depends(get_admin_actor)]
