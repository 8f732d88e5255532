"""The harness itself: the recording upstream records what it got and replies as scripted,
and the cases the gateway already passes byte for byte stay passed."""

from __future__ import annotations

import openai

from tests.conformance import replies
from tests.conformance.conftest import RegisterModel
from tests.conformance.recording import RecordingUpstream, Reply


def test_openai_sdk_to_openai_upstream_returns_the_upstreams_completion_unchanged(
    openai_sdk: openai.OpenAI, register: RegisterModel, recording: RecordingUpstream
) -> None:
    model = register("openai")
    reply = replies.openai_completion(model="gpt-4.1-2025-04-14")
    recording.expect(Reply.json(reply))
    got = openai_sdk.chat.completions.create(
        model=model["name"], messages=[{"role": "user", "content": "Hello"}], user="u-42"
    )
    assert recording.last.path == "/v1/chat/completions"
    assert recording.last.body["model"] == "upstream-model"
    assert recording.last.body["user"] == "u-42"
    assert got.model_dump(exclude_unset=True) == reply


def test_openai_stream_arrives_event_by_event_with_usage_when_asked(
    openai_sdk: openai.OpenAI, register: RegisterModel, recording: RecordingUpstream
) -> None:
    model = register("openai")
    recording.expect(Reply.sse(replies.openai_stream_events(), delay=0.01))
    stream = openai_sdk.chat.completions.create(
        model=model["name"],
        messages=[{"role": "user", "content": "Hello"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello! How can I help?"
    usage = chunks[-1].usage
    assert usage is not None
    assert usage.prompt_tokens == 19
    assert recording.last.body["stream_options"] == {"include_usage": True}
