"""Hugging Face: router and TGI chat quirks, embeddings routes, connection tests."""

from __future__ import annotations

import orjson
import pytest

from modelreg.errors import (
    BadRequestError,
    ContextLengthExceededError,
    RateLimitError,
    UnexpectedResponseError,
)
from modelreg.providers.accumulate import fold_events
from modelreg.providers.huggingface import HuggingFaceAdapter
from modelreg.types import ChatRequest, Message, ToolCall
from tests.providers._helpers import API_KEY, body_of, collect, make_model, sse

ADAPTER = HuggingFaceAdapter()
ROUTER = make_model(
    "huggingface", base_url="https://router.huggingface.co/v1", model_id="openai/gpt-oss-120b:groq"
)
TGI = make_model("huggingface", base_url="http://127.0.0.1:8080", model_id="tgi", api_key=None)


def test_router_chat_request() -> None:
    req = ChatRequest(
        messages=(Message("developer", "x"), Message("user", "hi")), stop=("END",), max_tokens=3
    )
    request = ADAPTER.build_request(req, ROUTER)
    assert request.url == "https://router.huggingface.co/v1/chat/completions"
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    body = body_of(request)
    assert body["model"] == "openai/gpt-oss-120b:groq"
    assert body["messages"][0]["role"] == "system"
    assert (body["stop"], body["max_tokens"]) == (["END"], 3)


def test_tgi_base_gets_v1() -> None:
    assert (
        ADAPTER.build_request(ChatRequest(messages=()), TGI).url
        == "http://127.0.0.1:8080/v1/chat/completions"
    )
    assert "Authorization" not in ADAPTER.build_request(ChatRequest(messages=()), TGI).headers


def test_tgi_response_with_string_arguments_description_and_stop_sequence() -> None:
    body = {
        "object": "chat.completion",
        "id": "",
        "created": 1,
        "model": "tgi",
        "system_fingerprint": "3.0",
        "choices": [
            {
                "index": 0,
                "logprobs": None,
                "finish_reason": "stop_sequence",
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "0",
                            "type": "function",
                            "function": {
                                "description": None,
                                "name": "get_weather",
                                "arguments": '{"city":"Paris"}',
                            },
                        }
                    ],
                },
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }
    response = ADAPTER.parse_response(orjson.dumps(body), TGI)
    assert response.tool_calls == (
        ToolCall("0", "get_weather", {"city": "Paris"}, '{"city":"Paris"}'),
    )
    assert (response.finish_reason, response.raw_finish_reason) == ("tool_calls", "stop_sequence")


def test_old_tgi_object_arguments() -> None:
    body = {
        "choices": [
            {
                "index": 0,
                "finish_reason": "eos_token",
                "message": {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": 0,
                            "type": "function",
                            "function": {"name": "f", "arguments": {"a": 1}},
                        }
                    ],
                },
            }
        ]
    }
    response = ADAPTER.parse_response(orjson.dumps(body), TGI)
    assert response.tool_calls[0].arguments == {"a": 1}


async def test_tgi_stream_and_in_stream_error() -> None:
    ok = sse(
        {
            "object": "chat.completion.chunk",
            "id": "",
            "model": "tgi",
            "choices": [
                {"index": 0, "delta": {"role": "assistant", "content": "Hi"}, "finish_reason": None}
            ],
        },
        {
            "object": "chat.completion.chunk",
            "id": "",
            "model": "tgi",
            "choices": [
                {
                    "index": 0,
                    "delta": {"role": "assistant", "content": ""},
                    "finish_reason": "stop_sequence",
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        },
    )
    response = fold_events(await collect(ADAPTER, [ok], TGI))
    assert (response.text, response.finish_reason, response.usage.total_tokens) == ("Hi", "stop", 2)
    bad = sse({"error": {"message": "Input validation error", "http_status_code": 422}}, done=False)
    with pytest.raises(BadRequestError):
        await collect(ADAPTER, [bad], TGI)


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (
            422,
            orjson.dumps(
                {
                    "error": "Input validation error: `inputs` must have less than 4096 tokens. "
                    "Given: 5000",
                    "error_type": "validation",
                }
            ),
            ContextLengthExceededError,
        ),
        (
            422,
            b'{"error":"Template error: unknown filter","error_type":"template_error"}',
            BadRequestError,
        ),
        (429, b'{"error":"Model is overloaded","error_type":"overloaded"}', RateLimitError),
    ],
)
def test_tgi_errors(status: int, body: bytes, cls: type[Exception]) -> None:
    error = ADAPTER.map_error(status, {}, body, TGI)
    assert type(error) is cls


def test_embeddings_routes() -> None:
    router = make_model(
        "huggingface",
        base_url="https://router.huggingface.co/v1",
        model_id="BAAI/bge-small-en-v1.5",
        options={"normalize": True},
    )
    request = ADAPTER.build_embeddings_request(["a", "b"], router)
    assert request.url == (
        "https://router.huggingface.co/hf-inference/models/BAAI/bge-small-en-v1.5/pipeline/feature-extraction"
    )
    assert body_of(request) == {"inputs": ["a", "b"], "normalize": True}
    assert ADAPTER.build_embeddings_request(["a"], TGI).url == "http://127.0.0.1:8080/embed"
    custom = make_model(
        "huggingface",
        base_url="http://127.0.0.1:1",
        options={"embeddings_url": "http://127.0.0.1:2/embed"},
    )
    assert ADAPTER.build_embeddings_request(["a"], custom).url == "http://127.0.0.1:2/embed"


def test_parse_embeddings_shapes() -> None:
    assert ADAPTER.parse_embeddings(b"[[0.1, 0.2], [0.3, 0.4]]", TGI).vectors == (
        (0.1, 0.2),
        (0.3, 0.4),
    )
    assert ADAPTER.parse_embeddings(b"[0.5, 0.6]", TGI).vectors == ((0.5, 0.6),)
    openai_shape = b'{"data":[{"index":0,"embedding":[1.0]}],"model":"m"}'
    assert ADAPTER.parse_embeddings(openai_shape, TGI).vectors == ((1.0,),)
    with pytest.raises(UnexpectedResponseError, match="per-token"):
        ADAPTER.parse_embeddings(b"[[[0.1], [0.2]]]", TGI)
    with pytest.raises(UnexpectedResponseError):
        ADAPTER.parse_embeddings(b"{}", TGI)
    with pytest.raises(RateLimitError):
        ADAPTER.parse_embeddings(b'{"error":"overloaded","error_type":"overloaded"}', TGI)


def test_connection_tests_only_build_requests() -> None:
    whoami = ADAPTER.build_connection_test(ROUTER)  # never sent by tests: a public host
    assert (whoami.method, whoami.url) == ("GET", "https://huggingface.co/api/whoami-v2")
    assert whoami.headers["Authorization"] == f"Bearer {API_KEY}"
    tgi = ADAPTER.build_connection_test(TGI)
    assert (tgi.method, tgi.url) == ("GET", "http://127.0.0.1:8080/v1/models")
    ADAPTER.check_connection_response(b'{"data":[{"id":"whatever"}]}', TGI)


def test_router_can_be_forced_by_option() -> None:
    proxied = make_model(
        "huggingface", base_url="http://127.0.0.1:3/v1", options={"hf_api": "router"}
    )
    assert ADAPTER.build_connection_test(proxied).url.endswith("/whoami-v2")
