"""Backward compatibility with the old single-provider configuration.

Before the registry, the app was configured by LLM_PROVIDER, OPENAI_API_KEY / OPENAI_MODEL and
ANTHROPIC_API_KEY / ANTHROPIC_MODEL. At every start those become global models with
`source = "env"` (named after the model id, so OpenAI-style clients sending that model name
keep working), and the model of LLM_PROVIDER becomes the system default. When a variable is
removed, its env model is removed too: the environment stays the source of truth for them.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from sqlalchemy import select

from modelreg.actor import SYSTEM
from modelreg.db.models import AppSetting, LLMModel
from modelreg.errors import ValidationFailedError
from modelreg.registry.schemas import ModelCreate, ModelUpdate
from modelreg.registry.service import DEFAULT_MODEL_SETTING, ModelManagerService
from modelreg.registry.templates import get_template
from modelreg.settings import LegacySettings

__all__ = ["EnvModel", "env_models", "sync_env_models"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EnvModel:
    provider: str
    model_id: str
    base_url: str
    api_key: str


def env_models(legacy: LegacySettings) -> list[EnvModel]:
    found = []
    if legacy.openai_api_key is not None:
        found.append(
            EnvModel(
                "openai",
                legacy.openai_model,
                legacy.openai_base_url,
                legacy.openai_api_key.get_secret_value(),
            )
        )
    if legacy.anthropic_api_key is not None:
        found.append(
            EnvModel(
                "anthropic",
                legacy.anthropic_model,
                legacy.anthropic_base_url,
                legacy.anthropic_api_key.get_secret_value(),
            )
        )
    return found


def _create_payload(env: EnvModel) -> ModelCreate:
    template = get_template(env.provider)
    assert template is not None  # openai and anthropic templates always exist
    same_model = env.model_id == template.model_id
    return ModelCreate(
        name=env.model_id[:100],
        description=f"from the {env.provider.upper()}_* environment variables",
        provider=env.provider,
        base_url=env.base_url,
        model_id=env.model_id,
        auth_type=template.auth_type,
        api_key=env.api_key,
        supports_vision=template.supports_vision,
        # the template's limits and prices describe its own model only
        context_length=template.context_length if same_model else None,
        max_output_tokens=template.max_output_tokens if same_model else None,
        price_per_input_token=(template.price_per_input_token or 0) if same_model else 0,
        price_per_output_token=(template.price_per_output_token or 0) if same_model else 0,
        is_global=True,
    )


async def sync_env_models(service: ModelManagerService, legacy: LegacySettings) -> None:
    """Upsert the env models (idempotent: unchanged ones are not written) and set the
    system default to the one LLM_PROVIDER names."""
    wanted = {m.provider: m for m in env_models(legacy)}
    async with service.db.session(SYSTEM) as session:
        existing = {
            row.provider: (row.id, row.name, row.model_id, row.base_url)
            for row in await session.scalars(select(LLMModel).where(LLMModel.source == "env"))
        }
    ids: dict[str, uuid.UUID] = {}
    for provider, env in wanted.items():
        payload = _create_payload(env)
        current = existing.pop(provider, None)
        if current is None:
            try:
                created = await service.create_model(SYSTEM, payload, source="env")
            except ValidationFailedError as e:
                log.warning("not importing %s from the environment: %s", provider, e.message)
                continue
            ids[provider] = created.id
            log.info("imported the %s model %r from the environment", provider, env.model_id)
            continue
        model_id, name, remote_id, base_url = current
        ids[provider] = model_id
        config = await service.get_config(model_id)
        key = config.api_key.reveal() if config.api_key else None
        if (name, remote_id, base_url, key) != (
            payload.name,
            payload.model_id,
            payload.base_url,
            env.api_key,
        ):
            await service.update_model(
                SYSTEM,
                model_id,
                ModelUpdate(
                    name=payload.name,
                    model_id=payload.model_id,
                    base_url=payload.base_url,
                    api_key=env.api_key,
                ),
            )
    for _provider, (model_id, *_rest) in existing.items():
        # the variable is gone: so is its model (conversations detach, history stays)
        await service.delete_model(SYSTEM, model_id)
    await _set_default(service, legacy, ids)


async def _set_default(
    service: ModelManagerService, legacy: LegacySettings, ids: dict[str, uuid.UUID]
) -> None:
    provider = (legacy.llm_provider or "").strip().lower()
    if not provider:
        return
    model_id = ids.get(provider)
    if model_id is None:
        log.warning(
            "LLM_PROVIDER=%s but no %s key is set; no system default from the environment",
            provider,
            provider.upper(),
        )
        return
    async with service.db.session(SYSTEM) as session:
        setting = await session.get(AppSetting, DEFAULT_MODEL_SETTING)
        current = setting.value if setting else None
    if current != {"id": str(model_id)}:
        await service.set_system_default(SYSTEM, model_id)
