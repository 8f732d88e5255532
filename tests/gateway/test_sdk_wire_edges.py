"""Wire edge cases seen through the official SDKs: request fields that only some providers
understand, translated faithfully or refused with a clear 400 — never dropped in silence."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any, Literal

import anthropic
import openai
import pytest
from pydantic import BaseModel

from modelreg.simulators import Script, SimulatorServer
from tests.fixtures.server import LiveServer
from tests.gateway.helpers import create_model

_opened: list[openai.OpenAI | anthropic.Anthropic] = []


@pytest.fixture(autouse=True)
def _close_sdk_clients() -> Iterator[None]:
    """Every SDK client a test made is closed after it (no leaked sockets)."""
    yield
    while _opened:
        _opened.pop().close()


def openai_sdk(server: LiveServer, token: str) -> openai.OpenAI:
    client = openai.OpenAI(base_url=server.url + "/v1", api_key=token, max_retries=0)
    _opened.append(client)
    return client


def anthropic_sdk(server: LiveServer, token: str) -> anthropic.Anthropic:
    client = anthropic.Anthropic(base_url=server.url, api_key=token, max_retries=0)
    _opened.append(client)
    return client


@pytest.fixture
def user(live_server: LiveServer) -> str:
    return live_server.create_user()


class City(BaseModel):
    city: str


def test_structured_output_reaches_ollama_as_its_format_field(
    live_server: LiveServer, user: str, ollama_sim: SimulatorServer
) -> None:
    model = create_model(live_server, user, ollama_sim)
    ollama_sim.enqueue(Script(text='{"city": "Paris"}'), Script(text='{"city": "Oslo"}'))
    client = openai_sdk(live_server, user)
    parsed = client.chat.completions.parse(
        model=model["name"], messages=[{"role": "user", "content": "x"}], response_format=City
    )
    assert parsed.choices[0].message.parsed == City(city="Paris")
    sent = ollama_sim.requests[-1].json
    assert sent["format"]["properties"] == {"city": {"title": "City", "type": "string"}}
    assert "response_format" not in json.dumps(sent)

    client.chat.completions.create(
        model=model["name"],
        messages=[{"role": "user", "content": "x"}],
        response_format={"type": "json_object"},
    )
    assert ollama_sim.requests[-1].json["format"] == "json"


def test_structured_output_to_anthropic_is_a_clear_400(
    live_server: LiveServer, user: str, anthropic_sim: SimulatorServer
) -> None:
    model = create_model(live_server, user, anthropic_sim)
    with pytest.raises(openai.BadRequestError) as refused:
        openai_sdk(live_server, user).chat.completions.parse(
            model=model["name"], messages=[{"role": "user", "content": "x"}], response_format=City
        )
    assert "response_format" in refused.value.message
    assert anthropic_sim.requests == []  # refused before any upstream call
    # a plain-text response_format asks for nothing: accepted
    answer = openai_sdk(live_server, user).chat.completions.create(
        model=model["name"],
        messages=[{"role": "user", "content": "x"}],
        response_format={"type": "text"},
    )
    assert answer.choices[0].message.content


@pytest.mark.parametrize("flavor", ["anthropic", "ollama"])
def test_logprobs_on_a_translated_model_is_a_clear_400(
    live_server: LiveServer, user: str, flavor: str, request: pytest.FixtureRequest
) -> None:
    sim: SimulatorServer = request.getfixturevalue(f"{flavor}_sim")
    model = create_model(live_server, user, sim)
    with pytest.raises(openai.BadRequestError) as refused:
        openai_sdk(live_server, user).chat.completions.create(
            model=model["name"], messages=[{"role": "user", "content": "x"}], logprobs=True
        )
    assert refused.value.param == "logprobs"
    assert sim.requests == []


def test_logprobs_pass_through_to_an_openai_upstream(
    live_server: LiveServer, user: str, openai_sim: SimulatorServer
) -> None:
    model = create_model(live_server, user, openai_sim)
    openai_sdk(live_server, user).chat.completions.create(
        model=model["name"],
        messages=[{"role": "user", "content": "x"}],
        logprobs=True,
        top_logprobs=2,
    )
    sent = openai_sim.requests[-1].json
    assert (sent["logprobs"], sent["top_logprobs"]) == (True, 2)


@pytest.mark.parametrize("flavor", ["openai", "ollama", "anthropic"])
def test_system_blocks_keep_their_boundaries(
    live_server: LiveServer, user: str, flavor: str, request: pytest.FixtureRequest
) -> None:
    sim: SimulatorServer = request.getfixturevalue(f"{flavor}_sim")
    model = create_model(live_server, user, sim)
    anthropic_sdk(live_server, user).messages.create(
        model=model["name"],
        max_tokens=20,
        system=[
            {"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "Answer in French."},
        ],
        messages=[{"role": "user", "content": "hi"}],
    )
    sent = json.dumps(sim.requests[-1].json)
    assert "terse.Answer" not in sent  # two instructions, not one glued word
    assert "You are terse." in sent
    assert "Answer in French." in sent


# typed Any: the SDK types them, we build them by hand as a client would
CUSTOM_TOOL: Any = {"type": "custom", "custom": {"name": "grep", "description": "free-form input"}}
ALLOWED_TOOLS: Any = {
    "type": "allowed_tools",
    "allowed_tools": {"mode": "auto", "tools": [{"type": "custom", "custom": {"name": "grep"}}]},
}


def test_newer_openai_tool_forms_pass_through_to_an_openai_upstream(
    live_server: LiveServer, user: str, openai_sim: SimulatorServer
) -> None:
    model = create_model(live_server, user, openai_sim)
    openai_sdk(live_server, user).chat.completions.create(
        model=model["name"],
        messages=[{"role": "user", "content": "x"}],
        tools=[CUSTOM_TOOL],
        tool_choice=ALLOWED_TOOLS,
    )
    sent = openai_sim.requests[-1].json
    assert (sent["tools"], sent["tool_choice"]) == ([CUSTOM_TOOL], ALLOWED_TOOLS)


def test_newer_openai_tool_forms_on_a_translated_model_are_a_clear_400(
    live_server: LiveServer, user: str, anthropic_sim: SimulatorServer
) -> None:
    model = create_model(live_server, user, anthropic_sim)
    client = openai_sdk(live_server, user)
    with pytest.raises(openai.BadRequestError) as custom:
        client.chat.completions.create(
            model=model["name"],
            messages=[{"role": "user", "content": "x"}],
            tools=[CUSTOM_TOOL],
        )
    assert custom.value.param == "tools"
    with pytest.raises(openai.BadRequestError) as allowed:
        client.chat.completions.create(
            model=model["name"],
            messages=[{"role": "user", "content": "x"}],
            tools=[{"type": "function", "function": {"name": "grep"}}],
            tool_choice=ALLOWED_TOOLS,
        )
    assert allowed.value.param == "tool_choice"
    assert anthropic_sim.requests == []


def test_openai_models_retrieve(
    live_server: LiveServer, user: str, openai_sim: SimulatorServer
) -> None:
    model = create_model(live_server, user, openai_sim)
    client = openai_sdk(live_server, user)
    listed = {m.id: m for m in client.models.list()}
    for ref in (model["name"], model["id"]):
        got = client.models.retrieve(ref)
        assert got.id == model["name"]
        assert got == listed[model["name"]]
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model-" + model["id"])
    theirs = create_model(live_server, live_server.create_user(), openai_sim)
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve(theirs["name"])


def test_anthropic_models_list_and_retrieve_in_anthropic_shape(
    live_server: LiveServer, user: str, openai_sim: SimulatorServer
) -> None:
    model = create_model(live_server, user, openai_sim, description="A test model")
    client = anthropic_sdk(live_server, user)
    listed = list(client.models.list())
    (mine,) = [m for m in listed if m.id == model["name"]]
    assert mine.type == "model"
    assert mine.display_name == model["name"]
    assert mine.created_at.year >= 2024
    got = client.models.retrieve(model["name"])
    assert got.id == model["name"]
    assert got.type == "model"
    with pytest.raises(anthropic.NotFoundError):
        client.models.retrieve("no-such-model-" + model["id"])


@pytest.mark.parametrize("flavor", ["openai", "ollama"])
@pytest.mark.parametrize("encoding", ["float", "base64"])
def test_embedding_dimensions_reach_the_upstream(
    live_server: LiveServer,
    user: str,
    flavor: str,
    encoding: Literal["float", "base64"],
    request: pytest.FixtureRequest,
) -> None:
    sim: SimulatorServer = request.getfixturevalue(f"{flavor}_sim")
    model = create_model(live_server, user, sim, model_id="text-embedding-3-small")
    result = openai_sdk(live_server, user).embeddings.create(
        model=model["name"], input=["hello", "world"], dimensions=8, encoding_format=encoding
    )
    # asked for explicitly, base64 comes back undecoded: float32 little-endian, 4 bytes each
    vectors: list[Any] = [row.embedding for row in result.data]
    sizes = [len(base64.b64decode(v)) // 4 if isinstance(v, str) else len(v) for v in vectors]
    assert sizes == [8, 8]
    assert sim.requests[-1].json["dimensions"] == 8


@pytest.mark.parametrize("flavor", ["openai", "ollama"])
def test_embedding_dimensions_beyond_the_upstreams_maximum_are_its_400(
    live_server: LiveServer, user: str, flavor: str, request: pytest.FixtureRequest
) -> None:
    # the simulators refuse sizes no real model has, as the providers do, instead of building
    # the vector (a fuzzed 10^9 once took the test process to 23 GB)
    sim: SimulatorServer = request.getfixturevalue(f"{flavor}_sim")
    model = create_model(live_server, user, sim, model_id="text-embedding-3-small")
    with pytest.raises(openai.BadRequestError, match="dimensions") as refused:
        openai_sdk(live_server, user).embeddings.create(
            model=model["name"], input="hello", dimensions=100_000
        )
    assert refused.value.status_code == 400
    assert sim.requests[-1].json["dimensions"] == 100_000


def test_anthropic_count_tokens_gives_an_estimate_without_calling_upstream(
    live_server: LiveServer, user: str, anthropic_sim: SimulatorServer
) -> None:
    model = create_model(live_server, user, anthropic_sim)
    client = anthropic_sdk(live_server, user)
    short = client.messages.count_tokens(
        model=model["name"], messages=[{"role": "user", "content": "hello"}]
    )
    long = client.messages.count_tokens(
        model=model["name"],
        system="You are a careful assistant. " * 20,
        tools=[{"name": "get_weather", "input_schema": {"type": "object", "properties": {}}}],
        messages=[{"role": "user", "content": "hello " * 200}],
    )
    assert 0 < short.input_tokens < long.input_tokens
    assert 200 <= long.input_tokens <= 2000  # ~4 characters a token
    assert anthropic_sim.requests == []
    with pytest.raises(anthropic.NotFoundError):
        client.messages.count_tokens(
            model="no-such-" + model["id"], messages=[{"role": "user", "content": "x"}]
        )
