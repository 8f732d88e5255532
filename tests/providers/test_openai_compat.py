"""OpenAI-compatible adapter: request building per profile, responses, streams, errors."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelreg.errors import (
    AuthenticationError,
    BadRequestError,
    ContextLengthExceededError,
    NotFoundError,
    RateLimitError,
    ServerError,
    StreamInterruptedError,
    UnexpectedResponseError,
)
from modelreg.providers.accumulate import fold_events
from modelreg.providers.openai_compat import PROFILES, OpenAICompatAdapter
from modelreg.secret import Secret
from modelreg.types import (
    ChatRequest,
    FinishEvent,
    ImagePart,
    Message,
    MetaEvent,
    ReasoningDelta,
    RefusalDelta,
    StreamEvent,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    ToolDefinition,
    Usage,
    UsageEvent,
)
from tests.providers._helpers import API_KEY, body_of, collect, make_model, split_at, sse

OPENAI = OpenAICompatAdapter(PROFILES["openai"])
MODEL = make_model("openai", base_url="https://api.openai.test/v1/")
WEATHER = ToolDefinition(
    "get_weather",
    "Weather for a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def adapter(provider: str) -> OpenAICompatAdapter:
    return OpenAICompatAdapter(PROFILES[provider])


def chunk(
    delta: dict[str, Any] | None = None, finish: str | None = None, **top: Any
) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta or {}, "finish_reason": finish}
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "model": "gpt-x",
        "choices": [choice],
        **top,
    }


# --- request building ---------------------------------------------------------------------


def test_openai_request_snapshot() -> None:
    req = ChatRequest(
        messages=(
            Message("developer", "Be terse."),
            Message(
                "user",
                (TextPart("What is this?"), ImagePart("data:image/png;base64,iVBOR", "auto")),
            ),
        ),
        tools=(WEATHER,),
        tool_choice="required",
        parallel_tool_calls=False,
        temperature=0.2,
        max_tokens=512,
        stop=("\n\n",),
        seed=7,
        stream=True,
    )
    request = OPENAI.build_request(req, MODEL)
    assert (request.method, request.url) == ("POST", "https://api.openai.test/v1/chat/completions")
    assert request.headers == {
        "Content-Type": "application/json",
        "Accept": "text/event-stream",
        "Authorization": f"Bearer {API_KEY}",
    }
    assert body_of(request) == {
        "model": "gpt-test",
        "messages": [
            {"role": "developer", "content": "Be terse."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {
                        "type": "image_url",
                        "image_url": {"url": "data:image/png;base64,iVBOR", "detail": "auto"},
                    },
                ],
            },
        ],
        "temperature": 0.2,
        "max_completion_tokens": 512,
        "stop": ["\n\n"],
        "seed": 7,
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "parameters": WEATHER.parameters,
                    "description": "Weather for a city",
                },
            }
        ],
        "tool_choice": "required",
        "parallel_tool_calls": False,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    assert API_KEY not in repr(request)


def test_named_tool_choice_and_tool_round_trip_history() -> None:
    call = ToolCall("call_abc", "get_weather", {"city": "Paris"}, '{"city":"Paris"}')
    req = ChatRequest(
        messages=(
            Message("user", "Weather in Paris?"),
            Message("assistant", None, tool_calls=(call,)),
            Message("tool", "18°C, sunny", tool_call_id="call_abc", name="get_weather"),
        ),
        tools=(WEATHER,),
        tool_choice="get_weather",
    )
    body = body_of(OPENAI.build_request(req, MODEL))
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert body["messages"][1:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_abc",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        # no `name`: Groq answers 400 to messages[].name
        {"role": "tool", "tool_call_id": "call_abc", "content": "18°C, sunny"},
    ]
    assert "stream" not in body


def test_arguments_without_raw_text_are_serialised() -> None:
    req = ChatRequest(
        messages=(Message("assistant", "", tool_calls=(ToolCall("c", "f", {"a": 1}),)),)
    )
    (message,) = body_of(OPENAI.build_request(req, MODEL))["messages"]
    assert orjson.loads(message["tool_calls"][0]["function"]["arguments"]) == {"a": 1}


@pytest.mark.parametrize(
    "provider",
    [
        "vllm",
        "lmstudio",
        "groq",
        "deepseek",
        "openrouter",
        "together",
        "gemini",
        "custom",
        "mistral",
        "ollama",
    ],
)
def test_other_servers_get_system_and_max_tokens(provider: str) -> None:
    req = ChatRequest(messages=(Message("developer", "rules"),), max_tokens=5, stream=True)
    body = body_of(adapter(provider).build_request(req, make_model(provider)))
    assert body["messages"] == [{"role": "system", "content": "rules"}]
    assert body["max_tokens"] == 5
    assert "max_completion_tokens" not in body
    assert ("stream_options" in body) is (provider != "mistral")


def test_mistral_seed_and_ollama_without_tool_choice() -> None:
    req = ChatRequest(
        messages=(Message("user", "x"),), seed=3, tools=(WEATHER,), tool_choice="auto"
    )
    mistral = body_of(adapter("mistral").build_request(req, make_model("mistral")))
    assert (mistral["random_seed"], "seed" in mistral) == (3, False)
    ollama = body_of(adapter("ollama").build_request(req, make_model("ollama")))
    assert "tool_choice" not in ollama
    assert ollama["tools"][0]["function"]["name"] == "get_weather"


def test_model_defaults_options_and_extras() -> None:
    model = make_model(
        "vllm",
        default_temperature=0.3,
        default_top_p=0.9,
        max_output_tokens=100,
        options={"max_tokens_field": "max_completion_tokens", "extra_body": {"top_k": 5}},
    )
    req = ChatRequest(messages=(Message("user", "x"),), temperature=0.0, extra={"min_p": 0.1})
    body = body_of(adapter("vllm").build_request(req, model))
    assert body["temperature"] == 0.0  # the call's value, even when falsy
    assert (body["top_p"], body["max_completion_tokens"]) == (0.9, 100)
    assert (body["top_k"], body["min_p"]) == (5, 0.1)


def test_default_base_url_when_the_model_has_none() -> None:
    request = adapter("groq").build_request(
        ChatRequest(messages=()), make_model("groq", base_url="")
    )
    assert request.url == "https://api.groq.com/openai/v1/chat/completions"


@pytest.mark.parametrize(
    ("auth_type", "options", "expected"),
    [
        ("bearer", {}, {"Authorization": f"Bearer {API_KEY}"}),
        ("api_key", {}, {"api-key": API_KEY}),
        ("api_key", {"api_key_header": "X-Api-Key"}, {"X-Api-Key": API_KEY}),
        ("none", {}, {}),
    ],
)
def test_auth_variants(auth_type: str, options: dict[str, str], expected: dict[str, str]) -> None:
    model = make_model(
        "custom",
        auth_type=auth_type,
        options=options,
        auth_headers={"HTTP-Referer": Secret("https://app.example")},
    )
    headers = adapter("custom").build_request(ChatRequest(messages=()), model).headers
    auth = {k: v for k, v in headers.items() if k not in ("Content-Type", "Accept")}
    assert auth == {**expected, "HTTP-Referer": "https://app.example"}


def test_no_key_no_auth_header() -> None:
    model = make_model("lmstudio", api_key=None)
    headers = adapter("lmstudio").build_request(ChatRequest(messages=()), model).headers
    assert "Authorization" not in headers


# --- non-streamed responses ---------------------------------------------------------------

COMPLETION = {
    "id": "chatcmpl-9",
    "object": "chat.completion",
    "created": 1730000000,
    "model": "gpt-4.1-mini",
    "choices": [
        {
            "index": 0,
            "finish_reason": "tool_calls",
            "logprobs": None,
            "message": {
                "role": "assistant",
                "content": None,
                "refusal": None,
                "tool_calls": [
                    {
                        "id": "call_abc",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                    }
                ],
            },
        }
    ],
    "usage": {
        "prompt_tokens": 82,
        "completion_tokens": 17,
        "total_tokens": 99,
        "prompt_tokens_details": {"cached_tokens": 64},
        "completion_tokens_details": {"reasoning_tokens": 5},
    },
}


def test_parse_tool_call_response() -> None:
    response = OPENAI.parse_response(orjson.dumps(COMPLETION), MODEL)
    assert response.tool_calls == (
        ToolCall("call_abc", "get_weather", {"city": "Paris"}, '{"city":"Paris"}'),
    )
    assert (response.finish_reason, response.raw_finish_reason) == ("tool_calls", "tool_calls")
    assert response.usage == Usage(82, 17, cached_read_tokens=64, reasoning_tokens=5)
    assert (response.model, response.response_id) == ("gpt-4.1-mini", "chatcmpl-9")


def test_stop_with_tool_calls_is_tool_calls_and_reasoning_is_kept() -> None:
    payload = orjson.loads(orjson.dumps(COMPLETION))
    payload["choices"][0]["finish_reason"] = "stop"
    payload["choices"][0]["message"]["reasoning_content"] = "Let me think."
    payload["choices"][0]["message"]["content"] = "Checking."
    response = OPENAI.parse_response(orjson.dumps(payload), MODEL)
    assert (response.finish_reason, response.raw_finish_reason) == ("tool_calls", "stop")
    assert (response.text, response.reasoning) == ("Checking.", "Let me think.")


def test_refusal_stays_a_refusal() -> None:
    """A refusal is not content (issue 16: callers check `message.refusal`)."""
    body = {
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": None, "refusal": "I can't."},
            }
        ]
    }
    response = OPENAI.parse_response(orjson.dumps(body), MODEL)
    assert (response.text, response.refusal) == ("", "I can't.")
    assert not response.usage_reported


def test_invalid_tool_arguments_are_recorded_not_raised() -> None:
    payload = orjson.loads(orjson.dumps(COMPLETION))
    payload["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] = '{"city": "Par'
    response = OPENAI.parse_response(orjson.dumps(payload), MODEL)
    (call,) = response.tool_calls
    assert (call.raw_arguments, call.arguments) == ('{"city": "Par', {})
    assert call.arguments_error is not None
    assert len(response.warnings) == 1


@pytest.mark.parametrize(
    ("body", "error", "match"),
    [
        (b"", UnexpectedResponseError, "empty"),
        (b"<html><body>Login</body></html>", UnexpectedResponseError, "HTML"),
        (b'{"choices": [', UnexpectedResponseError, "invalid JSON"),
        (b'{"object": "list"}', UnexpectedResponseError, "without `choices`"),
        (b'{"choices": []}', UnexpectedResponseError, "no choices"),
        (b'{"error": {"message": "quota", "code": "insufficient_quota"}}', RateLimitError, "quota"),
        (
            b'{"error": {"message": "too long", "code": "context_length_exceeded"}}',
            ContextLengthExceededError,
            "too long",
        ),
    ],
)
def test_bad_200_bodies_are_typed_errors(body: bytes, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        OPENAI.parse_response(body, MODEL)


# --- streams ------------------------------------------------------------------------------

STREAM = sse(
    chunk({"role": "assistant", "content": ""}, usage=None),
    chunk({"content": "Hel"}),
    chunk(
        {
            "tool_calls": [
                {
                    "index": 0,
                    "id": "call_abc",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": ""},
                }
            ]
        }
    ),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}),
    chunk({}, "tool_calls"),
    {"id": "chatcmpl-1", "choices": [], "usage": {"prompt_tokens": 82, "completion_tokens": 17}},
)


async def test_stream_event_sequence() -> None:
    events = await collect(OPENAI, [STREAM], MODEL)
    call = ToolCall("call_abc", "get_weather", {"city": "Paris"}, '{"city":"Paris"}')
    assert events == [
        MetaEvent("chatcmpl-1", "gpt-x"),
        TextDelta("Hel"),
        ToolCallStart(0, "call_abc", "get_weather"),
        ToolCallDelta(0, '{"city":'),
        ToolCallDelta(0, '"Paris"}'),
        ToolCallEnd(0, call),
        UsageEvent(Usage(82, 17)),
        FinishEvent("tool_calls", "tool_calls"),
    ]


async def test_azure_empty_first_chunk_reasoning_and_refusal() -> None:
    body = sse(
        {"id": "", "model": "", "choices": [], "prompt_filter_results": [{"prompt_index": 0}]},
        chunk({"reasoning": "hmm"}),
        chunk({"reasoning_content": " ok"}),
        chunk({"refusal": "No."}),
        chunk({}, "stop"),
    )
    events = await collect(OPENAI, [body], MODEL)
    assert events[1:] == [
        ReasoningDelta("hmm"),
        ReasoningDelta(" ok"),
        RefusalDelta("No."),
        FinishEvent("stop", "stop"),
    ]


async def test_interleaved_parallel_tool_calls() -> None:
    body = sse(
        chunk(
            {
                "tool_calls": [
                    {"index": 0, "id": "a", "function": {"name": "f", "arguments": ""}},
                    {"index": 1, "id": "b", "function": {"name": "g", "arguments": "{"}},
                ]
            }
        ),
        chunk({"tool_calls": [{"index": 1, "function": {"arguments": '"y": 2'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"x": 1}'}}]}),
        chunk({"tool_calls": [{"index": 1, "function": {"arguments": "}"}}]}),
        chunk({}, "tool_calls"),
    )
    response = fold_events(await collect(OPENAI, [body], MODEL))
    assert [(c.id, c.name, c.arguments) for c in response.tool_calls] == [
        ("a", "f", {"x": 1}),
        ("b", "g", {"y": 2}),
    ]


async def test_tool_calls_without_index_are_told_apart_by_id() -> None:
    body = sse(
        chunk({"tool_calls": [{"id": "a", "function": {"name": "f", "arguments": '{"n":1}'}}]}),
        chunk(
            {
                "tool_calls": [
                    {"index": 0, "id": "b", "function": {"name": "f", "arguments": '{"n":2}'}}
                ]
            }
        ),
        chunk({}, "tool_calls"),
    )
    response = fold_events(await collect(OPENAI, [body], MODEL))
    assert [(c.id, c.arguments) for c in response.tool_calls] == [("a", {"n": 1}), ("b", {"n": 2})]


async def test_groq_usage_and_cached_tokens_in_streams() -> None:
    body = sse(
        chunk({"content": "x"}),
        chunk({}, "stop", x_groq={"usage": {"prompt_tokens": 3, "completion_tokens": 1}}),
    )
    events = await collect(adapter("groq"), [body], make_model("groq"))
    assert UsageEvent(Usage(3, 1)) in events


async def test_finish_without_done_is_complete_but_cut_stream_is_interrupted() -> None:
    ok = sse(chunk({"content": "x"}), chunk({}, "length"), done=False)
    assert (await collect(OPENAI, [ok], MODEL))[-1] == FinishEvent("length", "length")
    cut = sse(chunk({"content": "Hello"}), done=False) + b'data: {"id":"chatcmpl-1","cho'
    with pytest.raises(StreamInterruptedError):
        await collect(OPENAI, [cut], MODEL)


async def test_done_without_finish_reason_is_a_plain_stop() -> None:
    events = await collect(OPENAI, [sse(chunk({"content": "x"}))], MODEL)
    assert events[-1] == FinishEvent("stop", None)


async def test_bad_json_chunk_is_a_typed_error() -> None:
    body = sse(chunk({"content": "x"}), done=False) + b"data: {not json}\n\n"
    with pytest.raises(UnexpectedResponseError, match="stream chunk"):
        await collect(OPENAI, [body], MODEL)


async def test_html_instead_of_a_stream_is_a_typed_error() -> None:
    with pytest.raises(UnexpectedResponseError, match="no event stream: an HTML page"):
        await collect(OPENAI, [b"<html><body>Bad gateway</body></html>"], MODEL)


async def test_json_error_body_instead_of_a_stream_is_the_typed_error() -> None:
    body = b'{"error": {"message": "quota", "type": "insufficient_quota"}}'
    with pytest.raises(RateLimitError, match="quota") as caught:
        await collect(OPENAI, [body[:10], body[10:]], MODEL)
    assert not caught.value.retryable


async def test_empty_stream_is_interrupted() -> None:
    with pytest.raises(StreamInterruptedError):
        await collect(OPENAI, [b""], MODEL)


@pytest.mark.parametrize(
    ("error", "cls"),
    [
        ({"message": "Overloaded", "type": "server_error"}, ServerError),
        ({"message": "Input validation error", "http_status_code": 422}, BadRequestError),
        ({"message": "Rate limit", "code": "rate_limit_exceeded"}, RateLimitError),
    ],
)
async def test_mid_stream_errors_are_typed(error: dict[str, Any], cls: type[Exception]) -> None:
    body = sse(chunk({"content": "Hel"}), {"error": error}, done=False)
    events: list[StreamEvent] = []

    async def consume() -> None:
        async for event in OPENAI.parse_stream(_aiter([body]), MODEL):
            events.append(event)

    with pytest.raises(cls):
        await consume()
    assert TextDelta("Hel") in events  # what came before the error was handed on


async def _aiter(chunks: list[bytes]) -> Any:
    for c in chunks:
        yield c


async def test_openrouter_keep_alive_comments_are_skipped() -> None:
    body = b": OPENROUTER PROCESSING\n\n" + sse(chunk({"content": "hi"}), chunk({}, "stop"))
    events = await collect(adapter("openrouter"), [body], make_model("openrouter"))
    assert TextDelta("hi") in events


@settings(max_examples=60, deadline=None)
@given(
    arguments=st.lists(
        st.dictionaries(
            st.text(max_size=6), st.text(max_size=10) | st.integers(-(2**53), 2**53), max_size=4
        ),
        min_size=1,
        max_size=3,
    ),
    seed=st.integers(0, 2**32),
)
def test_streamed_arguments_reassemble_byte_exact(
    arguments: list[dict[str, Any]], seed: int
) -> None:
    """Random fragmenting, random interleaving of calls, random byte splits of the body."""
    rng = random.Random(seed)
    raws = [orjson.dumps(a).decode() for a in arguments]
    chunks = [
        chunk(
            {
                "tool_calls": [
                    {"index": i, "id": f"call_{i}", "function": {"name": "f", "arguments": ""}}
                ]
            }
        )
        for i in range(len(raws))
    ]
    cursors = dict.fromkeys(range(len(raws)), 0)
    while cursors:
        i = rng.choice(sorted(cursors))
        step = rng.randint(1, 5)
        piece, cursors[i] = raws[i][cursors[i] : cursors[i] + step], cursors[i] + step
        chunks.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}))
        if cursors[i] >= len(raws[i]):
            del cursors[i]
    body = sse(*chunks, chunk({}, "tool_calls"))
    pieces = split_at(body, [rng.randrange(len(body)) for _ in range(rng.randint(0, 30))])
    response = fold_events(asyncio.run(collect(OPENAI, pieces, MODEL)))
    assert [c.raw_arguments for c in response.tool_calls] == raws
    assert [c.arguments for c in response.tool_calls] == arguments


# --- errors, embeddings, connection test ----------------------------------------------------


def _err(message: str, kind: str | None, code: str) -> bytes:
    return orjson.dumps({"error": {"message": message, "type": kind, "param": None, "code": code}})


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (
            401,
            _err("Incorrect API key provided", "invalid_request_error", "invalid_api_key"),
            AuthenticationError,
        ),
        (
            404,
            _err("The model `x` does not exist", "invalid_request_error", "model_not_found"),
            NotFoundError,
        ),
        (
            429,
            _err("Rate limit reached", "requests", "rate_limit_exceeded"),
            RateLimitError,
        ),
        (
            400,
            _err("maximum context length is 8192 tokens", None, "context_length_exceeded"),
            ContextLengthExceededError,
        ),
        (
            500,
            b'{"error":{"message":"The server had an error","type":"server_error"}}',
            ServerError,
        ),
        (502, b"<html><body><h1>502 Bad Gateway</h1></body></html>", ServerError),
    ],
)
def test_map_error(status: int, body: bytes, cls: type[Exception]) -> None:
    error = OPENAI.map_error(
        status, {"x-request-id": "req_1", "retry-after-ms": "250"}, body, MODEL
    )
    assert type(error) is cls
    assert (error.request_id, error.retry_after) == ("req_1", 0.25)


def test_embeddings_round_trip() -> None:
    request = OPENAI.build_embeddings_request(["a", "b"], make_model(options={"dimensions": 2}))
    assert request.url.endswith("/v1/embeddings")
    assert body_of(request) == {
        "model": "gpt-test",
        "input": ["a", "b"],
        "encoding_format": "float",
        "dimensions": 2,
    }
    body = {
        "object": "list",
        "model": "emb",
        "usage": {"prompt_tokens": 4, "total_tokens": 4},
        "data": [
            {"object": "embedding", "index": 1, "embedding": [0.3, 0.4]},
            {"object": "embedding", "index": 0, "embedding": [0.1, 0.2]},
        ],
    }
    response = OPENAI.parse_embeddings(orjson.dumps(body), MODEL)
    assert response.vectors == ((0.1, 0.2), (0.3, 0.4))
    assert (response.model, response.usage.input_tokens) == ("emb", 4)


def test_malformed_embeddings_are_typed_errors() -> None:
    with pytest.raises(UnexpectedResponseError):
        OPENAI.parse_embeddings(b'{"data": [{"embedding": "nope"}]}', MODEL)
    with pytest.raises(UnexpectedResponseError):
        OPENAI.parse_embeddings(b'{"object": "list"}', MODEL)


def test_connection_test_lists_models_and_checks_the_model() -> None:
    request = OPENAI.build_connection_test(MODEL)
    assert (request.method, request.url, request.body) == (
        "GET",
        "https://api.openai.test/v1/models",
        None,
    )
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    OPENAI.check_connection_response(b'{"object":"list","data":[{"id":"gpt-test"}]}', MODEL)
    with pytest.raises(NotFoundError, match="gpt-test"):
        OPENAI.check_connection_response(b'{"object":"list","data":[{"id":"other"}]}', MODEL)
    # servers whose lists are not exact are not checked
    adapter("gemini").check_connection_response(b'{"data":[]}', make_model("gemini"))
    # Ollama's /v1/models lists name:tag
    adapter("ollama").check_connection_response(
        b'{"data":[{"id":"llama3.2:latest"}]}', make_model("ollama", model_id="llama3.2")
    )
