"""The Azure OpenAI simulator, driven by the official `openai` SDK's AzureOpenAI client."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from modelreg.simulators import Script, ScriptedToolCall, SimulatorServer

API_VERSION = "2024-10-21"
MESSAGES = [{"role": "user", "content": "Hello?"}]


@pytest.fixture
def client(azure_sim: SimulatorServer) -> Iterator[openai.AzureOpenAI]:
    with openai.AzureOpenAI(
        azure_endpoint=azure_sim.base_url,
        api_key=azure_sim.api_key,
        api_version=API_VERSION,
        max_retries=0,
    ) as sdk:
        yield sdk


def test_chat_goes_to_the_deployment_url_with_api_key_header(client, azure_sim):
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    assert reply.choices[0].message.content == "You said: Hello?"
    assert reply.model == "gpt-4o-mini"
    [request] = azure_sim.requests
    assert request.path == "/openai/deployments/gpt-4o-mini/chat/completions"
    assert request.query["api-version"] == API_VERSION
    assert request.headers["api-key"] == azure_sim.api_key
    assert request.model == "gpt-4o-mini"


def test_stream_starts_with_a_filter_results_chunk_without_choices(client, azure_sim):
    azure_sim.enqueue(
        Script(text="Hi there", tool_calls=[ScriptedToolCall("f", {"x": 1})], usage=(3, 4))
    )

    chunks = list(
        client.chat.completions.create(
            model="gpt-4o",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
    )

    assert chunks[0].choices == []
    assert chunks[0].model_extra["prompt_filter_results"][0]["prompt_index"] == 0
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hi there"
    assert chunks[-1].usage.completion_tokens == 4


def test_unknown_deployment_is_deployment_not_found(client):
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="no-such-deployment", messages=MESSAGES)

    assert caught.value.code == "DeploymentNotFound"


def test_missing_api_version_is_resource_not_found(azure_sim):
    response = httpx.post(
        f"{azure_sim.base_url}/openai/deployments/gpt-4o/chat/completions",
        headers={"api-key": azure_sim.api_key},
        json={"messages": MESSAGES},
    )

    assert response.status_code == 404
    assert response.json() == {"error": {"code": "404", "message": "Resource not found"}}


def test_wrong_key_is_401_and_entra_bearer_is_accepted(azure_sim):
    with (
        openai.AzureOpenAI(
            azure_endpoint=azure_sim.base_url,
            api_key="nope",
            api_version=API_VERSION,
            max_retries=0,
        ) as wrong,
        openai.AzureOpenAI(
            azure_endpoint=azure_sim.base_url,
            azure_ad_token=azure_sim.api_key,
            api_version=API_VERSION,
            max_retries=0,
        ) as entra,
    ):
        with pytest.raises(openai.AuthenticationError) as caught:
            wrong.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        assert caught.value.code == "401"
        assert entra.chat.completions.create(model="gpt-4o", messages=MESSAGES).choices


def test_content_filter_and_rate_limit_errors(client, azure_sim):
    azure_sim.enqueue(
        Script(status=400, error_code="content_filter"), Script(status=429, retry_after=6)
    )

    with pytest.raises(openai.BadRequestError) as filtered:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    with pytest.raises(openai.RateLimitError) as limited:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)

    assert filtered.value.code == "content_filter"
    assert filtered.value.body["innererror"]["code"] == "ResponsibleAIPolicyViolation"
    assert limited.value.response.headers["retry-after"] == "6"
    assert limited.value.response.headers["retry-after-ms"] == "6000"


def test_filtered_completion_is_a_200_with_finish_reason(client, azure_sim):
    azure_sim.enqueue(Script(text="", finish_reason="content_filter"))

    reply = client.chat.completions.create(model="gpt-4o", messages=MESSAGES)

    assert reply.choices[0].finish_reason == "content_filter"


def test_embeddings_on_the_deployment(client, azure_sim):
    result = client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])

    assert [d.index for d in result.data] == [0, 1]
    assert azure_sim.requests[0].path == "/openai/deployments/text-embedding-3-small/embeddings"


def test_v1_api_without_api_version(azure_sim):
    with openai.OpenAI(
        base_url=f"{azure_sim.base_url}/openai/v1",
        api_key="unused",
        default_headers={"api-key": azure_sim.api_key},
        max_retries=0,
    ) as client:
        reply = client.chat.completions.create(model="gpt-4o", messages=MESSAGES)

        assert reply.choices[0].message.content == "You said: Hello?"
