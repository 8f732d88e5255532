"""get_adapter: the right adapter per provider and API flavour, shared instances."""

from __future__ import annotations

import pytest

from modelreg.errors import ConfigError
from modelreg.model_config import PROVIDERS
from modelreg.providers.anthropic import AnthropicAdapter
from modelreg.providers.azure import AzureOpenAIAdapter
from modelreg.providers.base import ConnectionChecker, ProviderAdapter
from modelreg.providers.huggingface import HuggingFaceAdapter
from modelreg.providers.lookup import get_adapter, register_adapter, registered_providers
from modelreg.providers.ollama import OllamaAdapter
from modelreg.providers.openai_compat import OpenAICompatAdapter
from tests.providers._helpers import make_model


def test_every_known_provider_has_an_adapter_with_a_connection_check() -> None:
    for provider in PROVIDERS:
        adapter = get_adapter(make_model(provider))
        assert isinstance(adapter, ConnectionChecker), provider


@pytest.mark.parametrize(
    ("provider", "options", "cls", "profile"),
    [
        ("openai", {}, OpenAICompatAdapter, "openai"),
        ("groq", {}, OpenAICompatAdapter, "groq"),
        ("custom", {}, OpenAICompatAdapter, "custom"),
        ("azure", {}, AzureOpenAIAdapter, "azure"),
        ("anthropic", {}, AnthropicAdapter, None),
        ("huggingface", {}, HuggingFaceAdapter, "huggingface"),
        ("ollama", {}, OllamaAdapter, None),
        ("ollama", {"api": "native"}, OllamaAdapter, None),
        ("ollama", {"api": "openai"}, OpenAICompatAdapter, "ollama"),
    ],
)
def test_adapter_choice(
    provider: str, options: dict[str, str], cls: type, profile: str | None
) -> None:
    adapter = get_adapter(make_model(provider, options=options))
    assert type(adapter) is cls
    if profile is not None:
        assert isinstance(adapter, OpenAICompatAdapter)
        assert adapter.profile.provider == profile


def test_instances_are_shared_per_provider_and_flavour() -> None:
    assert get_adapter(make_model("openai")) is get_adapter(make_model("openai", id="other"))
    native = get_adapter(make_model("ollama"))
    assert native is not get_adapter(make_model("ollama", options={"api": "openai"}))


def test_unknown_provider_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no adapter for provider 'nope'"):
        get_adapter(make_model("nope"))


def test_register_adapter_adds_a_provider() -> None:
    class EchoAdapter(OpenAICompatAdapter):
        name = "echo"

    def factory(flavour: str) -> ProviderAdapter:
        return EchoAdapter(OpenAICompatAdapter(get_adapter(make_model("custom")).profile).profile)  # type: ignore[attr-defined]

    register_adapter("echo-test", factory)
    assert "echo-test" in registered_providers()
    assert type(get_adapter(make_model("echo-test"))) is EchoAdapter
