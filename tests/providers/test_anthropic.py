"""Anthropic Messages adapter: request translation, responses, the SSE event protocol, errors."""

from __future__ import annotations

import logging
from typing import Any

import orjson
import pytest

from modelreg.errors import (
    AuthenticationError,
    BadRequestError,
    ConfigError,
    ContextLengthExceededError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    StreamInterruptedError,
    UnexpectedResponseError,
    ValidationFailedError,
)
from modelreg.providers.accumulate import fold_events
from modelreg.providers.anthropic import AnthropicAdapter
from modelreg.types import (
    ChatRequest,
    FinishEvent,
    ImagePart,
    Message,
    MetaEvent,
    ReasoningDelta,
    ReasoningSignature,
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
from tests.providers._helpers import API_KEY, body_of, collect, make_model, sse

ADAPTER = AnthropicAdapter()
MODEL = make_model("anthropic", base_url="https://api.anthropic.test", model_id="claude-x")
WEATHER = ToolDefinition("get_weather", "Weather", {"type": "object", "properties": {}})


# --- request ------------------------------------------------------------------------------


def test_seed_is_refused_naming_the_field_not_dropped() -> None:
    """Anthropic has no seed; dropping it silently was wrong (issue 16): a 400 names it."""
    req = ChatRequest(messages=(Message("user", "hi"),), seed=1)
    with pytest.raises(ValidationFailedError) as caught:
        ADAPTER.build_request(req, MODEL)
    assert caught.value.field == "seed"


def test_request_snapshot() -> None:
    req = ChatRequest(
        messages=(
            Message("system", "Be terse."),
            Message("developer", "Use metric."),
            Message(
                "user",
                (
                    ImagePart("data:image/png;base64,iVBOR"),
                    ImagePart("https://img.example/cat.jpg"),
                    TextPart("What is this?"),
                ),
            ),
        ),
        tools=(WEATHER,),
        tool_choice="auto",
        parallel_tool_calls=False,
        temperature=0.2,
        top_p=0.9,
        stop=("\n\nHuman:",),
        stream=True,
        extra={"top_k": 40},
    )
    request = ADAPTER.build_request(req, MODEL)
    assert (request.method, request.url) == ("POST", "https://api.anthropic.test/v1/messages")
    assert request.headers == {
        "Content-Type": "application/json",
        "anthropic-version": "2023-06-01",
        "Accept": "text/event-stream",
        "x-api-key": API_KEY,
    }
    assert body_of(request) == {
        "model": "claude-x",
        "max_tokens": 4096,
        "system": "Be terse.\n\nUse metric.",
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"},
                    },
                    {
                        "type": "image",
                        "source": {"type": "url", "url": "https://img.example/cat.jpg"},
                    },
                    {"type": "text", "text": "What is this?"},
                ],
            }
        ],
        "temperature": 0.2,
        "top_p": 0.9,
        "stop_sequences": ["\n\nHuman:"],
        "tools": [
            {"name": "get_weather", "description": "Weather", "input_schema": WEATHER.parameters}
        ],
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
        "stream": True,
        "top_k": 40,
    }


def test_tool_history_groups_results_first_into_one_user_message() -> None:
    calls = (
        ToolCall("toolu_01", "get_weather", {"city": "Paris"}, '{"city":"Paris"}'),
        ToolCall("toolu_02", "get_weather", {}, '{"city": "Ro', arguments_error="bad JSON"),
    )
    req = ChatRequest(
        messages=(
            Message("user", "Weather in Paris and Rome?"),
            Message("assistant", "Let me check.", tool_calls=calls),
            Message("tool", "18°C", tool_call_id="toolu_01"),
            Message("tool", "error: no city", tool_call_id="toolu_02"),
            Message("user", "Thanks, and?"),
            Message("assistant", ""),  # empty turns are refused upstream: dropped
            Message("assistant", "Sunny."),
        )
    )
    assert body_of(ADAPTER.build_request(req, MODEL))["messages"] == [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me check."},
                {
                    "type": "tool_use",
                    "id": "toolu_01",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                },
                {"type": "tool_use", "id": "toolu_02", "name": "get_weather", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01", "content": "18°C"},
                {"type": "tool_result", "tool_use_id": "toolu_02", "content": "error: no city"},
                {"type": "text", "text": "Thanks, and?"},
            ],
        },
        {"role": "assistant", "content": "Sunny."},
    ]


def test_trailing_tool_results_become_a_user_message() -> None:
    req = ChatRequest(
        messages=(
            Message("assistant", None, tool_calls=(ToolCall("t1", "f", {}),)),
            Message("tool", "ok", tool_call_id="t1"),
        )
    )
    messages = body_of(ADAPTER.build_request(req, MODEL))["messages"]
    assert messages[-1] == {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}],
    }


@pytest.mark.parametrize(
    ("choice", "parallel", "expected"),
    [
        ("required", None, {"type": "any"}),
        ("none", False, {"type": "none"}),
        ("get_weather", None, {"type": "tool", "name": "get_weather"}),
        (
            "get_weather",
            False,
            {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
        ),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        (None, None, None),
    ],
)
def test_tool_choice_mapping(choice: str | None, parallel: bool | None, expected: Any) -> None:
    req = ChatRequest(
        messages=(), tools=(WEATHER,), tool_choice=choice, parallel_tool_calls=parallel
    )
    assert body_of(ADAPTER.build_request(req, MODEL)).get("tool_choice") == expected


def test_no_tools_means_no_tool_choice() -> None:
    body = body_of(ADAPTER.build_request(ChatRequest(messages=(), tool_choice="auto"), MODEL))
    assert "tool_choice" not in body
    assert "tools" not in body


def test_max_tokens_sources_and_temperature_clamp() -> None:
    req = ChatRequest(messages=(), temperature=1.5)
    body = body_of(ADAPTER.build_request(req, make_model("anthropic", max_output_tokens=300)))
    assert (body["max_tokens"], body["temperature"]) == (300, 1.0)
    model = make_model("anthropic", options={"default_max_tokens": 1000}, default_temperature=-1)
    body = body_of(ADAPTER.build_request(ChatRequest(messages=(), max_tokens=7), model))
    assert (body["max_tokens"], body["temperature"]) == (7, 0.0)
    body = body_of(ADAPTER.build_request(ChatRequest(messages=()), model))
    assert body["max_tokens"] == 1000


def test_base_url_with_v1_beta_header_and_bearer_option() -> None:
    model = make_model(
        "anthropic",
        base_url="https://proxy.test/v1/",
        options={"anthropic_beta": "prompt-caching-2024-07-31", "auth_header": "bearer"},
    )
    request = ADAPTER.build_request(ChatRequest(messages=()), model)
    assert request.url == "https://proxy.test/v1/messages"
    assert request.headers["anthropic-beta"] == "prompt-caching-2024-07-31"
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert "x-api-key" not in request.headers


def test_default_base_url() -> None:
    request = ADAPTER.build_request(ChatRequest(messages=()), make_model("anthropic", base_url=""))
    assert request.url == "https://api.anthropic.com/v1/messages"


# --- non-streamed response ----------------------------------------------------------------

MESSAGE = {
    "id": "msg_01",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5",
    "content": [
        {"type": "thinking", "thinking": "Weather needs a tool.", "signature": "sig"},
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 400,
        "output_tokens": 52,
        "cache_read_input_tokens": 100,
        "cache_creation_input_tokens": 20,
    },
}


def test_parse_response() -> None:
    response = ADAPTER.parse_response(orjson.dumps(MESSAGE), MODEL)
    assert response.text == "Let me check."
    assert response.reasoning == "Weather needs a tool."
    assert response.tool_calls == (
        ToolCall("toolu_01", "get_weather", {"city": "Paris"}, '{"city":"Paris"}'),
    )
    assert (response.finish_reason, response.raw_finish_reason) == ("tool_calls", "tool_use")
    # input = input_tokens + cache reads + cache writes (reference §4)
    assert response.usage == Usage(520, 52, cached_read_tokens=100, cache_write_tokens=20)
    assert (response.model, response.response_id) == ("claude-sonnet-4-5", "msg_01")


@pytest.mark.parametrize(
    ("stop_reason", "expected"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("refusal", "content_filter"),
        ("pause_turn", "other"),
        ("something_new", "other"),
    ],
)
def test_stop_reasons(stop_reason: str, expected: str) -> None:
    body = {**MESSAGE, "content": [{"type": "text", "text": "x"}], "stop_reason": stop_reason}
    assert ADAPTER.parse_response(orjson.dumps(body), MODEL).finish_reason == expected


def test_200_with_error_body_and_malformed_bodies() -> None:
    overloaded = b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
    with pytest.raises(RateLimitError, match="Overloaded"):
        ADAPTER.parse_response(overloaded, MODEL)
    with pytest.raises(UnexpectedResponseError, match="content"):
        ADAPTER.parse_response(b'{"type":"message"}', MODEL)
    with pytest.raises(UnexpectedResponseError, match="HTML"):
        ADAPTER.parse_response(b"<!DOCTYPE html><html></html>", MODEL)


# --- streams ------------------------------------------------------------------------------


def stream_events(*, stop: bool = True) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [
        {
            "type": "message_start",
            "message": {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "content": [],
                "model": "claude-x",
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 400, "output_tokens": 1, "cache_read_input_tokens": 10},
            },
        },
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "thinking", "thinking": ""},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "thinking_delta", "thinking": "hm"},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "signature_delta", "signature": "s"},
        },
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
        {"type": "ping"},
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "text_delta", "text": "Let me check."},
        },
        {"type": "content_block_stop", "index": 1},
        {
            "type": "content_block_start",
            "index": 2,
            "content_block": {
                "type": "tool_use",
                "id": "toolu_01",
                "name": "get_weather",
                "input": {},
            },
        },
        {
            "type": "content_block_delta",
            "index": 2,
            "delta": {"type": "input_json_delta", "partial_json": ""},
        },
        {
            "type": "content_block_delta",
            "index": 2,
            "delta": {"type": "input_json_delta", "partial_json": '{"city": "Pa'},
        },
        {
            "type": "content_block_delta",
            "index": 2,
            "delta": {"type": "input_json_delta", "partial_json": 'ris"}'},
        },
        {"type": "content_block_stop", "index": 2},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {"output_tokens": 52},
        },
    ]
    if stop:
        events.append({"type": "message_stop"})
    return events


async def test_stream_event_sequence() -> None:
    body = sse(*stream_events(), event_names=True, done=False)
    events = await collect(ADAPTER, [body], MODEL)
    call = ToolCall("toolu_01", "get_weather", {"city": "Paris"}, '{"city": "Paris"}')
    assert events == [
        # message_start's usage is the prompt's, known before any output (issue 16)
        MetaEvent("msg_1", "claude-x", usage=Usage(410, 1, cached_read_tokens=10)),
        ReasoningDelta("hm"),
        ReasoningSignature("s"),  # the thinking block's signature, kept (issue 16)
        TextDelta("Let me check."),
        ToolCallStart(0, "toolu_01", "get_weather"),  # block index 2, tool index 0
        ToolCallDelta(0, '{"city": "Pa'),
        ToolCallDelta(0, 'ris"}'),
        ToolCallEnd(0, call),
        UsageEvent(Usage(410, 52, cached_read_tokens=10)),
        FinishEvent("tool_calls", "tool_use"),
    ]


async def test_stream_without_message_stop_is_interrupted() -> None:
    body = sse(*stream_events(stop=False), event_names=True, done=False)
    with pytest.raises(StreamInterruptedError, match="message_stop"):
        await collect(ADAPTER, [body], MODEL)


async def test_in_stream_error_event_is_typed() -> None:
    body = sse(
        *stream_events()[:3],
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
        event_names=True,
        done=False,
    )
    with pytest.raises(RateLimitError) as caught:
        await collect(ADAPTER, [body], MODEL)
    assert (caught.value.status, caught.value.retryable) == (529, True)


async def test_unknown_events_are_ignored_with_a_logged_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    events = stream_events()
    events.insert(1, {"type": "brand_new_event", "x": 1})
    body = sse(*events, event_names=True, done=False)
    with caplog.at_level(logging.WARNING, logger="modelreg.providers.anthropic"):
        response = fold_events(await collect(ADAPTER, [body], MODEL))
    assert response.text == "Let me check."
    assert "brand_new_event" in caplog.text


async def test_invalid_tool_json_in_a_stream_is_recorded() -> None:
    events = [e for e in stream_events() if e.get("delta", {}).get("partial_json") != 'ris"}']
    body = sse(*events, event_names=True, done=False)
    response = fold_events(await collect(ADAPTER, [body], MODEL))
    (call,) = response.tool_calls
    assert call.raw_arguments == '{"city": "Pa'
    assert call.arguments_error is not None
    assert response.warnings


async def test_bad_json_event_is_a_typed_error() -> None:
    body = b"event: message_start\ndata: {oops\n\n"
    with pytest.raises(UnexpectedResponseError, match="stream event"):
        await collect(ADAPTER, [body], MODEL)


# --- errors and the rest ------------------------------------------------------------------


def _error(kind: str, message: str) -> bytes:
    return orjson.dumps(
        {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_011"}
    )


@pytest.mark.parametrize(
    ("status", "kind", "message", "cls"),
    [
        (400, "invalid_request_error", "messages: roles must alternate", BadRequestError),
        (
            400,
            "invalid_request_error",
            "prompt is too long: 210000 tokens > 200000 maximum",
            ContextLengthExceededError,
        ),
        (401, "authentication_error", "invalid x-api-key", AuthenticationError),
        (403, "permission_error", "no access", PermissionDeniedError),
        (404, "not_found_error", "model: claude-x", NotFoundError),
        (413, "request_too_large", "Request exceeds the maximum size", BadRequestError),
        (
            429,
            "rate_limit_error",
            "Number of requests has exceeded your rate limit",
            RateLimitError,
        ),
        (500, "api_error", "Internal server error", ServerError),
        (529, "overloaded_error", "Overloaded", RateLimitError),
    ],
)
def test_map_error(status: int, kind: str, message: str, cls: type[Exception]) -> None:
    error = ADAPTER.map_error(status, {"retry-after": "3"}, _error(kind, message), MODEL)
    assert type(error) is cls
    assert (error.status, error.request_id, error.retry_after) == (status, "req_011", 3.0)
    assert message in error.message


def test_no_embeddings() -> None:
    with pytest.raises(ConfigError):
        ADAPTER.build_embeddings_request(["x"], MODEL)


def test_connection_test() -> None:
    request = ADAPTER.build_connection_test(MODEL)
    assert (request.method, request.url) == ("GET", "https://api.anthropic.test/v1/models?limit=1")
    assert request.headers["x-api-key"] == API_KEY
    assert request.headers["anthropic-version"] == "2023-06-01"
    ADAPTER.check_connection_response(b'{"data":[],"has_more":false}', MODEL)
