"""Checks shared by the chat API and the gateway before any row is written or byte is sent."""

from __future__ import annotations

from urllib.parse import urlsplit

from modelreg.errors import MissingCredentialsError, UnknownModelError, ValidationFailedError
from modelreg.model_config import ModelConfig

__all__ = ["ensure_usable", "needs_api_key"]

# hosted services refuse every call without a key; local servers (Ollama, vLLM, LM Studio,
# TGI, custom) usually run without one
_KEYED_PROVIDERS = frozenset(
    {
        "openai",
        "anthropic",
        "azure",
        "gemini",
        "mistral",
        "groq",
        "deepseek",
        "openrouter",
        "together",
    }
)


def needs_api_key(model: ModelConfig) -> bool:
    if model.auth_type == "none":
        return False
    if model.provider in _KEYED_PROVIDERS:
        return True
    # Hugging Face: the hosted router and Inference Endpoints need a token, self-hosted TGI not
    host = (urlsplit(model.base_url).hostname or "").lower()
    return model.provider == "huggingface" and host.endswith("huggingface.co")


def ensure_usable(model: ModelConfig, purpose: str | None = "chat") -> None:
    """Refuse a disabled model, one whose provider needs a key it does not have, and an
    embedding model asked to chat (`purpose` "chat"; None: any kind, as for embeddings)."""
    if not model.enabled:
        raise UnknownModelError(f"unknown or disabled model {model.name!r}")
    if purpose == "chat" and model.kind == "embedding":
        raise ValidationFailedError(
            f"model {model.name!r} is an embedding model: it serves /v1/embeddings and "
            "knowledge collections, not chat",
            field="model",
        )
    if needs_api_key(model) and not model.api_key and not model.auth_headers:
        raise MissingCredentialsError(
            f"model {model.name!r} has no API key; add one before using it"
        )
