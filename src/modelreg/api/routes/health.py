"""Operations endpoints: liveness and readiness (no authentication: they reveal nothing), and
Prometheus metrics, which name models and their usage and cost: only an admin's token or the
scrapers' `MODELREG_METRICS_TOKEN` may read them."""

from __future__ import annotations

import hmac
import logging
from typing import Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, SecretStr

from modelreg.api.auth import read_session
from modelreg.api.deps import ServicesDep, unauthenticated
from modelreg.api.errors import ApiError, ErrorBody, ErrorDetail
from modelreg.errors import DatabaseUnavailableError
from modelreg.metrics import CONTENT_TYPE
from modelreg.services import Services

__all__ = ["router"]

log = logging.getLogger(__name__)

router = APIRouter(tags=["operations"])


class HealthStatus(BaseModel):
    status: Literal["ok"] = "ok"


@router.get("/healthz", summary="Liveness: the process is up")
async def healthz() -> HealthStatus:
    return HealthStatus()


class ReadyStatus(BaseModel):
    """Readiness and what it depends on. `redis` is "off" without MODELREG_REDIS_URL. With
    Redis down and limits failing open the server keeps serving: 200, status "degraded"."""

    status: Literal["ok", "degraded", "unavailable"]
    database: Literal["ok", "down"]
    redis: Literal["ok", "down", "off"]
    error: ErrorDetail | None = Field(default=None, description="Set when not ready (503)")


@router.get(
    "/readyz",
    summary="Readiness: the database answers (and Redis, when limits fail closed)",
    response_model=ReadyStatus,
    response_model_exclude_none=True,
    responses={
        503: {
            "model": ReadyStatus,
            "description": "The database is unreachable, or Redis is and limits fail closed",
        }
    },
)
async def readyz(services: ServicesDep) -> ReadyStatus | JSONResponse:
    database: Literal["ok", "down"] = "ok"
    try:
        await services.db.ping()
    except DatabaseUnavailableError:  # logged by the database, once per outage
        database = "down"
    except Exception as exc:  # any failure means "not ready"; the reason goes to the log only
        log.warning("readiness check failed: %s", type(exc).__name__)
        database = "down"
    redis = await services.limiter.ping()
    down = [name for name, state in (("database", database), ("Redis", redis)) if state == "down"]
    if database == "down" or (redis == "down" and services.settings.rate_limit_fail_closed):
        body = ReadyStatus(
            status="unavailable",
            database=database,
            redis=redis,
            error=ErrorDetail(type="not_ready", message=f"Not reachable: {', '.join(down)}"),
        )
        return JSONResponse(body.model_dump(mode="json"), status_code=503)
    return ReadyStatus(status="degraded" if down else "ok", database=database, redis=redis)


@router.get(
    "/metrics",
    summary="Prometheus metrics (text exposition format)",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE: {"schema": {"type": "string"}}}},
        401: {"model": ErrorBody, "description": "No admin token and no metrics token"},
        403: {"model": ErrorBody, "description": "The caller is not an admin"},
    },
)
async def metrics(request: Request, services: ServicesDep) -> Response:
    if not _is_scraper(request, services.settings.metrics_token):
        await _require_admin(request, services)
    return Response(services.metrics.render(), media_type=CONTENT_TYPE)


def _is_scraper(request: Request, token: SecretStr | None) -> bool:
    if token is None:
        return False
    given = request.headers.get("authorization", "")
    expected = f"Bearer {token.get_secret_value()}"
    return hmac.compare_digest(given.encode(), expected.encode())


async def _require_admin(request: Request, services: Services) -> None:
    given = request.headers.get("authorization", "")
    token = given[7:].strip() if given[:7].lower() == "bearer " else None
    if token:
        actor = await services.accounts.resolve_token(token)
    else:
        session_id = read_session(request, services.settings)
        actor = await services.accounts.session_actor(session_id) if session_id else None
    if actor is None:
        # the same 401 as every other route: authentication_error with its challenge
        raise unauthenticated("Sign in with an admin token or the metrics token")
    if not actor.is_admin:
        raise ApiError(403, "Only admins may read the metrics", type="forbidden")
