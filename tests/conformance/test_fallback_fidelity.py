"""A model with a fallback chain keeps OpenAI's features when its members speak OpenAI's format
(issue 16, item 4): each member is tried through the pass-through, so what the caller sent
reaches the member that serves and what it answers comes back unchanged, booked to it. Only
a member of another family is translated to."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.conformance import replies
from tests.conformance.conftest import RegisterModel
from tests.conformance.recording import RecordingUpstream, Reply
from tests.fixtures.server import LiveServer
from tests.gateway.helpers import usage_events

OUT_OF_CREDIT = Reply.json(
    replies.openai_error("You exceeded your current quota.", "insufficient_quota",
                         "insufficient_quota"), 429,
)  # fmt: skip
TOOLS: Any = [{
    "type": "function",
    "function": {
        "name": "get_weather", "description": "Weather of a city", "strict": True,
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"], "additionalProperties": False},
    },
}]  # fmt: skip


def _chain(register: RegisterModel, backup_provider: str = "openai") -> tuple[dict[str, Any], ...]:
    prices = {"price_per_input_token": "0.00001", "price_per_output_token": "0.00002"}
    backup = register(backup_provider, model_id="backup-upstream", **prices)
    primary = register("openai", model_id="primary-upstream", fallback_model_ids=[backup["id"]])
    return primary, backup


def test_a_fallback_to_an_openai_member_passes_every_field_both_ways_and_books_the_member(
    live_server: LiveServer,
    openai_sdk: openai.OpenAI,
    register: RegisterModel,
    recording: RecordingUpstream,
) -> None:
    primary, backup = _chain(register)
    citation = {"start_index": 0, "end_index": 5, "url": "https://example.com", "title": "Ex"}
    annotations = [{"type": "url_citation", "url_citation": citation}]
    reply = replies.openai_completion(
        content=None, refusal="I can't help with that.", annotations=annotations,
        usage=replies.openai_usage(prompt=30, completion=7, cached=12, reasoning=4),
    )  # fmt: skip
    recording.expect(OUT_OF_CREDIT, Reply.json(reply))
    got = openai_sdk.chat.completions.create(
        model=primary["name"], messages=[{"role": "user", "content": "Hello"}],
        reasoning_effort="low", user="u-42", metadata={"team": "search"}, tools=TOOLS,
        store=True,
    )  # fmt: skip
    first, second = recording.calls
    assert first.body["model"] == "primary-upstream"
    sent = second.body
    assert sent["model"] == "backup-upstream"
    assert sent["reasoning_effort"] == "low"
    assert sent["user"] == "u-42"
    assert sent["metadata"] == {"team": "search"}
    assert sent["store"] is True
    assert sent["tools"] == TOOLS
    assert got.model_dump(exclude_unset=True) == reply  # id, fingerprint, refusal, usage details
    events = usage_events(live_server, backup["id"])
    assert [(e.input_tokens, e.output_tokens, e.cached_tokens) for e in events] == [(30, 7, 12)]


def test_a_streamed_fallback_relays_the_members_events_unchanged(
    openai_sdk: openai.OpenAI, register: RegisterModel, recording: RecordingUpstream
) -> None:
    primary, _ = _chain(register)
    events = replies.openai_stream_events(refusal="I can't help with that.")
    recording.expect(OUT_OF_CREDIT, Reply.sse(events, delay=0.01))
    chunks = list(openai_sdk.chat.completions.create(
        model=primary["name"], messages=[{"role": "user", "content": "Hello"}], stream=True,
        stream_options={"include_usage": True}, user="u-42",
    ))  # fmt: skip
    assert recording.last.body["user"] == "u-42"
    assert {c.id for c in chunks} == {replies.OPENAI_ID}
    assert {c.system_fingerprint for c in chunks} == {replies.FINGERPRINT}
    refusal = "".join(c.choices[0].delta.refusal or "" for c in chunks if c.choices)
    assert refusal == "I can't help with that."
    usage = chunks[-1].usage
    assert usage is not None
    assert usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 0


def test_an_invalid_request_is_not_tried_on_the_next_member_and_keeps_its_param(
    openai_sdk: openai.OpenAI, register: RegisterModel, recording: RecordingUpstream
) -> None:
    primary, _ = _chain(register)
    refused = replies.openai_error("Invalid value: 'x'.", "invalid_request_error",
                                   "invalid_value", "reasoning_effort")  # fmt: skip
    recording.expect(Reply.json(refused, 400))
    with pytest.raises(openai.BadRequestError) as caught:
        openai_sdk.chat.completions.create(
            model=primary["name"], messages=[{"role": "user", "content": "Hello"}],
            extra_body={"reasoning_effort": "x"},
        )  # fmt: skip
    assert caught.value.param == "reasoning_effort"
    assert len(recording.calls) == 1


def test_a_member_of_another_family_is_translated_to_only_when_it_serves(
    live_server: LiveServer,
    openai_sdk: openai.OpenAI,
    register: RegisterModel,
    recording: RecordingUpstream,
) -> None:
    primary, backup = _chain(register, backup_provider="anthropic")
    # the OpenAI member serves: forwarded as is, n=2 and all
    recording.expect(Reply.json(replies.openai_completion()))
    first = openai_sdk.chat.completions.create(
        model=primary["name"], messages=[{"role": "user", "content": "Hi"}], n=2, seed=7
    )
    assert recording.last.path == "/v1/chat/completions"
    assert recording.last.body["n"] == 2
    assert first.id == replies.OPENAI_ID
    # it is out of credit: Claude answers, translated
    recording.expect(OUT_OF_CREDIT)
    second = openai_sdk.chat.completions.create(
        model=primary["name"], messages=[{"role": "user", "content": "Hi"}]
    )
    assert recording.last.path == "/v1/messages"
    assert recording.last.body["model"] == "backup-upstream"
    assert second.choices[0].message.content == "Hi! My name is Claude."
    assert usage_events(live_server, backup["id"])
