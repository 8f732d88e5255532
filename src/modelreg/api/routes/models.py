"""Registry endpoints: /api/models.

Access rules live in the registry service (every call takes the actor): a user sees global
models and their own; another user's model is "not found" (404), never "forbidden", so its
existence stays hidden. Listing reads the registry's cache and never calls a provider.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from modelreg.actor import Actor
from modelreg.api.deps import CurrentActor, ServicesDep
from modelreg.api.errors import error_responses
from modelreg.client.netguard import check_base_url_async
from modelreg.errors import UnsafeURLError
from modelreg.model_config import ModelConfig
from modelreg.registry.access import explain_refusal, may_reach_private
from modelreg.registry.schemas import (
    FromTemplateRequest,
    ModelCreate,
    ModelPublic,
    ModelUpdate,
    TemplatePublic,
)
from modelreg.secret import Secret
from modelreg.services import Services

__all__ = ["router"]

router = APIRouter(prefix="/api/models", tags=["models"])


_MODEL_LIST: TypeAdapter[list[ModelPublic]] = TypeAdapter(list[ModelPublic])


def _dump_models(models: list[ModelPublic]) -> bytes:
    return _MODEL_LIST.dump_json(models, by_alias=True)


@router.get(
    "",
    summary="Models the caller may use (global and own)",
    response_model=list[ModelPublic],
    responses=error_responses(401),
)
async def list_models(actor: CurrentActor, services: ServicesDep) -> Response:
    # the bytes are kept with the registry's cache: FastAPI validating and dumping 1,000
    # models on every call took tens of milliseconds
    body = await services.registry.listing(actor, "api", _dump_models)
    return Response(body, media_type="application/json")


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Register a model (admins may create global ones with is_global)",
    responses=error_responses(400, 401, 403, 413, 422),
)
async def create_model(
    body: ModelCreate, actor: CurrentActor, services: ServicesDep
) -> ModelPublic:
    # the registry refuses unsafe base URLs of personal models (SSRF) before saving
    return await services.registry.create_model(actor, body)


@router.get(
    "/templates", summary="Provider templates to start a model from", responses=error_responses(401)
)
async def list_templates(actor: CurrentActor, services: ServicesDep) -> list[TemplatePublic]:
    return services.registry.list_templates()


@router.post(
    "/from-template",
    status_code=status.HTTP_201_CREATED,
    summary="Register a model from a template with an API key",
    responses=error_responses(400, 401, 403, 404, 413, 422),
)
async def create_from_template(
    body: FromTemplateRequest, actor: CurrentActor, services: ServicesDep
) -> ModelPublic:
    return await services.registry.create_from_template(actor, body)


class SavedModelRef(BaseModel):
    """Test a registered model by its registry id."""

    model_config = ConfigDict(extra="forbid")

    model_id: uuid.UUID = Field(description="The registry id of a model visible to the caller")


class ModelDraft(ModelCreate):
    """An unsaved model configuration (the form before saving); the name is optional."""

    name: str = Field(default="draft", min_length=1, max_length=100)


class ConnectionTestResult(BaseModel):
    ok: bool
    latency_ms: float | None = Field(description="Round trip of the test call, if it answered")
    reason: str | None = Field(
        description="Short machine-readable cause when not ok, e.g. auth, dns, timeout"
    )
    message: str | None = Field(description="Human-readable explanation, safe to show")


@router.post(
    "/test-connection",
    summary="Test a saved model or an unsaved configuration with one small call",
    responses=error_responses(400, 401, 403, 404, 413, 422),
)
async def test_connection(
    request: Request,
    body: Annotated[SavedModelRef | ModelDraft, Body()],
    actor: CurrentActor,
    services: ServicesDep,
) -> ConnectionTestResult:
    if isinstance(body, SavedModelRef):
        # get_model applies the access rules (someone else's model is "not found");
        # get_config then loads it even while disabled, so it can be tested before enabling
        await services.registry.get_model(actor, body.model_id)
        config = await services.registry.get_config(body.model_id)
    else:
        config = _draft_config(body, actor)
    # refuse unsafe targets here, before the client opens any socket
    await _check_url(request, actor, config.base_url, is_global=config.is_global)
    result = await services.client.test_connection(config)
    return ConnectionTestResult(
        ok=result.ok, latency_ms=result.latency_ms, reason=result.reason, message=result.message
    )


@router.get("/{model_id}", summary="One model", responses=error_responses(401, 404, 422))
async def get_model(model_id: uuid.UUID, actor: CurrentActor, services: ServicesDep) -> ModelPublic:
    return await services.registry.get_model(actor, model_id)


@router.patch(
    "/{model_id}",
    summary='Change some fields of a model (api_key: null keeps it, "" clears it)',
    responses=error_responses(400, 401, 403, 404, 413, 422),
)
async def update_model(
    model_id: uuid.UUID, body: ModelUpdate, actor: CurrentActor, services: ServicesDep
) -> ModelPublic:
    return await services.registry.update_model(actor, model_id, body)


@router.delete(
    "/{model_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a model",
    responses=error_responses(401, 403, 404, 422),
    response_class=Response,
)
async def delete_model(model_id: uuid.UUID, actor: CurrentActor, services: ServicesDep) -> None:
    await services.registry.delete_model(actor, model_id)


# --- helpers ----------------------------------------------------------------------------


async def _check_url(request: Request, actor: Actor, url: str, *, is_global: bool) -> None:
    """SSRF guard (the rule: registry.access.may_reach_private); a user's claim of
    `is_global` counts only for admins. `app.state.url_resolver` replaces the system
    resolver in tests (no real DNS lookups)."""
    services: Services = request.app.state.services
    allow_private = may_reach_private(is_global and actor.is_admin, services.settings)
    resolve = getattr(request.app.state, "url_resolver", None)
    try:
        await check_base_url_async(url, allow_private=allow_private, resolve=resolve)
    except UnsafeURLError as e:
        raise explain_refusal(e, is_admin=actor.is_admin) from None


def _draft_config(draft: ModelDraft, actor: Actor) -> ModelConfig:
    data: dict[str, Any] = draft.model_dump(
        exclude={"api_key", "auth_headers", "fallback_model_ids"}
    )
    # the client lets global configs through its trusted (private-network) connection pool:
    # a user's draft claiming "is_global" must not get there (DNS rebinding past the check)
    data["is_global"] = draft.is_global and actor.is_admin
    return ModelConfig(
        **{**data, "id": "draft", "user_id": str(actor.id) if actor.id else None},
        api_key=Secret(draft.api_key) if draft.api_key else None,
        auth_headers={k: Secret(v) for k, v in (draft.auth_headers or {}).items()},
    )
