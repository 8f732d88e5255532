"""The official `anthropic` SDK against POST /v1/messages, routed to Anthropic and to
OpenAI-format upstreams: text, system, streaming event order, tools, errors, usage."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import pytest

from modelreg.simulators import Script, ScriptedToolCall, SimulatorServer
from tests.fixtures.server import LiveServer
from tests.gateway.helpers import IN_PRICE, OUT_PRICE, create_model, unique, usage_events

WEATHER_TOOL: dict[str, Any] = {
    "name": "get_weather",
    "description": "Weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def sdk(server: LiveServer, token: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.url, api_key=token, max_retries=0)


@pytest.fixture(params=["anthropic", "openai", "ollama"])
def upstream(request: pytest.FixtureRequest) -> SimulatorServer:
    fixture: SimulatorServer = request.getfixturevalue(f"{request.param}_sim")
    return fixture


def test_message_with_system_and_usage(
    live_server: LiveServer, user: str, upstream: SimulatorServer
) -> None:
    model = create_model(live_server, user, upstream)
    upstream.enqueue(Script(text="Hi from any provider", usage=(20, 6)))
    message = sdk(live_server, user).messages.create(
        model=model["name"],
        max_tokens=100,
        system="You are terse.",
        messages=[{"role": "user", "content": "Hello"}],
    )
    assert message.content[0].type == "text"
    assert message.content[0].text == "Hi from any provider"
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (20, 6)
    assert "You are terse." in json.dumps(upstream.requests[-1].json)
    (event,) = usage_events(live_server, model["id"])
    assert (event.source, event.input_tokens, event.output_tokens) == ("anthropic", 20, 6)
    assert event.cost == 20 * IN_PRICE + 6 * OUT_PRICE


def test_streaming_event_sequence(
    live_server: LiveServer, user: str, upstream: SimulatorServer
) -> None:
    model = create_model(live_server, user, upstream)
    upstream.enqueue(Script(chunks=["Str", "eam", "ed"], usage=(9, 3)))
    with sdk(live_server, user).messages.stream(
        model=model["name"], max_tokens=50, messages=[{"role": "user", "content": "go"}]
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert final.content[0].type == "text"
    assert final.content[0].text == "Streamed"
    assert final.usage.output_tokens == 3
    raw = [k for k in kinds if k in _RAW_EVENTS]
    assert raw[0] == "message_start"
    assert raw[-2:] == ["message_delta", "message_stop"]
    blocks = [k for k in raw if k.startswith("content_block")]
    assert blocks[0] == "content_block_start"
    assert blocks[-1] == "content_block_stop"
    assert set(blocks[1:-1]) == {"content_block_delta"}


_RAW_EVENTS = {
    "message_start",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
}


def test_tool_use_round_trip(live_server: LiveServer, user: str, upstream: SimulatorServer) -> None:
    model = create_model(live_server, user, upstream)
    call = ScriptedToolCall("get_weather", {"city": "Oslo"})
    upstream.enqueue(Script(tool_calls=[call]), Script(tool_calls=[call]), Script(text="Cold"))
    client = sdk(live_server, user)
    question: list[Any] = [{"role": "user", "content": "Weather in Oslo?"}]
    message = client.messages.create(
        model=model["name"], max_tokens=100, tools=[WEATHER_TOOL], messages=question
    )
    assert message.stop_reason == "tool_use"
    (tool_use,) = [b for b in message.content if b.type == "tool_use"]
    assert tool_use.name == "get_weather"
    assert tool_use.input == {"city": "Oslo"}

    with client.messages.stream(
        model=model["name"], max_tokens=100, tools=[WEATHER_TOOL], messages=question
    ) as stream:
        streamed = stream.get_final_message()
    (streamed_use,) = [b for b in streamed.content if b.type == "tool_use"]
    assert streamed_use.input == {"city": "Oslo"}
    assert streamed.stop_reason == "tool_use"

    answer = client.messages.create(
        model=model["name"],
        max_tokens=100,
        tools=[WEATHER_TOOL],
        messages=[
            *question,
            {"role": "assistant", "content": [b.model_dump() for b in message.content]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": tool_use.id, "content": "-5°C"}],
            },
        ],
    )
    assert answer.content[0].type == "text"
    assert answer.content[0].text == "Cold"
    assert "-5°C" in json.dumps(upstream.requests[-1].json, ensure_ascii=False)


def test_errors_raise_the_sdk_classes(
    live_server: LiveServer, user: str, anthropic_sim: SimulatorServer
) -> None:
    client = sdk(live_server, user)
    with pytest.raises(anthropic.NotFoundError) as missing:
        client.messages.create(
            model=unique("missing"), max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    assert missing.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    with pytest.raises(anthropic.AuthenticationError):
        sdk(live_server, "mr-wrong").messages.create(
            model="any", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    model = create_model(live_server, user, anthropic_sim, rpm_limit=1)
    client.messages.create(
        model=model["name"], max_tokens=5, messages=[{"role": "user", "content": "x"}]
    )
    with pytest.raises(anthropic.RateLimitError) as limited:
        client.messages.create(
            model=model["name"], max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    assert int(limited.value.response.headers["retry-after"]) >= 1


def test_bad_request_shape(live_server: LiveServer, user: str) -> None:
    with live_server.client(user) as http:
        answer = http.post("/v1/messages", json={"model": "x", "messages": "nope"})
        broken = http.post(
            "/v1/messages", content=b"{", headers={"content-type": "application/json"}
        )
    for response in (answer, broken):
        assert response.status_code == 400
        body = response.json()
        assert body["type"] == "error"
        assert body["error"]["type"] == "invalid_request_error"


def test_upstream_overloaded_passes_as_529(
    live_server: LiveServer, user: str, anthropic_sim: SimulatorServer
) -> None:
    model = create_model(live_server, user, anthropic_sim)
    anthropic_sim.enqueue(Script(status=529, repeat=5))
    with pytest.raises(anthropic.APIStatusError) as overloaded:
        sdk(live_server, user).messages.create(
            model=model["name"], max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    assert overloaded.value.status_code == 529


def test_x_api_key_header_is_accepted(
    live_server: LiveServer, user: str, anthropic_sim: SimulatorServer
) -> None:
    model = create_model(live_server, user, anthropic_sim)
    with live_server.client() as http:
        answer = http.post(
            "/v1/messages",
            headers={"x-api-key": user, "anthropic-version": "2023-06-01"},
            json={
                "model": model["name"],
                "max_tokens": 10,
                "messages": [{"role": "user", "content": "hi"}],
            },
        )
    assert answer.status_code == 200, answer.text
    assert answer.json()["content"][0]["text"] == "You said: hi"


EMPTY_TURNS: list[tuple[list[dict[str, Any]], str]] = [
    ([], "messages: at least one message is required"),
    ([{"role": "user", "content": ""}], "messages.0: all messages must have non-empty content"),
    ([{"role": "user", "content": []}], "messages.0: all messages must have non-empty content"),
    (
        [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": []},
            {"role": "user", "content": "again"},
        ],
        "messages.1: all messages must have non-empty content",
    ),
    (
        [
            {
                "role": "user",
                "content": [{"type": "text", "text": "a"}, {"type": "text", "text": ""}],
            }
        ],
        "messages.0.content.1.text: text content blocks must be non-empty",
    ),
]


@pytest.mark.parametrize(("messages", "message"), EMPTY_TURNS)
@pytest.mark.parametrize("flavor", ["anthropic", "openai"])
def test_empty_messages_or_content_are_refused_before_any_upstream(
    live_server: LiveServer,
    user: str,
    flavor: str,
    messages: list[dict[str, Any]],
    message: str,
    request: pytest.FixtureRequest,
) -> None:
    """Anthropic's own 400s and wording; an OpenAI-format upstream would have answered."""
    sim: SimulatorServer = request.getfixturevalue(f"{flavor}_sim")
    model = create_model(live_server, user, sim)
    client = sdk(live_server, user)
    with pytest.raises(anthropic.BadRequestError) as bad:
        client.messages.create(model=model["name"], max_tokens=5, messages=messages)  # type: ignore[arg-type]
    assert bad.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert bad.value.body["error"]["message"].startswith(message)  # type: ignore[index]
    with pytest.raises(anthropic.BadRequestError):
        client.messages.count_tokens(model=model["name"], messages=messages)  # type: ignore[arg-type]
    assert sim.requests == []


def test_an_empty_final_assistant_turn_is_a_prefill(
    live_server: LiveServer, user: str, anthropic_sim: SimulatorServer
) -> None:
    """Anthropic accepts an empty last assistant message, so the gateway does too."""
    model = create_model(live_server, user, anthropic_sim)
    answer = sdk(live_server, user).messages.create(
        model=model["name"],
        max_tokens=5,
        messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": ""}],
    )
    assert answer.content[0].type == "text"


def test_stop_sequence_is_reported_as_anthropic_does(
    live_server: LiveServer, user: str, upstream: SimulatorServer
) -> None:
    """From Anthropic the real stop_reason and the matched sequence, in JSON and stream; an
    OpenAI-format upstream does not say which sequence matched (or whether one did), so the
    answer is the natural end_turn with no stop_sequence rather than a guess."""
    model = create_model(live_server, user, upstream)
    upstream.enqueue(Script(chunks=["one ", "two"], stop_sequence="###", repeat=2))
    client = sdk(live_server, user)
    ask: dict[str, Any] = {
        "model": model["name"],
        "max_tokens": 50,
        "stop_sequences": ["END", "###"],
        "messages": [{"role": "user", "content": "count"}],
    }
    message = client.messages.create(**ask)
    with client.messages.stream(**ask) as stream:
        deltas = [e for e in stream if e.type == "message_delta"]
        streamed = stream.get_final_message()
    expected = ("stop_sequence", "###") if upstream.flavor == "anthropic" else ("end_turn", None)
    assert (message.stop_reason, message.stop_sequence) == expected
    assert (streamed.stop_reason, streamed.stop_sequence) == expected
    assert [(d.delta.stop_reason, d.delta.stop_sequence) for d in deltas] == [expected]
    sent = json.dumps(upstream.requests[-1].json)
    assert "END" in sent
    assert "###" in sent
