"""Which adapter serves a model: `get_adapter(model)`.

Adapters are stateless, so one instance per (provider, API flavour) is shared by every call.
A new provider is one module with an adapter class plus one `register_adapter` call (see
docs/providers.md); OpenAI-compatible servers usually need only a profile.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from modelreg.errors import ConfigError
from modelreg.model_config import ModelConfig
from modelreg.providers.anthropic import AnthropicAdapter
from modelreg.providers.azure import AzureOpenAIAdapter
from modelreg.providers.base import ProviderAdapter
from modelreg.providers.huggingface import HuggingFaceAdapter
from modelreg.providers.ollama import OllamaAdapter
from modelreg.providers.openai_compat import PROFILES, OpenAICompatAdapter, OpenAIProfile

__all__ = ["api_flavour", "get_adapter", "register_adapter", "registered_providers"]

AdapterFactory = Callable[[str], ProviderAdapter]

_FACTORIES: dict[str, AdapterFactory] = {
    "anthropic": lambda flavour: AnthropicAdapter(),
    "azure": lambda flavour: AzureOpenAIAdapter(),
    "huggingface": lambda flavour: HuggingFaceAdapter(),
    "ollama": lambda flavour: (
        OpenAICompatAdapter(PROFILES["ollama"]) if flavour == "openai" else OllamaAdapter()
    ),
}


def _openai_compatible(profile: OpenAIProfile) -> AdapterFactory:
    return lambda flavour: OpenAICompatAdapter(profile)


_FACTORIES.update(
    {name: _openai_compatible(profile) for name, profile in PROFILES.items() if name != "ollama"}
)


def api_flavour(model: ModelConfig) -> str:
    """Which of a provider's APIs the model uses; only Ollama has two today."""
    if model.provider == "ollama":
        return "openai" if model.options.get("api") == "openai" else "native"
    return "default"


def register_adapter(provider: str, factory: AdapterFactory) -> None:
    """Add (or replace) the adapter of a provider. `factory(flavour)` builds one instance."""
    _FACTORIES[provider] = factory
    _instance.cache_clear()


def registered_providers() -> tuple[str, ...]:
    return tuple(sorted(_FACTORIES))


@cache
def _instance(provider: str, flavour: str) -> ProviderAdapter:
    return _FACTORIES[provider](flavour)


def get_adapter(model: ModelConfig) -> ProviderAdapter:
    if model.provider not in _FACTORIES:
        known = ", ".join(registered_providers())
        raise ConfigError(f"no adapter for provider {model.provider!r}; known: {known}")
    return _instance(model.provider, api_flavour(model))
