"""Ollama native adapter: /api/chat requests, NDJSON streams, errors, embeddings, tags."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from modelreg.errors import (
    NotFoundError,
    ServerError,
    StreamInterruptedError,
    UnexpectedResponseError,
    ValidationFailedError,
)
from modelreg.providers.accumulate import fold_events
from modelreg.providers.ollama import OllamaAdapter
from modelreg.types import (
    ChatRequest,
    FinishEvent,
    ImagePart,
    Message,
    MetaEvent,
    NativeFields,
    ReasoningDelta,
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
from tests.providers._helpers import body_of, collect, make_model, ndjson, split_at

ADAPTER = OllamaAdapter()
MODEL = make_model(
    "ollama", base_url="http://127.0.0.1:11434", model_id="llama3.2", api_key=None, auth_type="none"
)
WEATHER = ToolDefinition("get_weather", "Weather", {"type": "object", "properties": {}})


def test_request_snapshot() -> None:
    req = ChatRequest(
        messages=(
            Message("developer", "Be terse."),
            Message(
                "user",
                (
                    TextPart("What is in this image?"),
                    ImagePart("data:image/png;base64,iVBORw0KGgo"),
                ),
            ),
            Message(
                "assistant",
                "",
                tool_calls=(ToolCall("call_0", "get_weather", {"city": "Toronto"}),),
            ),
            Message("tool", "11 degrees celsius", tool_call_id="call_0"),
        ),
        tools=(WEATHER,),
        tool_choice="required",  # Ollama has none: dropped
        temperature=0.2,
        top_p=0.9,
        max_tokens=512,
        stop=("\n\n",),
        seed=42,
        extra={"top_k": 40, "num_ctx": 8192, "format": "json", "think": False, "keep_alive": "5m"},
    )
    request = ADAPTER.build_request(req, MODEL)
    assert (request.method, request.url) == ("POST", "http://127.0.0.1:11434/api/chat")
    assert request.headers == {"Content-Type": "application/json", "Accept": "application/json"}
    assert body_of(request) == {
        "model": "llama3.2",
        "messages": [
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": "What is in this image?", "images": ["iVBORw0KGgo"]},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {"function": {"name": "get_weather", "arguments": {"city": "Toronto"}}}
                ],
            },
            # the name is found from the assistant's call when the tool message has none
            {
                "role": "tool",
                "content": "11 degrees celsius",
                "tool_name": "get_weather",
                "tool_call_id": "call_0",
            },
        ],
        "stream": False,  # always explicit: the upstream default is true
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "Weather",
                    "parameters": WEATHER.parameters,
                },
            }
        ],
        "format": "json",
        "think": False,
        "keep_alive": "5m",
        "options": {
            "temperature": 0.2,
            "top_p": 0.9,
            "num_predict": 512,
            "stop": ["\n\n"],
            "seed": 42,
            "top_k": 40,
            "num_ctx": 8192,
        },
    }


def test_image_links_are_refused_with_a_clear_reason() -> None:
    req = ChatRequest(messages=(Message("user", (ImagePart("https://img.example/a.png"),)),))
    with pytest.raises(ValidationFailedError, match="base64"):
        ADAPTER.build_request(req, MODEL)


def test_base_url_variants_and_cloud_key() -> None:
    for base in ("http://h:11434/", "http://h:11434/api", "http://h:11434/v1"):
        model = make_model("ollama", base_url=base)
        assert (
            ADAPTER.build_request(ChatRequest(messages=()), model).url == "http://h:11434/api/chat"
        )
    cloud = make_model("ollama", base_url="https://ollama.com")
    headers = ADAPTER.build_request(ChatRequest(messages=()), cloud).headers
    assert headers["Authorization"].startswith("Bearer ")


FINAL = {
    "model": "llama3.2",
    "created_at": "2025-07-07T20:32:53Z",
    "message": {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {"function": {"name": "get_weather", "arguments": {"city": "Tokyo"}}},
            {"id": "call_x", "function": {"index": 1, "name": "get_time", "arguments": {}}},
        ],
    },
    "done": True,
    "done_reason": "stop",
    "total_duration": 3244883583,
    "prompt_eval_count": 169,
    "eval_count": 18,
}


def test_parse_response_tool_calls_made_up_ids_and_stop_means_tool_calls() -> None:
    response = ADAPTER.parse_response(orjson.dumps(FINAL), MODEL)
    assert response.tool_calls == (
        ToolCall("call_0", "get_weather", {"city": "Tokyo"}, '{"city":"Tokyo"}'),
        ToolCall("call_x", "get_time", {}, "{}"),
    )
    assert (response.finish_reason, response.raw_finish_reason) == ("tool_calls", "stop")
    assert response.usage == Usage(169, 18)
    assert response.model == "llama3.2"


def test_parse_response_errors() -> None:
    with pytest.raises(NotFoundError, match="not found"):
        ADAPTER.parse_response(b'{"error":"model \'nope\' not found"}', MODEL)  # (status 200!)
    with pytest.raises(UnexpectedResponseError, match="unfinished"):
        ADAPTER.parse_response(b'{"model":"x","message":{"content":"hi"},"done":false}', MODEL)
    with pytest.raises(UnexpectedResponseError, match="empty"):
        ADAPTER.parse_response(b"", MODEL)


def line(content: str = "", **extra: Any) -> dict[str, Any]:
    return {
        "model": "llama3.2",
        "created_at": "t",
        "done": False,
        "message": {"role": "assistant", "content": content, **extra},
    }


STREAM = ndjson(
    line(thinking="Let me think."),
    line("The sky"),
    line(" is blue."),
    line(tool_calls=[{"function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}]),
    {**line(), "done": True, "done_reason": "stop", "prompt_eval_count": 26, "eval_count": 9},
)


async def test_stream_event_sequence_whatever_the_byte_split() -> None:
    expected = [
        MetaEvent(None, "llama3.2"),
        ReasoningDelta("Let me think."),
        TextDelta("The sky"),
        TextDelta(" is blue."),
        ToolCallStart(0, "call_0", "get_weather"),
        ToolCallDelta(0, '{"city":"Oslo"}'),
        ToolCallEnd(0, ToolCall("call_0", "get_weather", {"city": "Oslo"}, '{"city":"Oslo"}')),
        UsageEvent(Usage(26, 9)),
        FinishEvent("tool_calls", "stop"),
    ]
    assert await collect(ADAPTER, [STREAM], MODEL) == expected
    assert await collect(ADAPTER, split_at(STREAM, range(3, len(STREAM), 7)), MODEL) == expected


async def test_length_finish() -> None:
    body = ndjson(line("a"), {**line(), "done": True, "done_reason": "length", "eval_count": 1})
    response = fold_events(await collect(ADAPTER, [body], MODEL))
    assert (response.finish_reason, response.usage) == ("length", Usage(0, 1))


async def test_mid_stream_error_line_is_typed() -> None:
    body = ndjson(line("partial"), {"error": "an error was encountered while running the model"})
    with pytest.raises(ServerError, match="running the model"):
        await collect(ADAPTER, [body], MODEL)


async def test_stream_without_done_is_interrupted() -> None:
    with pytest.raises(StreamInterruptedError):
        await collect(ADAPTER, [ndjson(line("a"), line("b"))], MODEL)
    with pytest.raises(StreamInterruptedError):
        await collect(ADAPTER, [ndjson(line("a")) + b'{"model":"llama3.2","mess'], MODEL)


async def test_bad_line_is_a_typed_error() -> None:
    with pytest.raises(UnexpectedResponseError):
        await collect(ADAPTER, [ndjson(line("a")) + b"<html>oops</html>\n"], MODEL)
    with pytest.raises(UnexpectedResponseError, match="not an object"):
        await collect(ADAPTER, [b"[1, 2]\n"], MODEL)


def test_map_error() -> None:
    error = ADAPTER.map_error(404, {}, b'{"error":"model \'nope\' not found"}', MODEL)
    assert (type(error), error.status) == (NotFoundError, 404)
    assert "model 'nope' not found" in error.message
    assert type(ADAPTER.map_error(500, {}, b'{"error":"boom"}', MODEL)) is ServerError


def test_embeddings() -> None:
    request = ADAPTER.build_embeddings_request(["a", "b"], MODEL)
    assert (request.url, body_of(request)) == (
        "http://127.0.0.1:11434/api/embed",
        {"model": "llama3.2", "input": ["a", "b"]},
    )
    body = b'{"model":"llama3.2","embeddings":[[0.1,0.2],[0.3,0.4]],"prompt_eval_count":4}'
    response = ADAPTER.parse_embeddings(body, MODEL)
    assert (response.vectors, response.usage.input_tokens) == (((0.1, 0.2), (0.3, 0.4)), 4)
    with pytest.raises(UnexpectedResponseError):
        ADAPTER.parse_embeddings(b'{"embedding":[0.1]}', MODEL)


def test_connection_test_requires_the_model_to_be_pulled() -> None:
    request = ADAPTER.build_connection_test(MODEL)
    assert (request.method, request.url) == ("GET", "http://127.0.0.1:11434/api/tags")
    tags = b'{"models":[{"name":"llama3.2:latest","model":"llama3.2:latest"},{"name":"qwen3:8b"}]}'
    ADAPTER.check_connection_response(tags, MODEL)
    ADAPTER.check_connection_response(tags, make_model("ollama", model_id="qwen3:8b"))
    with pytest.raises(NotFoundError, match="ollama pull"):
        ADAPTER.check_connection_response(tags, make_model("ollama", model_id="mistral"))
    with pytest.raises(UnexpectedResponseError):
        ADAPTER.check_connection_response(b'{"version":"0.5.1"}', MODEL)


def test_reasoning_and_top_k_map_and_other_surfaces_fields_are_refused() -> None:
    req = ChatRequest(messages=(Message("user", "hi"),), reasoning_effort="low", top_k=7)
    body = body_of(ADAPTER.build_request(req, MODEL))
    assert (body["think"], body["options"]["top_k"]) == (True, 7)
    foreign = ChatRequest(
        messages=(Message("user", "hi"),), native=NativeFields("openai", {"store": True})
    )
    with pytest.raises(ValidationFailedError) as caught:
        ADAPTER.build_request(foreign, MODEL)
    assert caught.value.field == "store"
