"""Azure OpenAI: deployment URLs, api-version, api-key auth, v1 API, content filter."""

from __future__ import annotations

import orjson
import pytest

from modelreg.errors import ContentFilteredError, NotFoundError, RateLimitError
from modelreg.providers.azure import AzureOpenAIAdapter
from modelreg.types import ChatRequest, Message, TextDelta
from tests.providers._helpers import API_KEY, body_of, collect, make_model, sse

ADAPTER = AzureOpenAIAdapter()
MODEL = make_model(
    "azure",
    base_url="https://res.openai.azure.test",
    model_id="gpt4o-prod",
    auth_type="api_key",
    options={"api_version": "2025-01-01-preview"},
)
REQ = ChatRequest(messages=(Message("developer", "Be terse."), Message("user", "hi")), max_tokens=9)


def test_classic_deployment_url_and_api_key_header() -> None:
    request = ADAPTER.build_request(REQ, MODEL)
    assert request.url == (
        "https://res.openai.azure.test/openai/deployments/gpt4o-prod/chat/completions"
        "?api-version=2025-01-01-preview"
    )
    assert request.headers["api-key"] == API_KEY
    assert "Authorization" not in request.headers
    body = body_of(request)
    assert body["messages"][0] == {"role": "system", "content": "Be terse."}
    assert body["max_tokens"] == 9


def test_default_api_version_and_base_with_openai_suffix() -> None:
    model = make_model("azure", base_url="https://res.openai.azure.test/openai/", model_id="d")
    request = ADAPTER.build_request(REQ, model)
    assert request.url == (
        "https://res.openai.azure.test/openai/deployments/d/chat/completions?api-version=2024-10-21"
    )
    # auth_type bearer: an Entra ID token
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert "api-key" not in request.headers


def test_v1_api() -> None:
    model = make_model(
        "azure",
        base_url="https://res.openai.azure.test/openai/v1/",
        model_id="dep",
        auth_type="api_key",
    )
    request = ADAPTER.build_request(REQ, model)
    assert request.url == "https://res.openai.azure.test/openai/v1/chat/completions"
    assert body_of(request)["model"] == "dep"


def test_embeddings_url() -> None:
    request = ADAPTER.build_embeddings_request(["x"], MODEL)
    assert request.url == (
        "https://res.openai.azure.test/openai/deployments/gpt4o-prod/embeddings"
        "?api-version=2025-01-01-preview"
    )


def test_connection_test_is_a_one_token_chat_to_the_deployment() -> None:
    request = ADAPTER.build_connection_test(MODEL)
    assert request.method == "POST"
    assert request.url == ADAPTER.build_request(REQ, MODEL).url
    assert body_of(request) == {
        "model": "gpt4o-prod",
        "messages": [{"role": "user", "content": "ping"}],
        "max_tokens": 1,
    }
    ADAPTER.check_connection_response(b"{}", MODEL)


async def test_stream_with_empty_first_chunk_and_content_filter_finish() -> None:
    body = sse(
        {
            "id": "",
            "choices": [],
            "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}],
        },
        {
            "id": "c",
            "model": "gpt-4o",
            "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}],
        },
        {"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "content_filter"}]},
    )
    events = await collect(ADAPTER, [body], MODEL)
    assert TextDelta("Hi") in events
    assert events[-1].type == "finish"
    assert events[-1].reason == "content_filter"


def test_content_filter_400_is_content_filtered() -> None:
    body = orjson.dumps(
        {
            "error": {
                "message": "The response was filtered due to the prompt triggering Azure OpenAI's "
                "content management policy.",
                "type": None,
                "param": "prompt",
                "code": "content_filter",
                "status": 400,
                "innererror": {"code": "ResponsibleAIPolicyViolation"},
            }
        }
    )
    error = ADAPTER.map_error(400, {"apim-request-id": "abc"}, body, MODEL)
    assert type(error) is ContentFilteredError
    assert (error.retryable, error.request_id) == (False, "abc")


def test_deployment_not_found_and_rate_limit_with_retry_after_ms() -> None:
    body = orjson.dumps(
        {
            "error": {
                "code": "DeploymentNotFound",
                "message": "The API deployment for this resource does not exist.",
            }
        }
    )
    assert type(ADAPTER.map_error(404, {}, body, MODEL)) is NotFoundError
    limited = ADAPTER.map_error(
        429, {"retry-after-ms": "1200"}, b'{"error":{"code":"429","message":"Rate limit"}}', MODEL
    )
    assert (type(limited), limited.retry_after) == (RateLimitError, 1.2)


def test_key_never_in_error_messages() -> None:
    body = (
        b'{"error":{"code":"401","message":"Access denied due to invalid subscription key '
        + API_KEY.encode()
        + b'"}}'
    )
    error = ADAPTER.map_error(401, {}, body, MODEL)
    assert API_KEY not in error.message


@pytest.mark.parametrize("auth_type", ["none"])
def test_no_auth(auth_type: str) -> None:
    model = make_model("azure", base_url="https://r.test", auth_type=auth_type)
    headers = ADAPTER.build_request(REQ, model).headers
    assert "api-key" not in headers
    assert "Authorization" not in headers
