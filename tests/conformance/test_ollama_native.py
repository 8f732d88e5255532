"""Both official SDKs through the gateway toward Ollama's native `/api/chat` and `/api/embed`
(always translated: no client speaks Ollama's format), against the recording upstream whose
replies follow Ollama's API reference. Each case asserts what the upstream received and what
the SDK returned; the rows are the "→ Ollama" columns of the table in docs/providers.md."""

from __future__ import annotations

import base64
import json
from typing import Any

import anthropic
import openai
import pytest

from tests.conformance import replies
from tests.conformance.conftest import RegisterModel
from tests.conformance.recording import RecordingUpstream, Reply

HI: Any = [{"role": "user", "content": "Hi"}]
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n-not-really-an-image").decode()
WEATHER: Any = {
    "type": "object",
    "properties": {"location": {"type": "string"}},
    "required": ["location"],
}
CALL: Any = {"function": {"name": "get_weather", "arguments": {"location": "Paris, FR"}}}


# --- OpenAI SDK → Ollama ----------------------------------------------------------------------


def test_openai_sampling_fields_become_ollama_options_and_the_answer_comes_back(
    openai_sdk: openai.OpenAI, register: RegisterModel, recording: RecordingUpstream
) -> None:
    model = register("ollama")
    recording.expect(Reply.json(replies.ollama_chat(prompt=26, completion=298)))
    schema = {"type": "object", "properties": {"age": {"type": "integer"}}}
    got = openai_sdk.chat.completions.create(
        model=model["name"], messages=[{"role": "system", "content": "Be brief."}, *HI],
        temperature=0.2, top_p=0.9, max_tokens=64, stop=["END"], seed=101, user="u-7",
        response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": schema}},
        reasoning_effort="low",
    )  # fmt: skip
    call = recording.last
    assert (call.method, call.path) == ("POST", "/api/chat")
    sent = call.body
    assert sent["model"] == "upstream-model"
    assert sent["stream"] is False  # Ollama streams unless told not to
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
    ]
    assert sent["options"] == {
        "temperature": 0.2, "top_p": 0.9, "num_predict": 64, "stop": ["END"], "seed": 101,
    }  # fmt: skip
    assert sent["format"] == schema
    assert sent["think"] is True
    assert "user" not in sent  # dropped: Ollama has no such field (docs/providers.md)
    message = got.choices[0].message
    assert message.content == "Hello! How are you today?"
    assert got.choices[0].finish_reason == "stop"
    assert got.usage is not None
    assert (got.usage.prompt_tokens, got.usage.completion_tokens) == (26, 298)
    assert got.id.startswith("chatcmpl-")  # Ollama sends no id: a new one


def test_openai_stream_from_ollama_ndjson_keeps_thinking_text_and_usage(
    openai_sdk: openai.OpenAI, register: RegisterModel, recording: RecordingUpstream
) -> None:
    model = register("ollama")
    lines = replies.ollama_stream_lines(thinking=("Rayleigh", " scattering"), completion=282)
    recording.expect(Reply.ndjson(lines, delay=0.01))
    chunks = list(
        openai_sdk.chat.completions.create(
            model=model["name"], messages=HI, stream=True, reasoning_effort="medium",
            stream_options={"include_usage": True},
        )
    )  # fmt: skip
    assert recording.last.body["stream"] is True
    assert recording.last.body["think"] is True
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    reasoning = "".join((d.model_extra or {}).get("reasoning_content") or "" for d in deltas)
    assert reasoning == "Rayleigh scattering"
    assert "".join(d.content or "" for d in deltas) == "The sky is blue."
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop"
    usage = [c.usage for c in chunks if c.usage is not None]
    assert len(usage) == 1
    assert (usage[0].prompt_tokens, usage[0].completion_tokens) == (26, 282)
    assert len({c.id for c in chunks}) == 1


def test_openai_tools_go_as_ollama_tools_and_a_whole_call_comes_back_as_a_tool_call(
    openai_sdk: openai.OpenAI, register: RegisterModel, recording: RecordingUpstream
) -> None:
    model = register("ollama")
    recording.expect(Reply.json(replies.ollama_chat(content="", tool_calls=[CALL])))
    tool: Any = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather",
            "parameters": WEATHER,
            "strict": True,
        },
    }
    got = openai_sdk.chat.completions.create(model=model["name"], messages=HI, tools=[tool])
    sent_tool = recording.last.body["tools"][0]
    assert sent_tool == {"type": "function", "function": {
        "name": "get_weather", "description": "Weather", "parameters": WEATHER}}  # fmt: skip
    choice = got.choices[0]
    assert choice.finish_reason == "tool_calls"  # Ollama says "stop" even when it called
    calls = choice.message.tool_calls
    assert calls is not None
    assert len(calls) == 1
    call = calls[0]
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"location": "Paris, FR"}
    assert call.id  # made up: Ollama sends none, and the SDK's next turn needs one


def test_openai_tool_history_reaches_ollama_with_tool_names_and_object_arguments(
    openai_sdk: openai.OpenAI, register: RegisterModel, recording: RecordingUpstream
) -> None:
    model = register("ollama")
    history: Any = [
        *HI,
        {"role": "assistant", "content": None, "tool_calls": [{
            "id": "call_0", "type": "function",
            "function": {"name": "get_weather", "arguments": '{"location": "Paris, FR"}'}}]},
        {"role": "tool", "tool_call_id": "call_0", "content": "22 C"},
    ]  # fmt: skip
    openai_sdk.chat.completions.create(model=model["name"], messages=history)
    sent = recording.last.body["messages"]
    assert sent[1]["tool_calls"] == [CALL]
    assert sent[2] == {
        "role": "tool", "content": "22 C", "tool_name": "get_weather", "tool_call_id": "call_0",
    }  # fmt: skip


def test_an_openai_image_becomes_raw_base64_and_a_link_is_refused_before_any_call(
    openai_sdk: openai.OpenAI, register: RegisterModel, recording: RecordingUpstream
) -> None:
    model = register("ollama")
    parts: Any = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
    ]
    openai_sdk.chat.completions.create(
        model=model["name"], messages=[{"role": "user", "content": parts}]
    )  # fmt: skip
    sent = recording.last.body["messages"][0]
    assert sent == {"role": "user", "content": "What is this?", "images": [PNG]}
    calls = len(recording.calls)
    link: Any = [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]
    with pytest.raises(openai.BadRequestError) as caught:
        openai_sdk.chat.completions.create(
            model=model["name"], messages=[{"role": "user", "content": link}]
        )
    assert "data: URL" in caught.value.message
    assert len(recording.calls) == calls


@pytest.mark.parametrize(
    ("fields", "param"),
    [({"service_tier": "flex"}, "service_tier"), ({"n": 2}, "n"),
     ({"logprobs": True}, "logprobs"), ({"frequency_penalty": 0.5}, "frequency_penalty")],
)  # fmt: skip
def test_what_ollama_cannot_take_is_a_400_naming_it(
    openai_sdk: openai.OpenAI,
    register: RegisterModel,
    recording: RecordingUpstream,
    fields: dict[str, Any],
    param: str,
) -> None:
    model = register("ollama")
    with pytest.raises(openai.BadRequestError) as caught:
        openai_sdk.chat.completions.create(model=model["name"], messages=HI, **fields)
    assert param in caught.value.message
    assert recording.calls == []


def test_an_ollama_404_is_our_upstreams_problem_a_502_with_ollamas_words(
    openai_sdk: openai.OpenAI, register: RegisterModel, recording: RecordingUpstream
) -> None:
    model = register("ollama")
    words = 'model "upstream-model" not found, try pulling it first'
    recording.expect(Reply.json(replies.ollama_error(words), status=404))
    # a model the upstream lacks is the operator's problem, not the caller's (gateway/errors.py)
    with pytest.raises(openai.InternalServerError) as caught:
        openai_sdk.chat.completions.create(model=model["name"], messages=HI)
    assert caught.value.status_code == 502
    assert words in caught.value.message


def test_an_error_line_mid_stream_ends_the_openai_stream_with_an_error(
    openai_sdk: openai.OpenAI, register: RegisterModel, recording: RecordingUpstream
) -> None:
    model = register("ollama")
    lines = replies.ollama_stream_lines(error="an error was encountered while running the model")
    recording.expect(Reply.ndjson(lines))
    stream = openai_sdk.chat.completions.create(model=model["name"], messages=HI, stream=True)
    texts: list[str] = []

    def read_all() -> None:
        texts.extend(c.delta.content or "" for chunk in stream for c in chunk.choices)

    with pytest.raises(openai.APIError) as caught:
        read_all()
    assert "".join(texts) == "The"  # what came before the error arrived first, unbuffered
    assert "an error was encountered while running the model" in str(caught.value)


def test_openai_embeddings_go_to_ollamas_embed_and_come_back_as_openai_vectors(
    openai_sdk: openai.OpenAI, register: RegisterModel, recording: RecordingUpstream
) -> None:
    model = register("ollama")
    got = openai_sdk.embeddings.create(
        model=model["name"], input=["a", "b"], encoding_format="float"
    )
    call = recording.last
    assert (call.path, call.body["input"]) == ("/api/embed", ["a", "b"])
    assert [d.embedding for d in got.data] == [[0.010071029, -0.0017594862, 0.05007221]] * 2
    assert [d.index for d in got.data] == [0, 1]
    assert got.usage.prompt_tokens == 8
    # the SDK's default asks for base64 (little-endian float32), which it decodes itself
    packed = openai_sdk.embeddings.create(model=model["name"], input="a")
    assert packed.data[0].embedding == pytest.approx([0.010071029, -0.0017594862, 0.05007221])


# --- Anthropic SDK → Ollama -------------------------------------------------------------------


def test_anthropic_request_becomes_ollama_chat_and_the_message_comes_back(
    anthropic_sdk: anthropic.Anthropic, register: RegisterModel, recording: RecordingUpstream
) -> None:
    model = register("ollama")
    recording.expect(Reply.json(replies.ollama_chat(thinking="Short.", prompt=30, completion=9)))
    got = anthropic_sdk.messages.create(
        model=model["name"], max_tokens=100, messages=HI, stop_sequences=["END"],
        extra_body={"top_k": 40},
        system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        thinking={"type": "enabled", "budget_tokens": 1024}, metadata={"user_id": "u-1"},
    )  # fmt: skip
    sent = recording.last.body
    assert recording.last.path == "/api/chat"
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
    ]
    assert sent["options"] == {"num_predict": 100, "stop": ["END"], "top_k": 40}
    assert sent["think"] is True
    assert "metadata" not in sent
    assert "user" not in sent
    assert [b.type for b in got.content] == ["thinking", "text"]
    thinking, text = got.content
    assert isinstance(thinking, anthropic.types.ThinkingBlock)
    assert thinking.thinking == "Short."
    assert isinstance(text, anthropic.types.TextBlock)
    assert text.text == "Hello! How are you today?"
    assert got.stop_reason == "end_turn"
    assert (got.usage.input_tokens, got.usage.output_tokens) == (30, 9)
    assert got.id.startswith("msg_")


def test_anthropic_stream_from_ollama_ndjson_is_a_well_formed_event_stream(
    anthropic_sdk: anthropic.Anthropic, register: RegisterModel, recording: RecordingUpstream
) -> None:
    model = register("ollama")
    recording.expect(Reply.ndjson(replies.ollama_stream_lines(completion=282), delay=0.01))
    with anthropic_sdk.messages.stream(model=model["name"], max_tokens=100, messages=HI) as s:
        kinds = [event.type for event in s]
        final = s.get_final_message()
    assert recording.last.body["stream"] is True
    assert kinds[0] == "message_start"
    assert kinds[-1] == "message_stop"
    assert "content_block_delta" in kinds
    assert [b.type for b in final.content] == ["text"]
    assert "".join(b.text for b in final.content if b.type == "text") == "The sky is blue."
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 282


def test_anthropic_tool_use_round_trip_through_ollama(
    anthropic_sdk: anthropic.Anthropic, register: RegisterModel, recording: RecordingUpstream
) -> None:
    model = register("ollama")
    recording.expect(Reply.json(replies.ollama_chat(content="", tool_calls=[CALL])))
    tool: Any = {"name": "get_weather", "description": "Weather", "input_schema": WEATHER}
    got = anthropic_sdk.messages.create(
        model=model["name"], max_tokens=100, messages=HI, tools=[tool]
    )
    assert recording.last.body["tools"] == [{"type": "function", "function": {
        "name": "get_weather", "description": "Weather", "parameters": WEATHER}}]  # fmt: skip
    assert got.stop_reason == "tool_use"
    (use,) = [b for b in got.content if b.type == "tool_use"]
    assert isinstance(use, anthropic.types.ToolUseBlock)
    assert (use.name, use.input) == ("get_weather", {"location": "Paris, FR"})
    assert use.id
    image: Any = {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                              "data": PNG}}  # fmt: skip
    history: Any = [
        *HI,
        {"role": "assistant", "content": [use.model_dump()]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id,
                                      "content": [{"type": "text", "text": "22 C"}, image]}]},
    ]  # fmt: skip
    anthropic_sdk.messages.create(model=model["name"], max_tokens=100, messages=history)
    sent = recording.last.body["messages"]
    assert sent[1]["tool_calls"] == [CALL]
    assert sent[2]["role"] == "tool"
    assert sent[2]["content"] == "22 C"
    assert sent[2]["tool_name"] == "get_weather"
    assert sent[2]["images"] == [PNG]  # "images on the tool message" (docs/providers.md)


@pytest.mark.parametrize(
    ("fields", "param"),
    [({"service_tier": "standard_only"}, "service_tier"),
     ({"extra_body": {"container": "c-1"}}, "container")],
)  # fmt: skip
def test_what_ollama_cannot_take_from_the_anthropic_surface_is_a_400_naming_it(
    anthropic_sdk: anthropic.Anthropic,
    register: RegisterModel,
    recording: RecordingUpstream,
    fields: dict[str, Any],
    param: str,
) -> None:
    model = register("ollama")
    with pytest.raises(anthropic.BadRequestError) as caught:
        anthropic_sdk.messages.create(model=model["name"], max_tokens=10, messages=HI, **fields)
    assert param in caught.value.message
    assert recording.calls == []


def test_an_ollama_404_is_a_502_api_error_with_ollamas_words_on_the_anthropic_surface(
    anthropic_sdk: anthropic.Anthropic, register: RegisterModel, recording: RecordingUpstream
) -> None:
    model = register("ollama")
    words = 'model "upstream-model" not found, try pulling it first'
    recording.expect(Reply.json(replies.ollama_error(words), status=404))
    with pytest.raises(anthropic.InternalServerError) as caught:
        anthropic_sdk.messages.create(model=model["name"], max_tokens=10, messages=HI)
    assert caught.value.status_code == 502
    assert words in caught.value.message


def test_an_unknown_field_in_a_content_block_is_refused_and_a_beta_header_ignored(
    anthropic_sdk: anthropic.Anthropic, register: RegisterModel, recording: RecordingUpstream
) -> None:
    model = register("ollama")
    block: Any = {"type": "text", "text": "Hi", "citations": [{"type": "char_location"}]}
    with pytest.raises(anthropic.BadRequestError) as caught:
        anthropic_sdk.messages.create(
            model=model["name"], max_tokens=10, messages=[{"role": "user", "content": [block]}]
        )
    assert "citations" in caught.value.message
    assert recording.calls == []
    got = anthropic_sdk.messages.create(
        model=model["name"], max_tokens=10, messages=HI,
        extra_headers={"anthropic-beta": "interleaved-thinking-2025-05-14"},
    )  # fmt: skip
    assert "anthropic-beta" not in recording.last.headers
    assert got.content[0].type == "text"


def test_an_error_line_mid_stream_is_an_anthropic_error_event_after_the_text_so_far(
    anthropic_sdk: anthropic.Anthropic, register: RegisterModel, recording: RecordingUpstream
) -> None:
    model = register("ollama")
    lines = replies.ollama_stream_lines(error="an error was encountered while running the model")
    recording.expect(Reply.ndjson(lines))
    texts: list[str] = []
    with (
        pytest.raises(anthropic.APIStatusError) as caught,
        anthropic_sdk.messages.stream(model=model["name"], max_tokens=10, messages=HI) as stream,
    ):
        texts.extend(stream.text_stream)
    assert "".join(texts) == "The"
    assert "an error was encountered while running the model" in str(caught.value)
