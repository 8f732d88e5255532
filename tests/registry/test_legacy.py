"""The old LLM_PROVIDER / OPENAI_* / ANTHROPIC_* configuration keeps working."""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from modelreg.actor import SYSTEM, Actor
from modelreg.db.engine import Database
from modelreg.db.models import AuditLog
from modelreg.registry.legacy import sync_env_models
from modelreg.registry.service import ModelManagerService
from modelreg.settings import LegacySettings
from tests.registry.conftest import model_input


def legacy(**values: object) -> LegacySettings:
    base: dict[str, object] = {
        "llm_provider": None,
        "openai_api_key": None,
        "anthropic_api_key": None,
    }
    base.update(values)
    return LegacySettings(**base)  # type: ignore[arg-type]


async def _audit_count(db: Database) -> int:
    async with db.session(SYSTEM) as session:
        return int(await session.scalar(select(func.count()).select_from(AuditLog)) or 0)


async def test_env_keys_become_global_models_and_provider_is_default(
    registry: ModelManagerService, user_a: Actor
) -> None:
    await sync_env_models(
        registry,
        legacy(
            llm_provider="anthropic",
            openai_api_key=SecretStr("sk-env-openai-1111"),
            anthropic_api_key=SecretStr("sk-ant-env-2222"),
            anthropic_model="claude-3-5-haiku-latest",
        ),
    )
    models = {m.name: m for m in await registry.list_models(user_a)}
    assert set(models) == {"gpt-4o-mini", "claude-3-5-haiku-latest"}
    assert all(m.is_global and m.source == "env" for m in models.values())
    anthropic = models["claude-3-5-haiku-latest"]
    assert anthropic.base_url == "https://api.anthropic.com"
    assert anthropic.auth_type == "api_key"
    assert anthropic.has_api_key
    assert anthropic.api_key_hint is None  # a member sees that a key is set, not its end
    (seen,) = [m for m in await registry.list_models(SYSTEM) if m.name == anthropic.name]
    assert seen.api_key_hint == "2222"

    default = await registry.get_default_model(user_a)
    assert default is not None
    assert default.provider == "anthropic"
    assert default.api_key is not None
    assert default.api_key.reveal() == "sk-ant-env-2222"
    # OpenAI clients sending the old model name reach the env model
    openai = await registry.resolve(user_a, "gpt-4o-mini")
    assert openai.source == "env"


async def test_sync_is_idempotent_and_follows_changes(
    db: Database, registry: ModelManagerService, admin_actor: Actor
) -> None:
    settings = legacy(llm_provider="openai", openai_api_key=SecretStr("sk-env-first-1111"))
    await sync_env_models(registry, settings)
    audits = await _audit_count(db)
    await sync_env_models(registry, settings)
    assert await _audit_count(db) == audits  # nothing changed, nothing written

    await sync_env_models(
        registry, legacy(llm_provider="openai", openai_api_key=SecretStr("sk-env-second-2222"))
    )
    (model,) = await registry.list_models(admin_actor)
    assert model.api_key_hint == "2222"

    await sync_env_models(registry, legacy())  # the variables are gone
    assert await registry.list_models(admin_actor) == []


async def test_name_clash_with_an_admin_model_is_skipped_with_a_warning(
    registry: ModelManagerService, admin_actor: Actor, caplog: pytest.LogCaptureFixture
) -> None:
    await registry.create_model(admin_actor, model_input("gpt-4o-mini", is_global=True))
    caplog.set_level(logging.WARNING)
    await sync_env_models(
        registry, legacy(llm_provider="openai", openai_api_key=SecretStr("sk-env-clash-3333"))
    )
    (model,) = await registry.list_models(admin_actor)
    assert model.source == "db"
    assert "not importing openai" in caplog.text
    assert "sk-env-clash" not in caplog.text


async def test_provider_without_key_warns_and_sets_no_default(
    registry: ModelManagerService, user_a: Actor, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    await sync_env_models(registry, legacy(llm_provider="anthropic"))
    assert "LLM_PROVIDER=anthropic" in caplog.text
    assert await registry.get_default_model(user_a) is None
