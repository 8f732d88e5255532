"""Operations endpoints: liveness and readiness (no authentication: they reveal nothing), and
Prometheus metrics, which name models and their usage and cost: only an admin's token or the
scrapers' `MODELREG_METRICS_TOKEN` may read them."""

from __future__ import annotations

import hmac
import logging
from typing import Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, SecretStr

from modelreg.api.auth import read_session
from modelreg.api.deps import ServicesDep
from modelreg.api.errors import ApiError, ErrorBody
from modelreg.api.metrics import CONTENT_TYPE
from modelreg.api.services import Services

__all__ = ["router"]

log = logging.getLogger(__name__)

router = APIRouter(tags=["operations"])


class HealthStatus(BaseModel):
    status: Literal["ok"] = "ok"


@router.get("/healthz", summary="Liveness: the process is up")
async def healthz() -> HealthStatus:
    return HealthStatus()


@router.get(
    "/readyz",
    summary="Readiness: the database answers",
    responses={503: {"model": ErrorBody, "description": "The database is unreachable"}},
)
async def readyz(services: ServicesDep) -> HealthStatus:
    try:
        await services.db.ping()
    except Exception as exc:  # any failure means "not ready"; the reason goes to the log only
        log.warning("readiness check failed: %s", type(exc).__name__)
        raise ApiError(503, "The database is not reachable", type="not_ready") from None
    return HealthStatus()


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
        raise ApiError(401, "Sign in with an admin token or the metrics token", type="unauthorized")
    if not actor.is_admin:
        raise ApiError(403, "Only admins may read the metrics", type="forbidden")
