"""The OpenAI SDK through /v1/chat/completions when the request is translated (issue 16):
toward Claude, and toward an OpenAI upstream through a fallback chain. Each case asserts what
the upstream received and what the SDK got."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.conformance import replies
from tests.conformance.conftest import RegisterModel
from tests.conformance.recording import RecordingUpstream, Reply

TOOL: Any = {"type": "function", "function": {
    "name": "get_weather", "strict": True,
    "parameters": {"type": "object", "properties": {}, "additionalProperties": False}}}  # fmt: skip
HI: Any = [{"role": "user", "content": "Hi"}]


def test_reasoning_effort_user_and_strict_become_claudes_fields_and_usage_comes_back(
    openai_sdk: openai.OpenAI, register: RegisterModel, recording: RecordingUpstream
) -> None:
    model = register("anthropic")
    content = [
        {"type": "thinking", "thinking": replies.THINKING, "signature": replies.SIGNATURE},
        {"type": "text", "text": "Hi! My name is Claude."},
    ]
    usage = replies.anthropic_usage(cache_read=100, cache_write=20)
    recording.expect(Reply.json(replies.anthropic_message(content=content, usage=usage)))
    got = openai_sdk.chat.completions.create(
        model=model["name"], messages=HI, reasoning_effort="low", user="u-7",
        tools=[TOOL], stop=["END"],
    )  # fmt: skip
    sent = recording.last.body
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert sent["max_tokens"] > 1024  # room for the thinking and the answer
    assert sent["metadata"] == {"user_id": "u-7"}
    assert sent["tools"][0]["strict"] is True
    assert sent["stop_sequences"] == ["END"]
    assert got.id == replies.ANTHROPIC_ID
    message = got.choices[0].message
    assert message.content == "Hi! My name is Claude."
    assert message.model_extra is not None
    assert message.model_extra["reasoning_content"] == replies.THINKING
    assert got.usage is not None
    # Anthropic's input_tokens leave the cached parts out; OpenAI's prompt_tokens hold them
    assert got.usage.prompt_tokens == 2095 + 100 + 20
    assert got.usage.prompt_tokens_details is not None
    assert got.usage.prompt_tokens_details.cached_tokens == 100


@pytest.mark.parametrize(
    ("fields", "param"),
    [({"seed": 1}, "seed"), ({"frequency_penalty": 0.5}, "frequency_penalty"),
     ({"service_tier": "flex"}, "service_tier")],
)  # fmt: skip
def test_what_claude_cannot_take_is_a_400_naming_it(
    openai_sdk: openai.OpenAI,
    register: RegisterModel,
    recording: RecordingUpstream,
    fields: dict[str, Any],
    param: str,
) -> None:
    model = register("anthropic")
    with pytest.raises(openai.BadRequestError) as caught:
        openai_sdk.chat.completions.create(model=model["name"], messages=HI, **fields)
    assert param in caught.value.message
    assert recording.calls == []


def test_claude_stream_keeps_reasoning_and_id(
    openai_sdk: openai.OpenAI, register: RegisterModel, recording: RecordingUpstream
) -> None:
    model = register("anthropic")
    recording.expect(Reply.sse(replies.anthropic_stream_events(thinking=True)))
    chunks = list(
        openai_sdk.chat.completions.create(
            model=model["name"], messages=HI, reasoning_effort="medium", stream=True
        )
    )
    assert recording.last.body["thinking"] == {"type": "enabled", "budget_tokens": 8192}
    assert {c.id for c in chunks} == {replies.ANTHROPIC_ID}
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    reasoning = "".join((d.model_extra or {}).get("reasoning_content", "") for d in deltas)
    assert reasoning == replies.THINKING
    assert "".join(d.content or "" for d in deltas) == "Hello!"


def test_a_claude_refusal_is_finish_reason_content_filter(
    openai_sdk: openai.OpenAI, register: RegisterModel, recording: RecordingUpstream
) -> None:
    model = register("anthropic")
    recording.expect(Reply.json(replies.anthropic_message(content=[], stop_reason="refusal")))
    got = openai_sdk.chat.completions.create(model=model["name"], messages=HI)
    assert got.choices[0].finish_reason == "content_filter"


def _openai_with_fallback(register: RegisterModel) -> dict[str, Any]:
    spare = register("anthropic")
    return register("openai", fallback_model_ids=[spare["id"]])


def test_an_openai_refusal_through_a_fallback_chain_is_a_refusal(
    openai_sdk: openai.OpenAI, register: RegisterModel, recording: RecordingUpstream
) -> None:
    model = _openai_with_fallback(register)
    recording.expect(Reply.json(replies.openai_completion(content=None, refusal="I can't.")))
    got = openai_sdk.chat.completions.create(
        model=model["name"], messages=HI, reasoning_effort="high", user="u-1", tools=[TOOL],
        extra_body={"prompt_cache_key": "k-1"},
    )  # fmt: skip
    sent = recording.last.body
    assert (sent["reasoning_effort"], sent["user"]) == ("high", "u-1")
    assert sent["tools"][0]["function"]["strict"] is True
    assert sent["prompt_cache_key"] == "k-1"  # an OpenAI-only field, passed to OpenAI
    message = got.choices[0].message
    assert (message.content, message.refusal) == (None, "I can't.")
    assert got.id == replies.OPENAI_ID


def test_an_openai_refusal_stream_through_a_fallback_chain_is_a_refusal(
    openai_sdk: openai.OpenAI, register: RegisterModel, recording: RecordingUpstream
) -> None:
    model = _openai_with_fallback(register)
    recording.expect(Reply.sse(replies.openai_stream_events(refusal="I can't.")))
    chunks = list(openai_sdk.chat.completions.create(model=model["name"], messages=HI, stream=True))
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert "".join(d.refusal or "" for d in deltas) == "I can't."
    assert "".join(d.content or "" for d in deltas) == ""
