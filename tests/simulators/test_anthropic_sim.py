"""The Anthropic simulator, held to the wire format by the official `anthropic` SDK."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import httpx
import httpx2
import pytest

from modelreg.simulators import Script, ScriptedToolCall, SimulatorServer

MODEL = "claude-sonnet-4-6"  # the SDK warns about deprecated names; pytest makes that an error
MESSAGES = [{"role": "user", "content": "Weather in Paris?"}]


@pytest.fixture
def client(anthropic_sim: SimulatorServer) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(
        base_url=anthropic_sim.base_url, api_key=anthropic_sim.api_key, max_retries=0
    ) as sdk:
        yield sdk


def create(client: anthropic.Anthropic, **kwargs: object) -> anthropic.types.Message:
    return client.messages.create(model=MODEL, max_tokens=256, messages=MESSAGES, **kwargs)


def test_unscripted_answer_and_recorded_headers(client, anthropic_sim):
    message = create(client, system="Be terse.")

    assert message.content[0].type == "text"
    assert message.content[0].text == "You said: Weather in Paris?"
    assert message.stop_reason == "end_turn"
    assert message.id.startswith("msg_")
    [request] = anthropic_sim.requests
    # SDK versions differ: `x-api-key`, or the key as a Bearer token; both are accepted.
    sent_key = request.headers.get("x-api-key") or request.headers["authorization"][7:]
    assert sent_key == anthropic_sim.api_key
    assert request.headers["anthropic-version"]
    assert request.json["system"] == "Be terse."


def test_tool_use_blocks_and_cache_usage(client, anthropic_sim):
    anthropic_sim.enqueue(
        Script(
            text="Let me check.",
            tool_calls=[ScriptedToolCall("get_weather", {"city": "Paris"}, id="toolu_01abc")],
            usage=(400, 52, 300, 40),
        )
    )

    message = create(client)

    text, tool = message.content
    assert (text.type, text.text) == ("text", "Let me check.")
    assert (tool.type, tool.id, tool.name, tool.input) == (
        "tool_use",
        "toolu_01abc",
        "get_weather",
        {"city": "Paris"},
    )
    assert message.stop_reason == "tool_use"
    # input_tokens excludes the cached parts; the three add up to the whole prompt.
    assert message.usage.input_tokens == 60
    assert message.usage.cache_read_input_tokens == 300
    assert message.usage.cache_creation_input_tokens == 40
    assert message.usage.output_tokens == 52


def test_stream_helper_rebuilds_text_and_fragmented_tool_inputs(client, anthropic_sim):
    calls = [
        ScriptedToolCall("get_weather", {"city": "Paris", "note": "naïve ☀"}),
        ScriptedToolCall("get_time", {"zone": "Europe/Paris"}),
    ]
    anthropic_sim.enqueue(
        Script(chunks=["Let ", "me ", "check."], tool_calls=calls, fragment_tool_args=2)
    )

    with client.messages.stream(model=MODEL, max_tokens=256, messages=MESSAGES) as stream:
        events = [event.type for event in stream]
        final = stream.get_final_message()

    assert events[0] == "message_start"
    assert events[-1] == "message_stop"
    assert final.content[0].text == "Let me check."
    assert [block.input for block in final.content[1:]] == [c.arguments for c in calls]
    assert len({block.id for block in final.content[1:]}) == 2
    assert final.stop_reason == "tool_use"


def test_raw_stream_event_sequence_and_cumulative_usage(client, anthropic_sim):
    anthropic_sim.enqueue(Script(text="Hi", usage=(10, 5)))

    events = list(create(client, stream=True))

    assert [e.type for e in events] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert events[0].message.usage.input_tokens == 10
    assert events[0].message.stop_reason is None
    assert events[4].usage.output_tokens == 5
    assert events[4].delta.stop_reason == "end_turn"


def test_finish_reason_override_accepts_unified_names(client, anthropic_sim):
    anthropic_sim.enqueue(Script(text="cut", finish_reason="length"))

    assert create(client).stop_reason == "max_tokens"


def test_tool_results_are_echoed_when_nothing_is_scripted(client):
    history = [
        *MESSAGES,
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "w", "input": {}}],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "18°C"}],
        },
    ]

    message = client.messages.create(model=MODEL, max_tokens=64, messages=history)

    assert message.content[0].text == "Tool result: 18°C"


@pytest.mark.parametrize(
    ("status", "error_class", "error_type"),
    [
        (400, anthropic.BadRequestError, "invalid_request_error"),
        (401, anthropic.AuthenticationError, "authentication_error"),
        (403, anthropic.PermissionDeniedError, "permission_error"),
        (404, anthropic.NotFoundError, "not_found_error"),
        (413, anthropic.APIStatusError, "request_too_large"),
        (429, anthropic.RateLimitError, "rate_limit_error"),
        (500, anthropic.InternalServerError, "api_error"),
        (529, anthropic.OverloadedError, "overloaded_error"),
    ],
)
def test_scripted_status_raises_the_sdk_error_class(
    client, anthropic_sim, status, error_class, error_type
):
    anthropic_sim.enqueue(Script(status=status))

    with pytest.raises(error_class) as caught:
        create(client)

    assert caught.value.status_code == status
    assert caught.value.body["error"]["type"] == error_type
    assert caught.value.request_id is not None
    assert caught.value.body["request_id"].startswith("req_")


def test_rate_limit_retry_after_header(client, anthropic_sim):
    anthropic_sim.enqueue(Script(status=429, retry_after=3))

    with pytest.raises(anthropic.RateLimitError) as caught:
        create(client)

    assert caught.value.response.headers["retry-after"] == "3"


def test_context_length_error_message(client, anthropic_sim):
    anthropic_sim.enqueue(Script(status=400, error_code="context_length_exceeded"))

    with pytest.raises(anthropic.BadRequestError, match="prompt is too long"):
        create(client)


def test_sdk_retries_overloaded_and_then_succeeds(anthropic_sim):
    anthropic_sim.enqueue(Script(status=529, retry_after=0.01), Script(text="back"))
    with anthropic.Anthropic(
        base_url=anthropic_sim.base_url, api_key=anthropic_sim.api_key, max_retries=1
    ) as client:
        assert create(client).content[0].text == "back"
        assert anthropic_sim.stats.requests == 2


@pytest.mark.parametrize(("key", "message"), [("wrong-key-0000", "invalid x-api-key"), (None, "")])
def test_wrong_or_missing_key(anthropic_sim, key, message):
    headers = {"anthropic-version": "2023-06-01"}
    if key:
        headers["x-api-key"] = key
    with anthropic.Anthropic(
        base_url=anthropic_sim.base_url, api_key=key or "x", max_retries=0
    ) as client:
        response = httpx.post(f"{anthropic_sim.base_url}/v1/messages", headers=headers, json={})

        assert response.status_code == 401
        assert response.json()["error"]["type"] == "authentication_error"
        assert message in response.json()["error"]["message"]
        with pytest.raises(anthropic.AuthenticationError):
            create(client)


@pytest.mark.parametrize(
    ("body", "headers", "expected"),
    [
        ({"model": MODEL, "messages": MESSAGES}, {}, "max_tokens: Field required"),
        ({"model": MODEL, "max_tokens": 5}, {}, "messages: Field required"),
        (
            {"model": MODEL, "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]},
            {},
            'Unexpected role "system"',
        ),
        (
            {"model": MODEL, "max_tokens": 5, "messages": MESSAGES},
            {"anthropic-version": ""},
            "anthropic-version: header is required",
        ),
    ],
)
def test_request_validation_like_the_real_api(anthropic_sim, body, headers, expected):
    sent = {"x-api-key": anthropic_sim.api_key, "anthropic-version": "2023-06-01", **headers}
    sent = {name: value for name, value in sent.items() if value}

    response = httpx.post(f"{anthropic_sim.base_url}/v1/messages", headers=sent, json=body)

    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert expected in response.json()["error"]["message"]
    assert anthropic_sim.pending == 0


def test_model_list_and_unknown_model():
    with (
        SimulatorServer("anthropic", models=[MODEL]) as sim,
        anthropic.Anthropic(base_url=sim.base_url, api_key="any", max_retries=0) as client,
    ):
        page = client.models.list()
        assert [m.id for m in page.data] == [MODEL]
        assert client.models.retrieve(MODEL).type == "model"
        with pytest.raises(anthropic.NotFoundError):
            client.messages.create(model="claude-nope-9", max_tokens=5, messages=MESSAGES)


def test_error_event_mid_stream_raises_from_the_sdk_stream(client, anthropic_sim):
    anthropic_sim.enqueue(Script(text="one two three four", malformed="error_event_midstream"))
    seen: list[str] = []

    def read_all() -> None:
        seen.extend(event.type for event in create(client, stream=True))

    with pytest.raises(anthropic.APIStatusError, match="overloaded_error"):
        read_all()

    assert seen[0] == "message_start"
    assert "message_stop" not in seen


def test_unknown_events_and_pings_are_skipped_by_the_sdk(client, anthropic_sim):
    anthropic_sim.enqueue(Script(text="hello world", malformed="unknown_event"))

    with client.messages.stream(model=MODEL, max_tokens=256, messages=MESSAGES) as stream:
        text = stream.get_final_text()

    assert text == "hello world"


def test_stream_cut_mid_way_is_a_connection_error(client, anthropic_sim):
    anthropic_sim.enqueue(Script(chunks=["a", "b", "c"], cut_after=4))
    seen: list[str] = []

    def read_all() -> None:
        seen.extend(event.type for event in create(client, stream=True))

    # This SDK lets the transport error through while streaming.
    with pytest.raises((anthropic.APIConnectionError, httpx2.RemoteProtocolError)):
        read_all()

    assert seen == ["message_start", "content_block_start", "content_block_delta"]


def test_hang_times_out(anthropic_sim):
    anthropic_sim.enqueue(Script(hang=True))
    with anthropic.Anthropic(
        base_url=anthropic_sim.base_url, api_key=anthropic_sim.api_key, max_retries=0, timeout=0.3
    ) as client:
        with pytest.raises(anthropic.APITimeoutError):
            create(client)

        assert anthropic_sim.wait_for_stats(lambda s: s.client_disconnects == 1)


def test_thinking_blocks_come_first_with_a_signature(client, anthropic_sim):
    anthropic_sim.enqueue(
        Script(text="42", reasoning="Let me think it through."),
        Script(text="42", reasoning="Let me think it through."),
    )

    whole = create(client)
    with client.messages.stream(model=MODEL, max_tokens=256, messages=MESSAGES) as stream:
        deltas = [e.delta.type for e in stream if e.type == "content_block_delta"]
        streamed = stream.get_final_message()

    for message in (whole, streamed):
        thinking, text = message.content
        assert (thinking.type, thinking.thinking) == ("thinking", "Let me think it through.")
        assert thinking.signature
        assert text.text == "42"
    assert deltas[-2:] == ["signature_delta", "text_delta"]


@pytest.mark.parametrize(
    ("messages", "message"),
    [
        ([], "messages: at least one message is required"),
        ([{"role": "user", "content": ""}], "messages.0: all messages must have non-empty"),
        (
            [{"role": "user", "content": "a"}, {"role": "assistant", "content": []}, MESSAGES[0]],
            "messages.1: all messages must have non-empty",
        ),
    ],
)
def test_empty_turns_are_refused_as_the_api_does(client, messages, message):
    with pytest.raises(anthropic.BadRequestError) as bad:
        client.messages.create(model=MODEL, max_tokens=5, messages=messages)
    assert bad.value.body["error"]["message"].startswith(message)


def test_an_empty_final_assistant_turn_is_accepted(client):
    reply = client.messages.create(
        model=MODEL, max_tokens=5, messages=[*MESSAGES, {"role": "assistant", "content": ""}]
    )
    assert reply.stop_reason == "end_turn"


def test_scripted_stop_sequence_is_reported_in_json_and_stream(client, anthropic_sim):
    anthropic_sim.enqueue(Script(text="1 2 3", stop_sequence="4", repeat=2))

    reply = create(client, stop_sequences=["4"])
    with client.messages.stream(
        model=MODEL, max_tokens=256, messages=MESSAGES, stop_sequences=["4"]
    ) as stream:
        final = stream.get_final_message()

    assert (reply.stop_reason, reply.stop_sequence) == ("stop_sequence", "4")
    assert (final.stop_reason, final.stop_sequence) == ("stop_sequence", "4")
