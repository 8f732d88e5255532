"""Operations endpoints: liveness, readiness, Prometheus metrics. No authentication: they
reveal nothing about users or models beyond aggregate counters (protect /metrics at the
reverse proxy if those counters are sensitive)."""

from __future__ import annotations

import logging
from typing import Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel

from modelreg.api.deps import ServicesDep
from modelreg.api.errors import ApiError, ErrorBody
from modelreg.api.metrics import CONTENT_TYPE

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
    responses={200: {"content": {CONTENT_TYPE: {"schema": {"type": "string"}}}}},
)
async def metrics(services: ServicesDep) -> Response:
    return Response(services.metrics.render(), media_type=CONTENT_TYPE)
