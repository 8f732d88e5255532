"""ModelConfig: one registered model, resolved and decrypted, as the client needs it.

The registry builds these from `llm_models` rows; the client and the adapters read them and
never look at the database or the environment themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from modelreg.secret import Secret

if TYPE_CHECKING:
    from modelreg.types import Usage

__all__ = ["CACHE_PRICE_RATIOS", "PROVIDERS", "AuthType", "ModelConfig", "Provider", "UnitPrices"]

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


_ONE = Decimal(1)
# (cache read, cache write) as multiples of the input price, by provider. Anthropic: reads
# 0.1x, writes 1.25x (the default 5-minute TTL; 1-hour writes cost 2x and need the option).
# OpenAI and Azure OpenAI: cached input at 0.5x (gpt-4o's; newer models discount more, set
# the option), no separate write charge. Others: the input price, as no discount is known.
CACHE_PRICE_RATIOS: dict[str, tuple[Decimal, Decimal]] = {
    "anthropic": (Decimal("0.1"), Decimal("1.25")),
    "openai": (Decimal("0.5"), _ONE),
    "azure": (Decimal("0.5"), _ONE),
}


def _price_option(options: dict[str, Any], key: str) -> Decimal | None:
    value = options.get(key)
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return None


@dataclass(frozen=True, slots=True)
class UnitPrices:
    """The per-token prices a call is booked with, stored beside its cost (migration 0012)."""

    input: Decimal
    output: Decimal
    cache_read: Decimal
    cache_write: Decimal


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
    kind: str = "chat"  # "chat" or "embedding"
    dimensions: int | None = None  # an embedding model's vector size, when known

    def cost(
        self,
        input_tokens: int,
        output_tokens: int,
        *,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
    ) -> Decimal:
        """The price of one call. `input_tokens` is the whole prompt, cached parts included
        (the unified convention: OpenAI's prompt_tokens; Anthropic's input_tokens plus its two
        cache counts); the cached parts are priced at the cache prices instead of the input
        price (`cache_prices`)."""
        cost = self.price_per_output_token * output_tokens
        if not cache_read_tokens and not cache_write_tokens:
            return cost + self.price_per_input_token * input_tokens
        read_price, write_price = self.cache_prices()
        fresh = max(0, input_tokens - cache_read_tokens - cache_write_tokens)
        return (
            cost
            + self.price_per_input_token * fresh
            + read_price * cache_read_tokens
            + write_price * cache_write_tokens
        )

    def cache_prices(self) -> tuple[Decimal, Decimal]:
        """(per cache-read token, per cache-write token): the model's options
        `price_per_cache_read_token` / `price_per_cache_write_token` when set, else the input
        price times the provider's published ratio (docs/api.md, "Cache pricing")."""
        read_ratio, write_ratio = CACHE_PRICE_RATIOS.get(self.provider, (_ONE, _ONE))
        return (
            _price_option(self.options, "price_per_cache_read_token")
            or self.price_per_input_token * read_ratio,
            _price_option(self.options, "price_per_cache_write_token")
            or self.price_per_input_token * write_ratio,
        )

    def usage_cost(self, usage: Usage) -> Decimal:
        """`cost` of a unified Usage."""
        return self.cost(
            usage.input_tokens,
            usage.output_tokens,
            cache_read_tokens=usage.cached_read_tokens,
            cache_write_tokens=usage.cache_write_tokens,
        )

    def unit_prices(self) -> UnitPrices:
        read, write = self.cache_prices()
        return UnitPrices(self.price_per_input_token, self.price_per_output_token, read, write)

    def __repr__(self) -> str:  # the dataclass repr would list every field; keep it short
        return f"ModelConfig(id={self.id!r}, name={self.name!r}, provider={self.provider!r})"
