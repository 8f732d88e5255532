"""The OpenAI simulator, held to the wire format by the official `openai` SDK."""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Iterator

import httpx
import openai
import pytest

from modelreg.simulators import Script, ScriptedToolCall, SimulatorServer

MESSAGES = [{"role": "user", "content": "Weather in Paris?"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": name,
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
    for name in ("get_weather", "get_time")
]


@pytest.fixture
def client(openai_sim: SimulatorServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=openai_sim.base_url, api_key=openai_sim.api_key, max_retries=0
    ) as sdk:
        yield sdk


def test_unscripted_answer_echoes_the_user_and_records_the_request(client, openai_sim):
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    assert reply.choices[0].message.content == "You said: Weather in Paris?"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None
    assert reply.usage.total_tokens > 0
    [request] = openai_sim.requests
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.json["messages"] == MESSAGES
    assert request.headers["authorization"] == f"Bearer {openai_sim.api_key}"


def test_scripted_usage_details_reach_the_sdk(client, openai_sim):
    openai_sim.enqueue(Script(text="Hi", usage=(100, 20, 60, 0, 7), model="gpt-4o-2024-08-06"))

    reply = client.chat.completions.create(model="gpt-4o", messages=MESSAGES)

    assert reply.model == "gpt-4o-2024-08-06"
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (100, 20)
    assert reply.usage.prompt_tokens_details.cached_tokens == 60
    assert reply.usage.completion_tokens_details.reasoning_tokens == 7


def test_stream_text_in_scripted_chunks_without_usage_unless_asked(client, openai_sim):
    openai_sim.enqueue(Script(chunks=["Hel", "lo", " world"]))

    chunks = list(client.chat.completions.create(model="m", messages=MESSAGES, stream=True))

    texts = [c.choices[0].delta.content for c in chunks if c.choices[0].delta.content]
    assert texts == ["Hel", "lo", " world"]
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks)


def test_stream_usage_chunk_comes_last_with_empty_choices_when_asked(client, openai_sim):
    openai_sim.enqueue(Script(text="Hello there", usage=(12, 3)))

    chunks = list(
        client.chat.completions.create(
            model="m", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    )

    assert chunks[-1].choices == []
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (12, 3)
    assert all(c.usage is None for c in chunks[:-1])


def test_fragmented_parallel_tool_calls_reassemble_in_the_sdk_stream_helper(client, openai_sim):
    calls = [
        ScriptedToolCall("get_weather", {"city": "Paris", "unit": "°C"}, id="call_w"),
        ScriptedToolCall("get_time", {"city": "Tōkyō"}),
    ]
    openai_sim.enqueue(Script(tool_calls=calls, fragment_tool_args=3))

    with client.chat.completions.stream(model="m", messages=MESSAGES, tools=TOOLS) as stream:
        indexes = [
            event.index
            for event in stream
            if event.type == "tool_calls.function.arguments.delta" and event.arguments_delta
        ]
        final = stream.get_final_completion()

    assert indexes[:4] == [0, 1, 0, 1]  # fragments of the two calls interleave
    message = final.choices[0].message
    assert final.choices[0].finish_reason == "tool_calls"
    assert [c.function.name for c in message.tool_calls] == ["get_weather", "get_time"]
    assert message.tool_calls[0].id == "call_w"
    assert message.tool_calls[1].id.startswith("call_")
    assert json.loads(message.tool_calls[0].function.arguments) == {"city": "Paris", "unit": "°C"}
    assert json.loads(message.tool_calls[1].function.arguments) == {"city": "Tōkyō"}


def test_invalid_tool_arguments_are_sent_raw(client, openai_sim):
    openai_sim.enqueue(Script(tool_calls=[ScriptedToolCall("get_weather", '{"city": "Par')]))

    reply = client.chat.completions.create(model="m", messages=MESSAGES, tools=TOOLS)

    [call] = reply.choices[0].message.tool_calls
    assert call.function.arguments == '{"city": "Par'
    assert reply.choices[0].message.content is None


def test_tool_results_are_echoed_when_nothing_is_scripted(client):
    history = [
        *MESSAGES,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "18°C"},
    ]

    reply = client.chat.completions.create(model="m", messages=history)

    assert reply.choices[0].message.content == "Tool result: 18°C"


@pytest.mark.parametrize(
    ("script", "error_class", "code"),
    [
        (Script(status=400, error_code="context_length_exceeded"), openai.BadRequestError, None),
        (
            Script(status=403),
            openai.PermissionDeniedError,
            "unsupported_country_region_territory",
        ),
        (Script(status=404), openai.NotFoundError, "model_not_found"),
        (Script(status=429, error_code="insufficient_quota"), openai.RateLimitError, None),
        (Script(status=500), openai.InternalServerError, None),
        (Script(status=503), openai.InternalServerError, None),
    ],
)
def test_scripted_status_raises_the_sdk_error_class(client, openai_sim, script, error_class, code):
    openai_sim.enqueue(script)

    with pytest.raises(error_class) as caught:
        client.chat.completions.create(model="m", messages=MESSAGES)

    expected_code = code or script.error_code
    assert caught.value.code == expected_code
    assert caught.value.type is not None
    assert caught.value.request_id is not None


def test_rate_limit_carries_retry_after_in_seconds_and_ms(client, openai_sim):
    openai_sim.enqueue(Script(status=429, retry_after=1.5))

    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="m", messages=MESSAGES)

    assert caught.value.code == "rate_limit_exceeded"
    assert caught.value.response.headers["retry-after"] == "1.5"
    assert caught.value.response.headers["retry-after-ms"] == "1500"


def test_sdk_retries_a_rate_limit_and_then_succeeds(openai_sim):
    openai_sim.enqueue(Script(status=429, retry_after=0.01), Script(text="finally"))
    with openai.OpenAI(
        base_url=openai_sim.base_url, api_key=openai_sim.api_key, max_retries=1
    ) as client:
        reply = client.chat.completions.create(model="m", messages=MESSAGES)

        assert reply.choices[0].message.content == "finally"
        assert openai_sim.stats.requests == 2


@pytest.mark.parametrize("key", ["sk-wrong-0000000", None])
def test_wrong_or_missing_key_is_401_and_never_echoed_whole(openai_sim, key):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    response = httpx.get(f"{openai_sim.base_url}/models", headers=headers)
    with openai.OpenAI(base_url=openai_sim.base_url, api_key=key or "x", max_retries=0) as client:
        assert response.status_code == 401
        assert response.json()["error"]["type"] == "invalid_request_error"
        with pytest.raises(openai.AuthenticationError):
            client.models.list()
        if key:
            assert key not in response.text
            assert response.json()["error"]["code"] == "invalid_api_key"


def test_request_validation_like_the_real_api(openai_sim):
    headers = {"Authorization": f"Bearer {openai_sim.api_key}"}
    url = f"{openai_sim.base_url}/chat/completions"

    missing = httpx.post(url, headers=headers, json={"model": "m"})
    not_json = httpx.post(url, headers=headers, content=b"{nope")
    unknown_route = httpx.post(f"{openai_sim.base_url}/nothing", headers=headers, json={})

    assert missing.status_code == 400
    assert missing.json()["error"]["message"] == "Missing required parameter: 'messages'."
    assert not_json.status_code == 400
    assert unknown_route.status_code == 404
    assert unknown_route.json()["error"]["message"] == "Invalid URL (POST /v1/nothing)"


def test_unknown_model_is_404_when_the_model_list_is_fixed():
    with (
        SimulatorServer("openai", models=["gpt-4o-mini"]) as sim,
        openai.OpenAI(base_url=sim.base_url, api_key="any", max_retries=0) as client,
    ):
        assert [m.id for m in client.models.list()] == ["gpt-4o-mini"]
        with pytest.raises(openai.NotFoundError, match="does not exist"):
            client.chat.completions.create(model="gpt-9", messages=MESSAGES)


def test_stream_cut_mid_way_is_a_connection_error(client, openai_sim):
    openai_sim.enqueue(Script(chunks=["a", "b", "c", "d"], cut_after=3))
    received: list[str] = []

    def read_all() -> None:
        for chunk in client.chat.completions.create(model="m", messages=MESSAGES, stream=True):
            received.append(chunk.choices[0].delta.content or "")

    with pytest.raises(openai.APIConnectionError):
        read_all()

    assert "".join(received) == "ab"
    assert openai_sim.stats.streams_completed == 0


def test_whole_body_cut_mid_way_is_a_connection_error(client, openai_sim):
    openai_sim.enqueue(Script(text="x" * 500, cut_after=1))

    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="m", messages=MESSAGES)


def test_hung_request_times_out_and_counts_as_a_client_disconnect(openai_sim):
    openai_sim.enqueue(Script(hang=True))
    with openai.OpenAI(
        base_url=openai_sim.base_url, api_key=openai_sim.api_key, max_retries=0, timeout=0.3
    ) as client:
        with pytest.raises(openai.APITimeoutError):
            client.chat.completions.create(model="m", messages=MESSAGES)

        assert openai_sim.wait_for_stats(lambda s: s.client_disconnects == 1)


async def test_closing_a_stream_early_is_seen_by_the_server(openai_sim):
    openai_sim.enqueue(Script(chunks=["one", "two", "three", "four"], chunk_delay=0.2))
    async with openai.AsyncOpenAI(
        base_url=openai_sim.base_url, api_key=openai_sim.api_key, max_retries=0
    ) as client:
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        async for _ in stream:
            break
        await stream.close()

    assert openai_sim.wait_for_stats(lambda s: s.client_disconnects == 1)
    assert openai_sim.stats.streams_started == 1
    assert openai_sim.stats.streams_completed == 0


def test_error_event_mid_stream_raises_api_error(client, openai_sim):
    openai_sim.enqueue(
        Script(text="one two three four", malformed="error_event_midstream", error_message="boom")
    )

    with pytest.raises(openai.APIError, match="boom"):
        list(client.chat.completions.create(model="m", messages=MESSAGES, stream=True))


def test_bad_json_chunk_breaks_the_sdk_stream(client, openai_sim):
    openai_sim.enqueue(Script(text="hello", malformed="bad_json_chunk"))

    with pytest.raises(json.JSONDecodeError):
        list(client.chat.completions.create(model="m", messages=MESSAGES, stream=True))


def test_unknown_event_and_unknown_fields_are_skippable(client, openai_sim):
    openai_sim.enqueue(
        Script(text="hello world", malformed="unknown_event"),
        Script(text="hello world", malformed="unknown_event"),
    )

    chunks = list(client.chat.completions.create(model="m", messages=MESSAGES, stream=True))
    whole = client.chat.completions.create(model="m", messages=MESSAGES)

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "hello world"
    assert whole.choices[0].message.content == "hello world"


@pytest.mark.parametrize(
    ("malformed", "content_type", "body_check"),
    [
        ("html", "text/html", lambda text: text.startswith("<html>")),
        ("empty", "application/json", lambda text: text == ""),
        ("error_in_200", "application/json", lambda text: "error" in json.loads(text)),
        ("bad_json_chunk", "application/json", lambda text: text.startswith('{"id"')),
    ],
)
def test_malformed_whole_bodies(openai_sim, malformed, content_type, body_check):
    openai_sim.enqueue(Script(malformed=malformed))

    response = httpx.post(
        f"{openai_sim.base_url}/chat/completions",
        headers={"Authorization": f"Bearer {openai_sim.api_key}"},
        json={"model": "m", "messages": MESSAGES},
    )

    assert response.status_code == 200
    assert response.headers["content-type"].startswith(content_type)
    assert body_check(response.text)
    if malformed == "bad_json_chunk":
        with pytest.raises(json.JSONDecodeError):
            response.json()


def test_html_error_page_with_a_gateway_status(client, openai_sim):
    openai_sim.enqueue(Script(status=502, malformed="html"))

    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="m", messages=MESSAGES)

    assert caught.value.status_code == 502
    assert "Bad Gateway" in caught.value.response.text


@pytest.mark.parametrize("encoding", ["float", "base64"])
def test_embeddings_are_deterministic_unit_vectors(client, encoding):
    first = client.embeddings.create(
        model="text-embedding-3-small", input=["a", "b"], encoding_format=encoding
    )
    again = client.embeddings.create(model="text-embedding-3-small", input="b", dimensions=32)

    vectors = [_floats(d.embedding) for d in first.data]
    assert [d.index for d in first.data] == [0, 1]
    assert sum(v * v for v in vectors[0]) == pytest.approx(1.0, rel=1e-5)
    assert vectors[0] != vectors[1]
    assert vectors[1] == pytest.approx(again.data[0].embedding, rel=1e-5)
    assert first.usage.prompt_tokens > 0


def _floats(embedding: list[float] | str) -> list[float]:
    if isinstance(embedding, list):
        return embedding
    raw = base64.b64decode(embedding)  # explicit base64: the SDK hands the string on
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def test_embeddings_honour_a_scripted_error(client, openai_sim):
    openai_sim.enqueue(Script(status=429, retry_after=2))

    with pytest.raises(openai.RateLimitError):
        client.embeddings.create(model="text-embedding-3-small", input="a")


def test_model_list_only_takes_scripts_aimed_at_it(client, openai_sim):
    openai_sim.enqueue(Script(text="for chat"), Script(status=500, match={"path": "/v1/models"}))

    with pytest.raises(openai.InternalServerError):
        client.models.list()
    reply = client.chat.completions.create(model="m", messages=MESSAGES)

    assert reply.choices[0].message.content == "for chat"
    assert len(client.models.list().data) > 0


def test_scripts_can_match_one_model(client, openai_sim):
    openai_sim.enqueue(Script(text="for b", match={"model": "b"}), Script(text="for a"))

    first = client.chat.completions.create(model="a", messages=MESSAGES)
    second = client.chat.completions.create(model="b", messages=MESSAGES)

    assert first.choices[0].message.content == "for a"
    assert second.choices[0].message.content == "for b"


def test_repeat_queues_the_same_script_several_times(client, openai_sim):
    openai_sim.enqueue(Script(status=500, repeat=2), Script(text="ok"))

    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model="m", messages=MESSAGES)
    assert (
        client.chat.completions.create(model="m", messages=MESSAGES).choices[0].message.content
        == "ok"
    )


def test_control_api_scripts_an_out_of_process_simulator(client, openai_sim):
    script = {
        "text": "from JSON",
        "tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}, "id": "call_x"}],
        "usage": [5, 6],
    }

    queued = httpx.post(f"{openai_sim.url}/__sim/enqueue", json=[script])
    reply = client.chat.completions.create(model="m", messages=MESSAGES)
    log = httpx.get(f"{openai_sim.url}/__sim/requests").json()["requests"]
    stats = httpx.get(f"{openai_sim.url}/__sim/stats").json()
    bad = httpx.post(f"{openai_sim.url}/__sim/enqueue", json={"txt": "typo"})
    httpx.post(f"{openai_sim.url}/__sim/reset")

    assert queued.json() == {"queued": 1}
    assert reply.choices[0].message.content == "from JSON"
    assert reply.choices[0].message.tool_calls[0].id == "call_x"
    assert reply.usage.completion_tokens == 6
    assert [r["path"] for r in log] == ["/v1/chat/completions"]
    assert openai_sim.api_key not in json.dumps(log)  # credentials reduced to a hint
    assert stats["requests"] == 1
    assert bad.status_code == 400
    assert openai_sim.requests == []


def test_script_rejects_nonsense():
    with pytest.raises(ValueError, match="malformed"):
        Script(malformed="weird")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="repeat"):
        Script(repeat=0)
    with pytest.raises(ValueError, match="flavor"):
        SimulatorServer("gopher")


def test_reasoning_text_travels_as_reasoning_content(client, openai_sim):
    openai_sim.enqueue(
        Script(text="42", reasoning="Think first."), Script(text="42", reasoning="Think first.")
    )

    whole = client.chat.completions.create(model="m", messages=MESSAGES)
    chunks = list(client.chat.completions.create(model="m", messages=MESSAGES, stream=True))

    assert whole.choices[0].message.model_extra["reasoning_content"] == "Think first."
    streamed = "".join(
        (c.choices[0].delta.model_extra or {}).get("reasoning_content", "") for c in chunks
    )
    assert streamed == "Think first."


def test_a_stopped_simulator_starts_again_with_its_queue():
    sim = SimulatorServer("openai")
    sim.enqueue(Script(text="kept"))
    with sim:
        first_port = sim.port
    with sim, openai.OpenAI(base_url=sim.base_url, api_key="k", max_retries=0) as client:
        reply = client.chat.completions.create(model="m", messages=MESSAGES)
        assert sim.stats.open_connections == 1  # the client keeps its connection alive

    assert first_port > 0
    assert reply.choices[0].message.content == "kept"


def test_n_answers_that_many_choices_in_json_and_stream(client, openai_sim):
    openai_sim.enqueue(Script(chunks=["Hi ", "there"], usage=(10, 4), repeat=2))

    reply = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, n=3)

    assert [c.index for c in reply.choices] == [0, 1, 2]
    assert {c.message.content for c in reply.choices} == {"Hi there"}
    assert reply.usage is not None
    assert reply.usage.completion_tokens == 12  # OpenAI counts every choice's tokens
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        n=2,
        stream=True,
        stream_options={"include_usage": True},
    )
    texts: dict[int, str] = {}
    finishes: dict[int, str | None] = {}
    for chunk in stream:
        for choice in chunk.choices:  # one choice per chunk, interleaved by index
            texts[choice.index] = texts.get(choice.index, "") + (choice.delta.content or "")
            if choice.finish_reason:
                finishes[choice.index] = choice.finish_reason
    assert texts == {0: "Hi there", 1: "Hi there"}
    assert finishes == {0: "stop", 1: "stop"}
