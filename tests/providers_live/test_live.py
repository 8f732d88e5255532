"""Live checks of the adapters and the client against the real services.

Skipped unless the provider's key is in the environment, so the normal suite never leaves
127.0.0.1. Each test spends a few tokens. Model names can be overridden:

    OPENAI_API_KEY=... [OPENAI_LIVE_MODEL=gpt-4o-mini]
    ANTHROPIC_API_KEY=... [ANTHROPIC_LIVE_MODEL=claude-haiku-4-5]
    GROQ_API_KEY, MISTRAL_API_KEY, GEMINI_API_KEY, DEEPSEEK_API_KEY, OPENROUTER_API_KEY,
    TOGETHER_API_KEY, HF_TOKEN (Inference Providers router) likewise with *_LIVE_MODEL
    OLLAMA_LIVE_MODEL=llama3.2 [OLLAMA_LIVE_URL=http://127.0.0.1:11434]  (a local Ollama)

    .venv/bin/pytest -m live tests/providers_live -v
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import pytest

from modelreg.client import UnifiedLLMClient
from modelreg.model_config import ModelConfig
from modelreg.secret import Secret
from modelreg.types import FinishEvent, Message, TextDelta, ToolCall, ToolDefinition, UsageEvent

pytestmark = pytest.mark.live


@dataclass(frozen=True)
class Live:
    provider: str
    key_env: str | None
    base_url: str
    default_model: str
    tools: bool = True


LIVE = {
    "openai": Live("openai", "OPENAI_API_KEY", "https://api.openai.com/v1", "gpt-4o-mini"),
    "anthropic": Live(
        "anthropic", "ANTHROPIC_API_KEY", "https://api.anthropic.com", "claude-haiku-4-5"
    ),
    "groq": Live("groq", "GROQ_API_KEY", "https://api.groq.com/openai/v1", "llama-3.1-8b-instant"),
    "mistral": Live(
        "mistral", "MISTRAL_API_KEY", "https://api.mistral.ai/v1", "mistral-small-latest"
    ),
    "gemini": Live(
        "gemini",
        "GEMINI_API_KEY",
        "https://generativelanguage.googleapis.com/v1beta/openai",
        "gemini-2.0-flash",
    ),
    "deepseek": Live(
        "deepseek", "DEEPSEEK_API_KEY", "https://api.deepseek.com/v1", "deepseek-chat"
    ),
    "openrouter": Live(
        "openrouter", "OPENROUTER_API_KEY", "https://openrouter.ai/api/v1", "openai/gpt-4o-mini"
    ),
    "together": Live(
        "together",
        "TOGETHER_API_KEY",
        "https://api.together.xyz/v1",
        "meta-llama/Llama-3.3-70B-Instruct-Turbo",
    ),
    "huggingface": Live(
        "huggingface",
        "HF_TOKEN",
        "https://router.huggingface.co/v1",
        "meta-llama/Llama-3.1-8B-Instruct",
    ),
    "ollama": Live("ollama", None, "http://127.0.0.1:11434", ""),
}

WEATHER = ToolDefinition(
    "get_weather",
    "Current weather in a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def _config(name: str) -> ModelConfig:
    live = LIVE[name]
    env = name.upper()
    model_id = os.environ.get(f"{env}_LIVE_MODEL", live.default_model)
    if live.key_env is None:  # a local server: opt in by naming the model
        if not model_id:
            pytest.skip(f"set {env}_LIVE_MODEL to test a local {name}")
        key = None
    else:
        value = os.environ.get(live.key_env)
        if not value:
            pytest.skip(f"{live.key_env} is not set")
        key = Secret(value)
    return ModelConfig(
        id=f"live-{name}",
        name=f"live-{name}",
        provider=live.provider,
        base_url=os.environ.get(f"{env}_LIVE_URL", live.base_url),
        model_id=model_id,
        api_key=key,
        max_output_tokens=64,
        is_global=live.key_env is None,  # only the local server may be on a private address
    )


@pytest.fixture(params=list(LIVE))
def model(request: pytest.FixtureRequest) -> ModelConfig:
    return _config(request.param)


@pytest.fixture
async def client() -> AsyncIterator[UnifiedLLMClient]:
    c = UnifiedLLMClient()
    yield c
    await c.aclose()


SAY = [Message(role="user", content="Reply with exactly the word: pong")]


async def test_connection(client, model):
    result = await client.test_connection(model)
    assert result.ok, result.message
    bad = await client.test_connection(replace(model, api_key=Secret("sk-invalid-0000000000")))
    if model.api_key is not None:
        assert (bad.ok, bad.reason) == (False, "bad_key"), bad.message
        assert "sk-invalid-0000000000" not in bad.message


async def test_chat(client, model):
    response = await client.chat(model, SAY, temperature=0)
    assert "pong" in response.text.lower()
    assert response.usage_reported
    assert response.usage.input_tokens > 0
    assert response.usage.output_tokens > 0


async def test_stream(client, model):
    events = [e async for e in client.stream(model, SAY, temperature=0)]
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert "pong" in text.lower()
    assert any(isinstance(e, UsageEvent) for e in events)
    assert sum(isinstance(e, FinishEvent) for e in events) == 1  # usage may follow the finish


async def test_tool_round_trip(client, model):
    calls: list[ToolCall] = []

    async def handler(call: ToolCall) -> str:
        calls.append(call)
        return "18 degrees Celsius and sunny"

    question = [Message(role="user", content="What is the weather in Paris? Use the tool.")]
    response = await client.chat(
        model, question, tools=[WEATHER], tool_handler=handler, max_tool_rounds=2, max_tokens=200
    )
    assert calls
    assert calls[0].name == "get_weather"
    assert "paris" in str(calls[0].arguments.get("city", "")).lower()
    assert "18" in response.text
