"""What each OpenAI-compatible server accepts: one profile per provider, so Azure, vLLM,
LM Studio, Groq and friends are configuration of one adapter (openai_compat.py), not copies."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

__all__ = ["PROFILES", "OpenAIProfile", "profile_for"]


@dataclass(frozen=True, slots=True)
class OpenAIProfile:
    """What one OpenAI-compatible server accepts (reference §2, §9)."""

    provider: str
    default_base_url: str = ""
    max_tokens_field: str = "max_tokens"
    developer_role: bool = False  # only OpenAI knows `developer`; others get `system`
    include_usage: bool = True  # send stream_options.include_usage
    tool_choice: bool = True  # Ollama /v1 has no tool_choice
    seed_field: str = "seed"  # Mistral: random_seed
    verify_model_listed: bool = False  # connection test: the model must appear in GET /models
    top_k: bool = False  # takes `top_k` (vLLM, Together, OpenRouter); the rest refuse it
    service_tier: bool = False  # has service tiers (OpenAI, Groq)


PROFILES: dict[str, OpenAIProfile] = {
    p.provider: p
    for p in (
        OpenAIProfile(
            "openai",
            "https://api.openai.com/v1",
            max_tokens_field="max_completion_tokens",
            developer_role=True,
            verify_model_listed=True,
            service_tier=True,
        ),
        OpenAIProfile("vllm", "http://localhost:8000/v1", verify_model_listed=True, top_k=True),
        OpenAIProfile("lmstudio", "http://localhost:1234/v1", verify_model_listed=True),
        OpenAIProfile(
            "groq", "https://api.groq.com/openai/v1", verify_model_listed=True, service_tier=True
        ),
        # Mistral always sends usage in the last chunk and rejects unknown fields
        OpenAIProfile(
            "mistral", "https://api.mistral.ai/v1", include_usage=False, seed_field="random_seed"
        ),
        OpenAIProfile("deepseek", "https://api.deepseek.com/v1", verify_model_listed=True),
        OpenAIProfile("openrouter", "https://openrouter.ai/api/v1", top_k=True),
        OpenAIProfile("together", "https://api.together.ai/v1", top_k=True),
        OpenAIProfile("gemini", "https://generativelanguage.googleapis.com/v1beta/openai"),
        OpenAIProfile("custom"),
        OpenAIProfile(
            "ollama", "http://localhost:11434/v1", tool_choice=False, verify_model_listed=True
        ),
    )
}


def profile_for(provider: str, **overrides: Any) -> OpenAIProfile:
    """The profile of a provider (custom servers get the plain one), with overrides."""
    base = PROFILES.get(provider) or replace(PROFILES["custom"], provider=provider)
    return replace(base, **overrides) if overrides else base
