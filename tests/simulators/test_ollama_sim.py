"""The Ollama simulator, held to the wire format by the official `ollama` client (native API)
and the `openai` SDK (Ollama's OpenAI-compatible /v1)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import ollama
import openai
import pytest

from modelreg.simulators import Script, ScriptedToolCall, SimulatorServer

MESSAGES = [{"role": "user", "content": "Weather in Toronto?"}]


@pytest.fixture
def client(ollama_sim: SimulatorServer) -> Iterator[ollama.Client]:
    with ollama.Client(host=ollama_sim.base_url) as sdk:
        yield sdk


def test_chat_without_stream_carries_counts_and_nanosecond_durations(client, ollama_sim):
    ollama_sim.enqueue(Script(text="Cold.", usage=(169, 18)))

    reply = client.chat(model="llama3.2", messages=MESSAGES)

    assert reply.message.content == "Cold."
    assert reply.done
    assert reply.done_reason == "stop"
    assert (reply.prompt_eval_count, reply.eval_count) == (169, 18)
    assert reply.total_duration > 10**8  # nanoseconds
    assert ollama_sim.requests[0].json["stream"] is False


def test_stream_is_ndjson_with_a_final_done_object(client, ollama_sim):
    ollama_sim.enqueue(Script(chunks=["Co", "ld."], usage=(5, 2)))

    parts = list(client.chat(model="llama3.2", messages=MESSAGES, stream=True))

    assert "".join(p.message.content for p in parts) == "Cold."
    assert [p.done for p in parts] == [False, False, True]
    assert parts[-1].eval_count == 2


def test_streams_by_default_like_ollama(ollama_sim):
    response = httpx.post(
        f"{ollama_sim.base_url}/api/chat", json={"model": "llama3.2", "messages": MESSAGES}
    )

    assert response.headers["content-type"] == "application/x-ndjson"
    assert len(response.text.splitlines()) > 1


def test_tool_calls_arrive_whole_with_object_arguments(client, ollama_sim):
    calls = [
        ScriptedToolCall("get_weather", {"city": "Toronto"}),
        ScriptedToolCall("get_time", {"city": "Toronto"}),
    ]
    ollama_sim.enqueue(Script(tool_calls=calls, fragment_tool_args=2), Script(tool_calls=calls))

    streamed = list(client.chat(model="llama3.2", messages=MESSAGES, stream=True))
    whole = client.chat(model="llama3.2", messages=MESSAGES)

    [with_calls] = [p for p in streamed if p.message.tool_calls]
    for message in (with_calls.message, whole.message):
        assert [c.function.name for c in message.tool_calls] == ["get_weather", "get_time"]
        assert message.tool_calls[0].function.arguments == {"city": "Toronto"}
    assert whole.done_reason == "stop"  # Ollama says stop even when it calls tools


def test_invalid_tool_arguments_stay_text(client, ollama_sim):
    ollama_sim.enqueue(Script(tool_calls=[ScriptedToolCall("get_weather", '{"city": ')]))

    reply = client.chat(model="llama3.2", messages=MESSAGES)

    assert reply.message.tool_calls is None
    assert reply.message.content == '{"city": '


def test_tool_results_are_echoed_when_nothing_is_scripted(client):
    history = [
        *MESSAGES,
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"function": {"name": "w", "arguments": {}}}],
        },
        {"role": "tool", "content": "11 degrees", "tool_name": "w"},
    ]

    assert (
        client.chat(model="llama3.2", messages=history).message.content == "Tool result: 11 degrees"
    )


@pytest.mark.parametrize("status", [400, 404, 429, 500, 502])
def test_scripted_status_is_a_response_error_with_the_message(client, ollama_sim, status):
    ollama_sim.enqueue(Script(status=status, error_message="model 'x' not found"))

    with pytest.raises(ollama.ResponseError) as caught:
        client.chat(model="llama3.2", messages=MESSAGES)

    assert caught.value.status_code == status
    assert caught.value.error == "model 'x' not found"


def test_error_line_mid_stream_raises(client, ollama_sim):
    ollama_sim.enqueue(
        Script(text="a b c d e f", malformed="error_event_midstream", error_message="GPU lost")
    )

    with pytest.raises(ollama.ResponseError, match="GPU lost"):
        list(client.chat(model="llama3.2", messages=MESSAGES, stream=True))


def test_unknown_model_and_missing_model():
    with (
        SimulatorServer("ollama", models=["llama3.2"]) as sim,
        ollama.Client(host=sim.base_url) as client,
    ):
        assert client.chat(model="llama3.2:latest", messages=MESSAGES).done
        with pytest.raises(ollama.ResponseError, match="model 'mistral' not found") as caught:
            client.chat(model="mistral", messages=MESSAGES)
        assert caught.value.status_code == 404
        missing = httpx.post(f"{sim.base_url}/api/chat", json={"messages": MESSAGES})
        assert (missing.status_code, missing.json()) == (400, {"error": "model is required"})


def test_tags_version_embed_and_root(client, ollama_sim):
    models = client.list().models
    embedded = client.embed(model="nomic-embed-text", input=["a", "b"])
    version = httpx.get(f"{ollama_sim.base_url}/api/version").json()
    root = httpx.get(ollama_sim.base_url)

    assert models[0].model == "llama3.2:latest"
    assert models[0].details.family == "llama"
    assert len(embedded.embeddings) == 2
    assert sum(v * v for v in embedded.embeddings[0]) == pytest.approx(1.0)
    assert version["version"]
    assert root.text == "Ollama is running"


def test_api_key_when_configured():
    with SimulatorServer("ollama", api_key="ollama-key-123") as sim:
        headers = {"Authorization": "Bearer ollama-key-123"}
        with ollama.Client(host=sim.base_url, headers=headers) as good:
            assert good.list().models
        with ollama.Client(host=sim.base_url) as bad, pytest.raises(ollama.ResponseError) as caught:
            bad.list()
        assert caught.value.status_code == 401


def client_native_models(sim: SimulatorServer) -> list[ollama.ListResponse.Model]:
    with ollama.Client(host=sim.base_url) as client:
        return list(client.list().models)


def test_openai_compatible_routes(ollama_sim):
    with openai.OpenAI(
        base_url=f"{ollama_sim.base_url}/v1", api_key="ollama", max_retries=0
    ) as client:
        ollama_sim.enqueue(
            Script(text="hi", tool_calls=[ScriptedToolCall("w", {"a": 1})]),
            Script(status=500, error_message="boom"),
        )

        chunks = list(
            client.chat.completions.create(
                model="llama3.2",
                messages=MESSAGES,
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        with pytest.raises(openai.InternalServerError, match="boom") as caught:
            client.chat.completions.create(model="llama3.2", messages=MESSAGES)
        models = client.models.list()
        embedded = client.embeddings.create(model="nomic-embed-text", input="x")

        tool_deltas = [
            c.choices[0].delta.tool_calls
            for c in chunks
            if c.choices and c.choices[0].delta.tool_calls
        ]
        assert tool_deltas[0][0].function.name == "w"
        assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
        assert chunks[-1].usage is not None
        assert caught.value.type == "api_error"
        assert models.data[0].owned_by == "library"
        assert [m.id for m in models.data] == [m.model for m in client_native_models(ollama_sim)]
        assert len(embedded.data[0].embedding) > 0


def test_thinking_text_in_native_messages(client, ollama_sim):
    ollama_sim.enqueue(
        Script(text="42", reasoning="Hmm, six times seven."),
        Script(text="42", reasoning="Hmm, six times seven."),
    )

    whole = client.chat(model="qwen3", messages=MESSAGES, think=True)
    parts = list(client.chat(model="qwen3", messages=MESSAGES, think=True, stream=True))

    assert (whole.message.thinking, whole.message.content) == ("Hmm, six times seven.", "42")
    assert "".join(p.message.thinking or "" for p in parts) == "Hmm, six times seven."
    assert "".join(p.message.content for p in parts) == "42"
