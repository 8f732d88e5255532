"""The TGI simulator, driven by huggingface_hub's InferenceClient and the `openai` SDK."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import openai
import pytest
from huggingface_hub import InferenceClient
from huggingface_hub.errors import HfHubHTTPError, OverloadedError

from modelreg.simulators import Script, ScriptedToolCall, SimulatorServer

MESSAGES = [{"role": "user", "content": "Hello?"}]


@pytest.fixture
def hf(tgi_sim: SimulatorServer) -> Iterator[InferenceClient]:
    with InferenceClient(base_url=tgi_sim.base_url) as client:
        yield client


@pytest.fixture
def oai(tgi_sim: SimulatorServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=tgi_sim.base_url, api_key="-", max_retries=0) as sdk:
        yield sdk


def test_inference_client_chat(hf, tgi_sim):
    tgi_sim.enqueue(Script(text="Hi!", usage=(7, 2)))

    reply = hf.chat_completion(messages=MESSAGES, max_tokens=20)

    assert reply.choices[0].message.content == "Hi!"
    assert reply.choices[0].finish_reason == "stop"
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (7, 2)
    assert tgi_sim.requests[0].path == "/v1/chat/completions"


def test_inference_client_stream_with_tgi_tool_calls(hf, tgi_sim):
    tgi_sim.enqueue(
        Script(
            tool_calls=[ScriptedToolCall("get_weather", {"city": "Paris"})], fragment_tool_args=5
        )
    )

    chunks = list(hf.chat_completion(messages=MESSAGES, stream=True))

    deltas = [c.choices[0].delta.tool_calls for c in chunks if c.choices[0].delta.tool_calls]
    assert deltas[0][0].id == "0"
    assert deltas[0][0].function.name == "get_weather"
    arguments = "".join(d[0].function.arguments for d in deltas)
    assert json.loads(arguments) == {"city": "Paris"}


def test_whole_tool_call_has_tgi_shape(oai, tgi_sim):
    tgi_sim.enqueue(Script(tool_calls=[ScriptedToolCall("get_weather", {"city": "Paris"})]))

    reply = oai.chat.completions.create(model="tgi", messages=MESSAGES)

    [call] = reply.choices[0].message.tool_calls
    assert call.id == "0"
    assert call.function.model_extra == {"description": None}
    assert reply.usage.prompt_tokens_details is None  # TGI reports only the three totals


def test_stream_error_event_raises_the_tgi_error_class(hf, tgi_sim):
    tgi_sim.enqueue(
        Script(
            text="a b c d e",
            malformed="error_event_midstream",
            error_message="Model is overloaded",
            error_code="overloaded",
        )
    )

    with pytest.raises(OverloadedError):
        list(hf.chat_completion(messages=MESSAGES, stream=True))


@pytest.mark.parametrize(
    ("status", "error_type"),
    [(422, "validation"), (424, "generation"), (429, "overloaded"), (500, "incomplete_generation")],
)
def test_error_statuses_have_tgi_bodies(oai, tgi_sim, hf, status, error_type):
    tgi_sim.enqueue(Script(status=status), Script(status=status))

    with pytest.raises(openai.APIStatusError) as caught:
        oai.chat.completions.create(model="tgi", messages=MESSAGES)
    with pytest.raises(HfHubHTTPError):
        hf.chat_completion(messages=MESSAGES)

    assert caught.value.status_code == status
    assert caught.value.response.json()["error_type"] == error_type


def test_body_without_messages_is_a_plain_text_422(tgi_sim):
    response = httpx.post(f"{tgi_sim.base_url}/chat/completions", json={"model": "tgi"})

    assert response.status_code == 422
    assert "missing field `messages`" in response.text


def test_info_models_health_and_embed(tgi_sim, oai):
    info = httpx.get(f"{tgi_sim.url}/info").json()
    health = httpx.get(f"{tgi_sim.url}/health")
    # InferenceClient.feature_extraction needs numpy, which modelreg does not; plain HTTP.
    vectors = httpx.post(f"{tgi_sim.url}/embed", json={"inputs": ["hello", "you"]}).json()

    assert oai.models.list().data[0].id == info["model_id"]
    assert info["max_total_tokens"] > info["max_input_tokens"]
    assert health.status_code == 200
    assert len(vectors) == 2
    assert all(isinstance(v, float) for v in vectors[0])


def test_bearer_token_when_configured():
    with SimulatorServer("tgi", api_key="hf_simtoken") as sim:
        good = InferenceClient(base_url=sim.base_url, api_key="hf_simtoken")
        bad = InferenceClient(base_url=sim.base_url, api_key="hf_wrong")

        assert good.chat_completion(messages=MESSAGES).choices
        with pytest.raises(HfHubHTTPError) as caught:
            bad.chat_completion(messages=MESSAGES)
        assert caught.value.response.status_code == 401
