"""Provider templates: the starting point for registering a model in a few clicks.

Base URL conventions are the ones the adapters expect: OpenAI-compatible bases end in /v1 (or
the provider's equivalent), Anthropic is the bare host (the adapter adds /v1/messages), Ollama
is the bare host (native /api/chat), Azure is the resource endpoint with the deployment as
`model_id` and `options.api_version`.

Prices are USD per single token (the per-million price divided by 1,000,000), as Decimal
strings, taken from each provider's public pricing page on the date in `prices_as_of`. They
change; an admin can edit them per model. Local servers cost nothing (0); where the price
depends on the deployment or the routed provider it is unknown (None, stored as 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

from modelreg.registry.schemas import TemplatePublic

__all__ = ["TEMPLATES", "Template", "get_template", "list_templates"]

_AS_OF = "2025-10-01"


def _per_million(usd: str) -> Decimal:
    return Decimal(usd) / Decimal(1_000_000)


@dataclass(frozen=True, slots=True)
class Template:
    id: str
    label: str
    provider: str
    base_url: str
    model_id: str
    auth_type: str = "bearer"
    requires_api_key: bool = True
    supports_streaming: bool = True
    supports_functions: bool = True
    supports_vision: bool = False
    context_length: int | None = None
    max_output_tokens: int | None = None
    price_per_input_token: Decimal | None = None
    price_per_output_token: Decimal | None = None
    prices_as_of: str | None = None
    price_source: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    # the base URL is an example that must be replaced (Azure resource name)
    base_url_is_placeholder: bool = False
    notes: str = ""
    kind: str = "chat"  # "embedding": for /v1/embeddings and knowledge collections
    dimensions: int | None = None

    def public(self) -> TemplatePublic:
        return TemplatePublic(
            id=self.id,
            label=self.label,
            provider=self.provider,
            base_url=self.base_url,
            model_id=self.model_id,
            auth_type=self.auth_type,
            requires_api_key=self.requires_api_key,
            supports_streaming=self.supports_streaming,
            supports_functions=self.supports_functions,
            supports_vision=self.supports_vision,
            context_length=self.context_length,
            max_output_tokens=self.max_output_tokens,
            price_per_input_token=self.price_per_input_token,
            price_per_output_token=self.price_per_output_token,
            prices_as_of=self.prices_as_of,
            price_source=self.price_source,
            options=dict(self.options),
            notes=self.notes,
            kind=self.kind,
            dimensions=self.dimensions,
        )


_ZERO = Decimal(0)
# a server on this machine or the company network is a private address: say who may add it
_LOCAL: Final = (
    "; on this machine or your network it is a private address: an admin adds it as a "
    "company-wide model, or the operator allows personal models to reach private addresses "
    "(MODELREG_ALLOW_PRIVATE_BASE_URLS=true)"
)

TEMPLATES: tuple[Template, ...] = (
    Template(
        id="openai",
        label="OpenAI",
        provider="openai",
        base_url="https://api.openai.com/v1",
        model_id="gpt-4o-mini",
        supports_vision=True,
        context_length=128_000,
        max_output_tokens=16_384,
        price_per_input_token=_per_million("0.15"),
        price_per_output_token=_per_million("0.60"),
        prices_as_of=_AS_OF,
        price_source="https://openai.com/api/pricing/",
    ),
    Template(
        id="anthropic",
        label="Anthropic",
        provider="anthropic",
        base_url="https://api.anthropic.com",
        model_id="claude-sonnet-4-5",
        auth_type="api_key",
        supports_vision=True,
        context_length=200_000,
        max_output_tokens=64_000,
        price_per_input_token=_per_million("3"),
        price_per_output_token=_per_million("15"),
        prices_as_of=_AS_OF,
        price_source="https://www.anthropic.com/pricing#api",
    ),
    Template(
        id="azure",
        label="Azure OpenAI",
        provider="azure",
        base_url="https://YOUR-RESOURCE.openai.azure.com",
        model_id="YOUR-DEPLOYMENT",
        auth_type="api_key",
        supports_vision=True,
        context_length=128_000,
        options={"api_version": "2024-10-21"},
        base_url_is_placeholder=True,
        notes="model_id is the deployment name; prices depend on the deployment type and region",
    ),
    Template(
        id="huggingface-router",
        label="Hugging Face Inference Providers",
        provider="huggingface",
        base_url="https://router.huggingface.co/v1",
        model_id="meta-llama/Llama-3.1-8B-Instruct",
        context_length=131_072,
        notes="token needs the 'Inference Providers' permission; append :fastest or "
        ":cheapest to the model id to pick the routed provider; prices depend on it",
    ),
    Template(
        id="huggingface-tgi",
        label="Hugging Face TGI (self-hosted)",
        provider="huggingface",
        base_url="http://localhost:8080/v1",
        model_id="tgi",
        auth_type="none",
        requires_api_key=False,
        notes="a TGI server serves one model; Inference Endpoints need a bearer hf_ token",
        price_per_input_token=_ZERO,
        price_per_output_token=_ZERO,
    ),
    Template(
        id="ollama",
        label="Ollama",
        provider="ollama",
        base_url="http://localhost:11434",
        model_id="llama3.2",
        auth_type="none",
        requires_api_key=False,
        context_length=131_072,
        notes="native /api/chat; model ids are name:tag" + _LOCAL,
        price_per_input_token=_ZERO,
        price_per_output_token=_ZERO,
    ),
    Template(
        id="vllm",
        label="vLLM",
        provider="vllm",
        base_url="http://localhost:8000/v1",
        model_id="meta-llama/Llama-3.1-8B-Instruct",
        auth_type="none",
        requires_api_key=False,
        notes="use auth_type bearer when the server runs with --api-key" + _LOCAL,
        price_per_input_token=_ZERO,
        price_per_output_token=_ZERO,
    ),
    Template(
        id="lmstudio",
        label="LM Studio",
        provider="lmstudio",
        base_url="http://localhost:1234/v1",
        model_id="local-model",
        auth_type="none",
        requires_api_key=False,
        notes="use auth_type bearer when 'Require Authentication' is on" + _LOCAL,
        price_per_input_token=_ZERO,
        price_per_output_token=_ZERO,
    ),
    Template(
        id="gemini",
        label="Google Gemini (OpenAI-compatible)",
        provider="gemini",
        base_url="https://generativelanguage.googleapis.com/v1beta/openai",
        model_id="gemini-2.5-flash",
        supports_vision=True,
        context_length=1_048_576,
        max_output_tokens=65_536,
        price_per_input_token=_per_million("0.30"),
        price_per_output_token=_per_million("2.50"),
        prices_as_of=_AS_OF,
        price_source="https://ai.google.dev/gemini-api/docs/pricing",
    ),
    Template(
        id="mistral",
        label="Mistral",
        provider="mistral",
        base_url="https://api.mistral.ai/v1",
        model_id="mistral-small-latest",
        supports_vision=True,
        context_length=128_000,
        price_per_input_token=_per_million("0.10"),
        price_per_output_token=_per_million("0.30"),
        prices_as_of=_AS_OF,
        price_source="https://mistral.ai/pricing#api-pricing",
    ),
    Template(
        id="groq",
        label="Groq",
        provider="groq",
        base_url="https://api.groq.com/openai/v1",
        model_id="llama-3.3-70b-versatile",
        context_length=131_072,
        max_output_tokens=32_768,
        price_per_input_token=_per_million("0.59"),
        price_per_output_token=_per_million("0.79"),
        prices_as_of=_AS_OF,
        price_source="https://groq.com/pricing",
    ),
    Template(
        id="deepseek",
        label="DeepSeek",
        provider="deepseek",
        base_url="https://api.deepseek.com/v1",
        model_id="deepseek-chat",
        context_length=128_000,
        max_output_tokens=8_192,
        price_per_input_token=_per_million("0.28"),
        price_per_output_token=_per_million("0.42"),
        prices_as_of=_AS_OF,
        price_source="https://api-docs.deepseek.com/quick_start/pricing",
        notes="input price is the cache-miss price",
    ),
    Template(
        id="openrouter",
        label="OpenRouter",
        provider="openrouter",
        base_url="https://openrouter.ai/api/v1",
        model_id="openai/gpt-4o-mini",
        supports_vision=True,
        context_length=128_000,
        max_output_tokens=16_384,
        price_per_input_token=_per_million("0.15"),
        price_per_output_token=_per_million("0.60"),
        prices_as_of=_AS_OF,
        price_source="https://openrouter.ai/openai/gpt-4o-mini",
    ),
    Template(
        id="together",
        label="Together AI",
        provider="together",
        base_url="https://api.together.ai/v1",
        model_id="meta-llama/Llama-3.3-70B-Instruct-Turbo",
        context_length=131_072,
        price_per_input_token=_per_million("0.88"),
        price_per_output_token=_per_million("0.88"),
        prices_as_of=_AS_OF,
        price_source="https://www.together.ai/pricing",
    ),
    Template(
        id="custom",
        label="Custom OpenAI-compatible server",
        provider="custom",
        base_url="http://localhost:8000/v1",
        model_id="my-model",
        notes="any server that speaks the OpenAI Chat Completions API under <base_url>/chat/...",
        price_per_input_token=_ZERO,
        price_per_output_token=_ZERO,
    ),
    # --- embedding models (knowledge collections, /v1/embeddings) ----------------------
    Template(
        id="openai-embedding",
        label="OpenAI embeddings",
        provider="openai",
        base_url="https://api.openai.com/v1",
        model_id="text-embedding-3-small",
        kind="embedding",
        dimensions=1536,
        supports_streaming=False,
        supports_functions=False,
        price_per_input_token=_per_million("0.02"),
        price_per_output_token=_ZERO,
        prices_as_of=_AS_OF,
        price_source="https://openai.com/api/pricing/",
    ),
    Template(
        id="azure-embedding",
        label="Azure OpenAI embeddings",
        provider="azure",
        base_url="https://YOUR-RESOURCE.openai.azure.com",
        model_id="YOUR-EMBEDDING-DEPLOYMENT",
        auth_type="api_key",
        kind="embedding",
        dimensions=1536,
        supports_streaming=False,
        supports_functions=False,
        options={"api_version": "2024-10-21"},
        base_url_is_placeholder=True,
        notes="model_id is your deployment of an embedding model (text-embedding-3-small: 1536)",
    ),
    Template(
        id="ollama-embedding",
        label="Ollama embeddings (local)",
        provider="ollama",
        base_url="http://localhost:11434",
        model_id="nomic-embed-text",
        auth_type="none",
        requires_api_key=False,
        kind="embedding",
        dimensions=768,
        supports_streaming=False,
        supports_functions=False,
        price_per_input_token=_ZERO,
        price_per_output_token=_ZERO,
        notes="`ollama pull nomic-embed-text` first" + _LOCAL,
    ),
    Template(
        id="huggingface-tei",
        label="Hugging Face Text Embeddings Inference (self-hosted)",
        provider="huggingface",
        base_url="http://localhost:8080",
        model_id="tei",
        auth_type="none",
        requires_api_key=False,
        kind="embedding",
        dimensions=384,
        supports_streaming=False,
        supports_functions=False,
        price_per_input_token=_ZERO,
        price_per_output_token=_ZERO,
        notes="set dimensions to your model's (BAAI/bge-small-en-v1.5: 384)" + _LOCAL,
    ),
    Template(
        id="openai-compatible-embedding",
        label="OpenAI-compatible embeddings",
        provider="custom",
        base_url="http://localhost:8000/v1",
        model_id="my-embedding-model",
        requires_api_key=False,
        kind="embedding",
        supports_streaming=False,
        supports_functions=False,
        price_per_input_token=_ZERO,
        price_per_output_token=_ZERO,
        notes="any server that answers POST <base_url>/embeddings as OpenAI does",
    ),
)

_BY_ID = {t.id: t for t in TEMPLATES}


def list_templates() -> list[Template]:
    return list(TEMPLATES)


def get_template(template_id: str) -> Template | None:
    return _BY_ID.get(template_id)
