"""The Anthropic SDK through /v1/messages when the request is translated (issue 16): toward an
OpenAI-compatible upstream, and toward Anthropic itself through a fallback chain (which stays
on the translated path). Each case asserts what the upstream received and what the SDK got."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from tests.conformance import replies
from tests.conformance.conftest import RegisterModel
from tests.conformance.recording import RecordingUpstream, Reply

PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQ"
    + "AAAABJRU5ErkJggg=="
)
CACHE = {"type": "ephemeral"}
TOOL = {"name": "screenshot", "description": "Take a screenshot",
        "input_schema": {"type": "object", "properties": {}}}  # fmt: skip


def _openai_reasoning_completion(**fields: Any) -> dict[str, Any]:
    reply = replies.openai_completion(usage=replies.openai_usage(prompt=19, cached=5), **fields)
    reply["choices"][0]["message"]["reasoning_content"] = "First, think."
    return reply


def test_fields_reach_an_openai_upstream_and_the_answer_keeps_thinking_id_and_cache_usage(
    anthropic_sdk: anthropic.Anthropic, register: RegisterModel, recording: RecordingUpstream
) -> None:
    model = register("openai")
    recording.expect(Reply.json(_openai_reasoning_completion()))
    got = anthropic_sdk.messages.create(
        model=model["name"], max_tokens=2048,
        system=[{"type": "text", "text": "Be terse."},
                {"type": "text", "text": "Long context.", "cache_control": CACHE}],
        messages=[{"role": "user", "content": "Hello"}],
        thinking={"type": "enabled", "budget_tokens": 1024},
        metadata={"user_id": "u-42"}, stop_sequences=["END"],
        tools=[{**TOOL, "cache_control": CACHE}],
    )  # fmt: skip
    sent = recording.last.body
    assert sent["messages"][0] == {"role": "system", "content": "Be terse.\n\nLong context."}
    assert (sent["reasoning_effort"], sent["user"], sent["stop"]) == ("low", "u-42", ["END"])
    assert sent["tools"][0]["function"]["name"] == "screenshot"
    assert got.id == replies.OPENAI_ID  # the upstream's id, not a new one
    thinking, text = got.content
    assert (thinking.type, thinking.thinking) == ("thinking", "First, think.")
    assert (text.type, text.text) == ("text", "Hello! How can I assist you today?")
    # OpenAI's prompt_tokens include the cached ones; Anthropic's input_tokens do not
    assert (got.usage.input_tokens, got.usage.cache_read_input_tokens) == (14, 5)


@pytest.mark.parametrize(
    ("fields", "param"),
    [({"extra_body": {"top_k": 5}}, "top_k"), ({"extra_body": {"container": "c-1"}}, "container")],
)
def test_what_an_openai_upstream_cannot_take_is_a_400_naming_it(
    anthropic_sdk: anthropic.Anthropic,
    register: RegisterModel,
    recording: RecordingUpstream,
    fields: dict[str, Any],
    param: str,
) -> None:
    model = register("openai")
    with pytest.raises(anthropic.BadRequestError) as caught:
        anthropic_sdk.messages.create(
            model=model["name"], max_tokens=64,
            messages=[{"role": "user", "content": "Hello"}], **fields,
        )  # fmt: skip
    assert param in caught.value.message
    assert recording.calls == []


def test_images_in_a_tool_result_follow_as_a_user_message_toward_openai(
    anthropic_sdk: anthropic.Anthropic, register: RegisterModel, recording: RecordingUpstream
) -> None:
    model = register("openai")
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    anthropic_sdk.messages.create(
        model=model["name"], max_tokens=64, tools=[TOOL],
        messages=[
            {"role": "user", "content": "What is on screen?"},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "toolu_1", "name": "screenshot", "input": {}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1",
                 "content": [{"type": "text", "text": "the screen"}, image]}]},
        ],
    )  # fmt: skip
    tool, follow_up = recording.last.body["messages"][2:]
    assert tool == {"role": "tool", "tool_call_id": "toolu_1", "content": "the screen"}
    assert follow_up["role"] == "user"
    assert follow_up["content"][1] == {
        "type": "image_url",
        "image_url": {"url": f"data:image/png;base64,{PNG}"},
    }


def test_an_openai_refusal_is_stop_reason_refusal(
    anthropic_sdk: anthropic.Anthropic, register: RegisterModel, recording: RecordingUpstream
) -> None:
    model = register("openai")
    recording.expect(Reply.json(replies.openai_completion(content=None, refusal="I can't.")))
    got = anthropic_sdk.messages.create(
        model=model["name"], max_tokens=64, messages=[{"role": "user", "content": "Hi"}]
    )
    assert got.stop_reason == "refusal"
    assert [b.text for b in got.content if b.type == "text"] == ["I can't."]


def test_an_openai_stream_keeps_reasoning_and_id(
    anthropic_sdk: anthropic.Anthropic, register: RegisterModel, recording: RecordingUpstream
) -> None:
    model = register("openai")
    events = replies.openai_stream_events()
    events.insert(1, replies.sse(replies._chunk(
        "gpt-4.1", {"reasoning_content": "Think."}, None)))  # fmt: skip
    recording.expect(Reply.sse(events))
    with anthropic_sdk.messages.stream(
        model=model["name"], max_tokens=2048, messages=[{"role": "user", "content": "Hi"}],
        thinking={"type": "enabled", "budget_tokens": 20000},
    ) as stream:  # fmt: skip
        kinds = [e.type for e in stream]
        final = stream.get_final_message()
    assert recording.last.body["reasoning_effort"] == "high"
    assert final.id == replies.OPENAI_ID
    assert (final.content[0].type, final.content[0].thinking) == ("thinking", "Think.")
    assert final.content[1].text == "Hello! How can I help?"
    assert "thinking" in kinds  # the SDK's event for thinking_delta


def _claude_with_fallback(register: RegisterModel) -> dict[str, Any]:
    spare = register("openai")
    return register("anthropic", fallback_model_ids=[spare["id"]])


def test_claude_with_a_fallback_chain_keeps_cache_control_thinking_betas_and_history(
    anthropic_sdk: anthropic.Anthropic, register: RegisterModel, recording: RecordingUpstream
) -> None:
    model = _claude_with_fallback(register)
    content = [
        {"type": "thinking", "thinking": replies.THINKING, "signature": replies.SIGNATURE},
        {"type": "text", "text": "Hi! My name is Claude."},
    ]
    usage = replies.anthropic_usage(cache_read=100, cache_write=20)
    recording.expect(Reply.json(replies.anthropic_message(content=content, usage=usage)))
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    history_thinking = {"type": "thinking", "thinking": "t", "signature": "sig"}
    system = [{"type": "text", "text": "Be terse."},
              {"type": "text", "text": "Long.", "cache_control": CACHE}]  # fmt: skip
    got = anthropic_sdk.beta.messages.create(
        model=model["name"], max_tokens=4096, system=system,
        thinking={"type": "enabled", "budget_tokens": 2048}, metadata={"user_id": "u-9"},
        tools=[{**TOOL, "cache_control": CACHE}], extra_body={"top_k": 5},
        betas=["context-1m-2025-08-07"],
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "Look", "cache_control": CACHE}]},
            {"role": "assistant", "content": [history_thinking,
                {"type": "tool_use", "id": "toolu_1", "name": "screenshot", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                                          "is_error": True, "content": [image]}]},
        ],
    )  # fmt: skip
    call = recording.last
    assert call.body["system"] == system
    assert call.body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert (call.body["metadata"], call.body["top_k"]) == ({"user_id": "u-9"}, 5)
    assert call.body["tools"][0]["cache_control"] == CACHE
    assert "context-1m-2025-08-07" in call.headers["anthropic-beta"]
    user, assistant, results = call.body["messages"]
    assert user["content"] == [{"type": "text", "text": "Look", "cache_control": CACHE}]
    assert assistant["content"][0] == history_thinking
    assert results["content"][0] == {"type": "tool_result", "tool_use_id": "toolu_1",
                                     "content": [image], "is_error": True}  # fmt: skip
    assert got.id == replies.ANTHROPIC_ID
    assert got.content[0].type == "thinking"
    assert got.content[0].signature == replies.SIGNATURE
    assert (got.usage.cache_read_input_tokens, got.usage.cache_creation_input_tokens) == (100, 20)
    assert got.usage.input_tokens == 2095


def test_claude_stream_through_a_fallback_chain_keeps_thinking_signature_and_start_usage(
    anthropic_sdk: anthropic.Anthropic, register: RegisterModel, recording: RecordingUpstream
) -> None:
    model = _claude_with_fallback(register)
    recording.expect(Reply.sse(replies.anthropic_stream_events(thinking=True)))
    with anthropic_sdk.messages.stream(
        model=model["name"], max_tokens=4096, messages=[{"role": "user", "content": "Hi"}],
        thinking={"type": "enabled", "budget_tokens": 2048},
    ) as stream:  # fmt: skip
        events = list(stream)
        final = stream.get_final_message()
    start = events[0]
    assert start.type == "message_start"
    assert start.message.id == replies.ANTHROPIC_ID
    assert start.message.usage.input_tokens == 25  # the prompt's, as the upstream said
    kinds = {e.type for e in events}
    assert {"thinking", "signature"} <= kinds
    assert final.content[0].type == "thinking"
    assert final.content[0].signature == replies.SIGNATURE
    assert final.content[1].text == "Hello!"


def test_an_upstream_overloaded_error_mid_stream_stays_overloaded(
    anthropic_sdk: anthropic.Anthropic, register: RegisterModel, recording: RecordingUpstream
) -> None:
    model = _claude_with_fallback(register)
    error = {"type": "overloaded_error", "message": "Overloaded"}
    recording.expect(Reply.sse(replies.anthropic_stream_events(error=error)))
    with (
        pytest.raises(anthropic.APIStatusError) as caught,
        anthropic_sdk.messages.stream(
            model=model["name"], max_tokens=64, messages=[{"role": "user", "content": "Hi"}]
        ) as stream,
    ):
        list(stream)
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["error"]["type"] == "overloaded_error"
