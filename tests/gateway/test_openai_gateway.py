"""The official `openai` SDK against /v1 — pass-through (OpenAI upstream) and translated
(Anthropic upstream) — plus error classes, usage accounting and isolation between users."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

import openai
import pytest

from modelreg.simulators import Script, ScriptedToolCall, SimulatorServer
from tests.fixtures.server import LiveServer
from tests.gateway.helpers import IN_PRICE, OUT_PRICE, create_model, unique, usage_events

WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def sdk(server: LiveServer, token: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=token, max_retries=0)


@pytest.fixture(params=["openai", "anthropic"])
def upstream(request: pytest.FixtureRequest) -> SimulatorServer:
    """Every behaviour is checked through the pass-through and through translation."""
    fixture: SimulatorServer = request.getfixturevalue(f"{request.param}_sim")
    return fixture


def test_chat_and_usage_recorded(
    live_server: LiveServer, user: str, upstream: SimulatorServer
) -> None:
    model = create_model(live_server, user, upstream)
    upstream.enqueue(Script(text="Bonjour", usage=(11, 5)))
    answer = sdk(live_server, user).chat.completions.create(
        model=model["name"],
        messages=[{"role": "system", "content": "Be brief"}, {"role": "user", "content": "Hi"}],
    )
    assert answer.choices[0].message.content == "Bonjour"
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage is not None
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (11, 5)
    sent = upstream.requests[-1].json
    assert sent["model"] == "sim-model"
    assert "Be brief" in json.dumps(sent)
    (event,) = usage_events(live_server, model["id"])
    assert (event.input_tokens, event.output_tokens, event.status) == (11, 5, "ok")
    assert event.source == "openai"
    assert event.cost == 11 * IN_PRICE + 5 * OUT_PRICE


def test_model_by_id(live_server: LiveServer, user: str, openai_sim: SimulatorServer) -> None:
    model = create_model(live_server, user, openai_sim)
    answer = sdk(live_server, user).chat.completions.create(
        model=model["id"], messages=[{"role": "user", "content": "ping"}]
    )
    assert answer.choices[0].message.content == "You said: ping"


def test_streaming_with_usage(
    live_server: LiveServer, user: str, upstream: SimulatorServer
) -> None:
    model = create_model(live_server, user, upstream)
    upstream.enqueue(Script(chunks=["One ", "two ", "three"], usage=(7, 3)))
    stream = sdk(live_server, user).chat.completions.create(
        model=model["name"],
        messages=[{"role": "user", "content": "count"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "One two three"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (7, 3)
    (event,) = usage_events(live_server, model["id"])
    assert (event.input_tokens, event.output_tokens) == (7, 3)


def test_streaming_without_usage_hides_the_usage_chunk(
    live_server: LiveServer, user: str, openai_sim: SimulatorServer
) -> None:
    model = create_model(live_server, user, openai_sim)
    openai_sim.enqueue(Script(chunks=["a", "b"], usage=(2, 2)))
    chunks = list(
        sdk(live_server, user).chat.completions.create(
            model=model["name"], messages=[{"role": "user", "content": "x"}], stream=True
        )
    )
    assert all(c.choices for c in chunks)  # no usage-only chunk the caller did not ask for
    # ...but we asked upstream for it, and booked it
    assert openai_sim.requests[-1].json["stream_options"] == {"include_usage": True}
    (event,) = usage_events(live_server, model["id"])
    assert (event.input_tokens, event.output_tokens) == (2, 2)


def test_tool_calls(live_server: LiveServer, user: str, upstream: SimulatorServer) -> None:
    model = create_model(live_server, user, upstream)
    call = ScriptedToolCall("get_weather", {"city": "Paris"})
    upstream.enqueue(Script(tool_calls=[call]), Script(tool_calls=[call]), Script(text="Sunny"))
    client = sdk(live_server, user)
    messages: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    answer = client.chat.completions.create(
        model=model["name"], messages=messages, tools=[WEATHER_TOOL], tool_choice="auto"
    )
    (tool_call,) = answer.choices[0].message.tool_calls or []
    assert answer.choices[0].finish_reason == "tool_calls"
    assert tool_call.function.name == "get_weather"
    assert json.loads(tool_call.function.arguments) == {"city": "Paris"}

    stream = client.chat.completions.create(
        model=model["name"], messages=messages, tools=[WEATHER_TOOL], stream=True
    )
    fragments = [
        tc for chunk in stream if chunk.choices for tc in (chunk.choices[0].delta.tool_calls or [])
    ]
    assert fragments[0].function is not None
    assert fragments[0].function.name == "get_weather"
    arguments = "".join((f.function.arguments or "") for f in fragments if f.function)
    assert json.loads(arguments) == {"city": "Paris"}

    messages += [
        answer.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": tool_call.id, "content": "sunny, 24°C"},
    ]
    final = client.chat.completions.create(
        model=model["name"], messages=messages, tools=[WEATHER_TOOL]
    )
    assert final.choices[0].message.content == "Sunny"
    assert "sunny, 24°C" in json.dumps(upstream.requests[-1].json, ensure_ascii=False)


def test_embeddings(live_server: LiveServer, user: str, openai_sim: SimulatorServer) -> None:
    model = create_model(live_server, user, openai_sim, model_id="text-embedding-3-small")
    client = sdk(live_server, user)
    # the SDK asks for base64 by default and decodes it itself
    result = client.embeddings.create(model=model["name"], input=["hello", "world"])
    assert len(result.data) == 2
    vector = result.data[0].embedding
    assert len(vector) > 0
    assert all(math.isfinite(x) for x in vector)
    floats = client.embeddings.create(model=model["name"], input="hello", encoding_format="float")
    assert floats.data[0].embedding == pytest.approx(vector, rel=1e-6)


def test_models_list_shows_only_visible_models(
    live_server: LiveServer, user: str, openai_sim: SimulatorServer
) -> None:
    mine = create_model(live_server, user, openai_sim)
    other_user = live_server.create_user()
    theirs = create_model(live_server, other_user, openai_sim)
    names = {m.id for m in sdk(live_server, user).models.list()}
    assert mine["name"] in names
    assert theirs["name"] not in names


def test_errors_raise_the_sdk_classes(
    live_server: LiveServer, user: str, openai_sim: SimulatorServer
) -> None:
    client = sdk(live_server, user)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(
            model=unique("missing"), messages=[{"role": "user", "content": "x"}]
        )
    with pytest.raises(openai.AuthenticationError):
        sdk(live_server, "mr-not-a-token").chat.completions.create(
            model="any", messages=[{"role": "user", "content": "x"}]
        )
    model = create_model(live_server, user, openai_sim)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=model["name"], messages=[])
    openai_sim.enqueue(Script(status=500, repeat=5))
    with pytest.raises(openai.InternalServerError) as upstream_down:
        client.chat.completions.create(
            model=model["name"], messages=[{"role": "user", "content": "x"}]
        )
    assert upstream_down.value.status_code in (502, 503)


def test_n_choices_pass_through_to_an_openai_upstream(
    live_server: LiveServer, user: str, openai_sim: SimulatorServer
) -> None:
    model = create_model(live_server, user, openai_sim)
    openai_sim.enqueue(Script(chunks=["A ", "B"], usage=(9, 2), repeat=2))
    client = sdk(live_server, user)
    answer = client.chat.completions.create(
        model=model["name"], messages=[{"role": "user", "content": "x"}], n=3
    )
    assert [c.index for c in answer.choices] == [0, 1, 2]
    assert {c.message.content for c in answer.choices} == {"A B"}
    assert openai_sim.requests[-1].json["n"] == 3
    stream = client.chat.completions.create(
        model=model["name"], messages=[{"role": "user", "content": "x"}], n=2, stream=True
    )
    texts: dict[int, str] = {}
    for chunk in stream:
        for choice in chunk.choices:
            texts[choice.index] = texts.get(choice.index, "") + (choice.delta.content or "")
    assert texts == {0: "A B", 1: "A B"}
    # the upstream's usage, which counts every choice: 3 x 2 and 2 x 2 completion tokens
    events = usage_events(live_server, model["id"], at_least=2)
    assert sorted((e.input_tokens, e.output_tokens) for e in events) == [(9, 4), (9, 6)]


# a chain whose first member speaks OpenAI's format forwards n=2 to it (a member of another
# family refuses it only when it serves): tests/conformance/test_fallback_fidelity.py
@pytest.mark.parametrize("flavor", ["anthropic", "ollama"])
def test_n_on_a_translated_model_is_a_clear_400(
    live_server: LiveServer, user: str, flavor: str, request: pytest.FixtureRequest
) -> None:
    sim = request.getfixturevalue(f"{flavor}_sim")
    model = create_model(live_server, user, sim)
    client = sdk(live_server, user)
    for stream in (False, True):
        with pytest.raises(openai.BadRequestError) as bad:
            client.chat.completions.create(
                model=model["name"], messages=[{"role": "user", "content": "x"}], n=2,
                stream=stream,
            )  # fmt: skip
        assert bad.value.param == "n"  # type: ignore[attr-defined]
        assert "n=2" in bad.value.message
    assert sim.requests == []
    # n=1 is what every model answers
    answer = client.chat.completions.create(
        model=model["name"], messages=[{"role": "user", "content": "x"}], n=1
    )
    assert len(answer.choices) == 1


@pytest.mark.parametrize("flavor", ["openai", "anthropic"])
def test_empty_messages_are_refused_in_openais_words(
    live_server: LiveServer, user: str, flavor: str, request: pytest.FixtureRequest
) -> None:
    sim: SimulatorServer = request.getfixturevalue(f"{flavor}_sim")
    model = create_model(live_server, user, sim)
    with pytest.raises(openai.BadRequestError) as bad:
        sdk(live_server, user).chat.completions.create(model=model["name"], messages=[])
    assert bad.value.param == "messages"  # type: ignore[attr-defined]
    assert bad.value.code == "empty_array"
    assert "empty array" in bad.value.message
    assert sim.requests == []


def test_n_below_one_is_refused(
    live_server: LiveServer, user: str, openai_sim: SimulatorServer
) -> None:
    model = create_model(live_server, user, openai_sim)
    with pytest.raises(openai.BadRequestError) as bad:
        sdk(live_server, user).chat.completions.create(
            model=model["name"], messages=[{"role": "user", "content": "x"}], n=0
        )
    assert bad.value.param == "n"  # type: ignore[attr-defined]
    assert openai_sim.requests == []


def test_rate_limit_raises_rate_limit_error(
    live_server: LiveServer, user: str, openai_sim: SimulatorServer
) -> None:
    model = create_model(live_server, user, openai_sim, rpm_limit=1)
    client = sdk(live_server, user)
    client.chat.completions.create(model=model["name"], messages=[{"role": "user", "content": "1"}])
    with pytest.raises(openai.RateLimitError) as limited:
        client.chat.completions.create(
            model=model["name"], messages=[{"role": "user", "content": "2"}]
        )
    assert int(limited.value.response.headers["retry-after"]) >= 1
    assert limited.value.body["type"] == "rate_limit_error"  # type: ignore[index]


def test_other_users_model_is_not_found_by_name_or_id(
    live_server: LiveServer, user: str, openai_sim: SimulatorServer
) -> None:
    other = live_server.create_user()
    theirs = create_model(live_server, other, openai_sim)
    client = sdk(live_server, user)
    for ref in (theirs["name"], theirs["id"]):
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model=ref, messages=[{"role": "user", "content": "x"}])
    assert openai_sim.requests == []


def test_malformed_json_is_a_400_in_openai_shape(live_server: LiveServer, user: str) -> None:
    with live_server.client(user) as http:
        answer = http.post(
            "/v1/chat/completions",
            content=b'{"model": "x", "messages": [',
            headers={"content-type": "application/json"},
        )
        wrong_type = http.post("/v1/chat/completions", json={"model": 5, "messages": []})
    assert answer.status_code == 400
    assert answer.json()["error"]["type"] == "invalid_request_error"
    assert wrong_type.status_code == 400
    assert wrong_type.json()["error"]["param"]


def test_cost_uses_decimal_prices(
    live_server: LiveServer, user: str, openai_sim: SimulatorServer
) -> None:
    model = create_model(
        live_server,
        user,
        openai_sim,
        price_per_input_token="0.000000123",
        price_per_output_token="0.000000456",
    )
    openai_sim.enqueue(Script(text="ok", usage=(1000, 333)))
    sdk(live_server, user).chat.completions.create(
        model=model["name"], messages=[{"role": "user", "content": "x"}]
    )
    (event,) = usage_events(live_server, model["id"])
    assert event.cost == Decimal("0.000123") + 333 * Decimal("0.000000456")


@pytest.mark.parametrize("stream", [False, True])
def test_each_path_answers_the_pass_through_itself(
    live_server: LiveServer, user: str, openai_sim: SimulatorServer, gateway_path: str, stream: bool
) -> None:
    """The same request, answered by the fast path when it is on and by the route when off."""
    model = create_model(live_server, user, openai_sim)
    fast_before = live_server.asgi.answered
    routed_before = live_server.app.state.routed_passthroughs
    body = {"model": model["name"], "messages": [{"role": "user", "content": "hi"}]}
    with live_server.client(user) as http:
        answer = http.post("/v1/chat/completions", json={**body, "stream": stream})
    assert answer.status_code == 200, answer.text
    fast = live_server.asgi.answered - fast_before
    routed = live_server.app.state.routed_passthroughs - routed_before
    assert (fast, routed) == ((1, 0) if gateway_path == "fast_path" else (0, 1))
