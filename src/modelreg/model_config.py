"""ModelConfig: one registered model, resolved and decrypted, as the client needs it.

The registry builds these from `llm_models` rows; the client and the adapters read them and
never look at the database or the environment themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from modelreg.secret import Secret

__all__ = ["PROVIDERS", "AuthType", "ModelConfig", "Provider"]

Provider = Literal[
    "openai",
    "anthropic",
    "azure",
    "huggingface",
    "ollama",
    "vllm",
    "lmstudio",
    "gemini",
    "mistral",
    "groq",
    "deepseek",
    "openrouter",
    "together",
    "custom",
]
PROVIDERS: tuple[str, ...] = Provider.__args__  # type: ignore[attr-defined]
AuthType = Literal["bearer", "api_key", "none"]


@dataclass(frozen=True, slots=True)
class ModelConfig:
    id: str
    name: str
    provider: str
    base_url: str
    model_id: str
    auth_type: str = "bearer"
    api_key: Secret | None = None
    auth_headers: dict[str, Secret] = field(default_factory=dict)
    supports_streaming: bool = True
    supports_functions: bool = True
    supports_vision: bool = False
    context_length: int | None = None
    max_output_tokens: int | None = None
    price_per_input_token: Decimal = Decimal(0)
    price_per_output_token: Decimal = Decimal(0)
    default_temperature: float | None = None
    default_top_p: float | None = None
    enabled: bool = True
    is_global: bool = False
    user_id: str | None = None
    description: str = ""
    # ordered registry ids of the models to try when this one fails
    fallback_model_ids: tuple[str, ...] = ()
    # provider options, e.g. {"api_version": "2024-10-21"} for Azure,
    # {"api": "native"} for Ollama's /api/chat, {"max_tokens_field": "max_completion_tokens"}
    options: dict[str, Any] = field(default_factory=dict)
    # registry per-model limits (None: no limit)
    rpm_limit: int | None = None
    tpm_limit: int | None = None
    source: str = "db"  # "db" or "env" (from the old single-provider settings)

    def cost(self, input_tokens: int, output_tokens: int) -> Decimal:
        return (
            self.price_per_input_token * input_tokens + self.price_per_output_token * output_tokens
        )

    def __repr__(self) -> str:  # the dataclass repr would list every field; keep it short
        return f"ModelConfig(id={self.id!r}, name={self.name!r}, provider={self.provider!r})"
