"""Provider templates: complete, valid, and instantiable into working model configs."""

from __future__ import annotations

from decimal import Decimal

import pytest

from modelreg.actor import Actor
from modelreg.errors import ValidationFailedError
from modelreg.model_config import PROVIDERS
from modelreg.registry.schemas import FromTemplateRequest, ModelCreate
from modelreg.registry.service import ModelManagerService
from modelreg.registry.templates import TEMPLATES, get_template

REQUIRED = {
    "openai", "anthropic", "azure", "huggingface-router", "huggingface-tgi", "ollama", "vllm",
    "lmstudio", "gemini", "mistral", "groq", "deepseek", "openrouter", "together", "custom",
}  # fmt: skip


def test_every_required_template_exists_with_valid_data() -> None:
    assert {t.id for t in TEMPLATES} >= REQUIRED
    for template in TEMPLATES:
        assert template.provider in PROVIDERS
        ModelCreate(
            name=template.id,
            provider=template.provider,  # type: ignore[arg-type]
            base_url=template.base_url,
            model_id=template.model_id,
            auth_type=template.auth_type,  # type: ignore[arg-type]
        )
        priced = template.price_per_input_token is not None
        if priced and template.price_per_input_token:  # a paid API cites its source and date
            assert template.prices_as_of is not None
            assert template.price_source is not None
            assert template.price_source.startswith("https://")
        if priced:
            assert isinstance(template.price_per_input_token, Decimal)


def test_base_url_conventions_of_the_adapters() -> None:
    def base(template_id: str) -> str:
        template = get_template(template_id)
        assert template is not None
        return template.base_url

    assert base("openai") == "https://api.openai.com/v1"
    assert base("anthropic") == "https://api.anthropic.com"
    assert base("ollama") == "http://localhost:11434"
    assert base("huggingface-router") == "https://router.huggingface.co/v1"
    assert base("huggingface-tgi") == "http://localhost:8080/v1"
    azure = get_template("azure")
    assert azure is not None
    assert azure.options == {"api_version": "2024-10-21"}


def test_prices_are_per_single_token() -> None:
    openai = get_template("openai")
    assert openai is not None
    assert openai.price_per_input_token == Decimal("0.00000015")
    assert openai.price_per_output_token == Decimal("0.0000006")


def _request(template_id: str) -> FromTemplateRequest:
    template = get_template(template_id)
    assert template is not None
    return FromTemplateRequest(
        template_id=template_id,
        name=f"t-{template_id}",
        api_key="sk-template-key" if template.requires_api_key else None,
        base_url="https://contoso.openai.azure.com" if template.base_url_is_placeholder else None,
        is_global=True,
    )


async def test_instantiate_every_template(
    registry: ModelManagerService, admin_actor: Actor
) -> None:
    for template_id in sorted(REQUIRED):
        await _instantiate(registry, admin_actor, template_id)


async def _instantiate(registry: ModelManagerService, admin_actor: Actor, template_id: str) -> None:
    template = get_template(template_id)
    assert template is not None
    created = await registry.create_from_template(admin_actor, _request(template_id))
    config = await registry.resolve(admin_actor, f"t-{template_id}")
    assert config.provider == template.provider
    assert config.model_id == template.model_id
    assert config.auth_type == template.auth_type
    assert config.options == template.options
    assert config.price_per_input_token == (template.price_per_input_token or 0)
    assert created.is_global
    if template.base_url_is_placeholder:
        assert config.base_url == "https://contoso.openai.azure.com"
    else:
        assert config.base_url == template.base_url


async def test_template_errors_name_the_field(
    registry: ModelManagerService, admin_actor: Actor
) -> None:
    cases = [
        (FromTemplateRequest(template_id="nope"), "template_id"),
        (FromTemplateRequest(template_id="azure", api_key="k" * 20), "base_url"),
        (FromTemplateRequest(template_id="openai"), "api_key"),
    ]
    for request, field in cases:
        with pytest.raises(ValidationFailedError) as info:
            await registry.create_from_template(admin_actor, request)
        assert info.value.field == field
    assert await registry.list_models(admin_actor) == []


async def test_local_template_needs_no_key_and_defaults_the_name(
    registry: ModelManagerService, user_a: Actor
) -> None:
    created = await registry.create_from_template(user_a, FromTemplateRequest(template_id="ollama"))
    assert created.name == "llama3.2"
    assert not created.has_api_key
    assert not created.is_global


def test_public_view_serialises_prices_as_fixed_point() -> None:
    openai = get_template("openai")
    assert openai is not None
    dumped = openai.public().model_dump(mode="json")
    assert dumped["price_per_input_token"] == "0.00000015"
    assert dumped["prices_as_of"] == openai.prices_as_of
