"""The Anthropic SDK through the Anthropic-native pass-through: a `/v1/messages` request to a
model whose upstream is Anthropic reaches the upstream as the SDK sent it (only `model`
changed), with the headers the API defines, and the upstream's answer comes back unchanged —
prompt caching, extended thinking, betas, metadata, images in tool results, ids, usage — and
is booked with the cache tokens priced as Anthropic prices them."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import anthropic
import pytest

from tests.conformance import replies
from tests.conformance.conftest import RegisterModel
from tests.conformance.recording import RecordingUpstream, Reply
from tests.fixtures.server import LiveServer
from tests.gateway.helpers import usage_events

IN, OUT = Decimal("0.000003"), Decimal("0.000015")  # the `register` fixture's prices

HI = [{"role": "user", "content": "Hello"}]
SYSTEM = [
    {"type": "text", "text": "You are a coding agent."},
    {
        "type": "text",
        "text": "A long, stable preamble. " * 50,
        "cache_control": {"type": "ephemeral"},
    },
]
TOOLS = [
    {
        "name": "read_file",
        "description": "Read a file",
        "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}},
    },
    {
        "name": "bash",
        "description": "Run a command",
        "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}},
        "cache_control": {"type": "ephemeral"},
    },
]
PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg"
)
IMAGE = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
BASH = {"type": "tool_use", "id": "toolu_01", "name": "bash", "input": {"command": "echo 42"}}
THINKING_REPLY = [
    {"type": "thinking", "thinking": replies.THINKING, "signature": replies.SIGNATURE},
    {"type": "text", "text": "The answer is 42."},
]


def sent_unchanged(sent: dict[str, Any], received: dict[str, Any]) -> None:
    """The upstream got every field the SDK sent, as sent, with only `model` replaced."""
    assert received["model"] == "upstream-model"
    assert {k: v for k, v in received.items() if k != "model"} == {
        k: v for k, v in sent.items() if k != "model"
    }


def test_system_blocks_and_cache_control_reach_the_upstream_unchanged(
    anthropic_sdk: anthropic.Anthropic,
    register: RegisterModel,
    recording: RecordingUpstream,
    user: str,
) -> None:
    key = "sk-ant-conformance-" + uuid.uuid4().hex
    model = register("anthropic", api_key=key)
    messages: list[Any] = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Read main.py", "cache_control": {"type": "ephemeral"}}
            ],
        }
    ]
    reply = replies.anthropic_message(model="claude-sonnet-4-5-20250929")
    recording.expect(Reply.json(reply))
    got = anthropic_sdk.messages.create(
        model=model["name"], max_tokens=1024, system=SYSTEM, messages=messages, tools=TOOLS
    )
    call = recording.last
    assert call.path == "/v1/messages"
    sent_unchanged(
        {"max_tokens": 1024, "system": SYSTEM, "messages": messages, "tools": TOOLS}, call.body
    )
    assert got.model_dump(exclude_unset=True) == reply  # the id and model included
    # our token never goes upstream; the model's key does
    assert call.headers["x-api-key"] == key
    assert "authorization" not in call.headers
    assert user not in str(call.headers)


def test_the_callers_token_is_replaced_by_the_models_key(
    anthropic_sdk: anthropic.Anthropic,
    register: RegisterModel,
    recording: RecordingUpstream,
    user: str,
) -> None:
    key = "sk-ant-conformance-" + uuid.uuid4().hex
    model = register("anthropic", api_key=key)
    anthropic_sdk.messages.create(model=model["name"], max_tokens=5, messages=HI)  # type: ignore[arg-type]
    headers = recording.last.headers
    assert headers["x-api-key"] == key
    assert "authorization" not in headers
    assert user not in str(headers)
    assert headers["anthropic-version"] == anthropic_sdk.default_headers["anthropic-version"]


def test_thinking_request_and_reply_blocks_pass_both_ways(
    anthropic_sdk: anthropic.Anthropic, register: RegisterModel, recording: RecordingUpstream
) -> None:
    model = register("anthropic")
    history: list[Any] = [
        {"role": "user", "content": "What is 6 x 7?"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "six sevens", "signature": "c2lnbmF0dXJl"},
                {"type": "redacted_thinking", "data": "RW5jcnlwdGVk"},
                BASH,
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": "42"}],
        },
    ]  # fmt: skip
    thinking = {"type": "enabled", "budget_tokens": 1024}
    reply = replies.anthropic_message(content=THINKING_REPLY)
    recording.expect(Reply.json(reply))
    got = anthropic_sdk.messages.create(
        model=model["name"],
        max_tokens=2048,
        thinking=thinking,
        messages=history,
        tools=TOOLS,  # type: ignore[arg-type]
    )
    sent_unchanged(
        {"max_tokens": 2048, "thinking": thinking, "messages": history, "tools": TOOLS},
        recording.last.body,
    )
    block = got.content[0]
    assert block.type == "thinking"
    assert (block.thinking, block.signature) == (replies.THINKING, replies.SIGNATURE)


def test_thinking_and_signature_deltas_arrive_in_the_stream(
    anthropic_sdk: anthropic.Anthropic, register: RegisterModel, recording: RecordingUpstream
) -> None:
    model = register("anthropic")
    recording.expect(Reply.sse(replies.anthropic_stream_events(thinking=True), delay=0.005))
    events = list(
        anthropic_sdk.messages.create(
            model=model["name"],
            max_tokens=2048,
            thinking={"type": "enabled", "budget_tokens": 1024},
            messages=HI,  # type: ignore[arg-type]
            stream=True,
        )
    )
    deltas = [e.delta for e in events if e.type == "content_block_delta"]
    assert [d.type for d in deltas] == [
        "thinking_delta",
        "signature_delta",
        "text_delta",
        "text_delta",
    ]
    assert deltas[0].thinking == replies.THINKING  # type: ignore[union-attr]
    assert deltas[1].signature == replies.SIGNATURE  # type: ignore[union-attr]
    start = events[0]
    assert start.type == "message_start"
    assert start.message.id == replies.ANTHROPIC_ID
    assert start.message.usage.input_tokens == 25  # the upstream's, not 0
    assert recording.last.body["thinking"] == {"type": "enabled", "budget_tokens": 1024}


def test_fields_we_do_not_translate_pass_as_sent(
    anthropic_sdk: anthropic.Anthropic, register: RegisterModel, recording: RecordingUpstream
) -> None:
    model = register("anthropic")
    messages: list[Any] = [
        {"role": "user", "content": "Take a screenshot"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_02", "name": "screenshot", "input": {}}],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_02",
                    "content": [
                        {"type": "text", "text": "the screen:"},
                        IMAGE,
                    ],
                }
            ],
        },
    ]  # fmt: skip
    anthropic_sdk.messages.create(
        model=model["name"],
        max_tokens=100,
        messages=messages,
        metadata={"user_id": "user-1234"},
        service_tier="standard_only",
        stop_sequences=["\n\nHuman:"],
        # sampling parameters the SDK no longer names, and fields newer than it
        extra_body={"top_k": 40, "context_management": {"edits": []}, "some_future_field": [1]},
    )
    sent_unchanged(
        {
            "max_tokens": 100,
            "messages": messages,
            "metadata": {"user_id": "user-1234"},
            "top_k": 40,
            "service_tier": "standard_only",
            "stop_sequences": ["\n\nHuman:"],
            "context_management": {"edits": []},
            "some_future_field": [1],
        },
        recording.last.body,
    )


def test_betas_and_version_headers_reach_the_upstream(
    anthropic_sdk: anthropic.Anthropic, register: RegisterModel, recording: RecordingUpstream
) -> None:
    """The caller's betas, then the model's own (options.anthropic_beta) it did not name."""
    model = register("anthropic", options={"anthropic_beta": "model-beta-1, files-api-2025-04-14"})
    anthropic_sdk.beta.messages.create(
        model=model["name"],
        max_tokens=5,
        messages=HI,  # type: ignore[arg-type]
        betas=["interleaved-thinking-2025-05-14", "files-api-2025-04-14"],
    )
    headers = recording.last.headers
    assert headers["anthropic-beta"] == (
        "interleaved-thinking-2025-05-14,files-api-2025-04-14,model-beta-1"
    )
    anthropic_sdk.messages.create(
        model=model["name"],
        max_tokens=5,
        messages=HI,  # type: ignore[arg-type]
        extra_headers={"anthropic-version": "2023-01-01"},
    )
    headers = recording.last.headers
    assert headers["anthropic-version"] == "2023-01-01"
    assert headers["anthropic-beta"] == "model-beta-1,files-api-2025-04-14"


def test_model_defaults_fill_only_what_the_caller_left_out(
    anthropic_sdk: anthropic.Anthropic, register: RegisterModel, recording: RecordingUpstream
) -> None:
    model = register("anthropic", default_temperature=0.3, default_top_p=0.9)
    anthropic_sdk.messages.create(
        model=model["name"],
        max_tokens=7,
        messages=HI,  # type: ignore[arg-type]
        extra_body={"top_p": 0.5},
    )
    body = recording.last.body
    assert (body["max_tokens"], body["temperature"], body["top_p"]) == (7, 0.3, 0.5)


def test_a_mid_stream_overloaded_error_arrives_as_overloaded_error(
    live_server: LiveServer,
    anthropic_sdk: anthropic.Anthropic,
    register: RegisterModel,
    recording: RecordingUpstream,
) -> None:
    model = register("anthropic")
    overloaded = {"type": "overloaded_error", "message": "Overloaded"}
    recording.expect(Reply.sse(replies.anthropic_stream_events(error=overloaded)))
    stream = anthropic_sdk.messages.create(
        model=model["name"],
        max_tokens=5,
        messages=HI,  # type: ignore[arg-type]
        stream=True,
    )
    with pytest.raises(anthropic.APIStatusError) as failed:
        list(stream)
    body: Any = failed.value.body
    assert body["error"]["type"] == "overloaded_error"
    (event,) = usage_events(live_server, model["id"])
    assert event.status == "incomplete"


CACHED = replies.anthropic_usage(
    input_tokens=50, output_tokens=20, cache_read=1000, cache_write=200
)
# Anthropic's prices: cache reads 0.1x input, 5-minute cache writes 1.25x input
CACHED_COST = IN * 50 + IN * Decimal("0.1") * 1000 + IN * Decimal("1.25") * 200 + OUT * 20


@pytest.mark.parametrize("stream", [False, True])
def test_cache_tokens_reach_the_sdk_and_are_booked_at_cache_prices(
    live_server: LiveServer,
    anthropic_sdk: anthropic.Anthropic,
    register: RegisterModel,
    recording: RecordingUpstream,
    stream: bool,
) -> None:
    model = register("anthropic")
    if stream:
        recording.expect(Reply.sse(replies.anthropic_stream_events(usage=CACHED)))
        with anthropic_sdk.messages.stream(
            model=model["name"],
            max_tokens=100,
            system=SYSTEM,  # type: ignore[arg-type]
            messages=HI,  # type: ignore[arg-type]
        ) as events:
            usage = events.get_final_message().usage
    else:
        recording.expect(Reply.json(replies.anthropic_message(usage=CACHED)))
        usage = anthropic_sdk.messages.create(
            model=model["name"],
            max_tokens=100,
            system=SYSTEM,  # type: ignore[arg-type]
            messages=HI,  # type: ignore[arg-type]
        ).usage
    assert usage.cache_read_input_tokens == 1000
    assert usage.cache_creation_input_tokens == 200
    assert (usage.input_tokens, usage.output_tokens) == (50, 20)
    (event,) = usage_events(live_server, model["id"])
    assert event.status == "ok"
    assert (event.input_tokens, event.output_tokens) == (1250, 20)  # the whole prompt
    assert (event.cached_tokens, event.cache_write_tokens) == (1000, 200)
    assert event.cost == CACHED_COST


def test_claude_code_request_shape_end_to_end_with_caching_reported(
    live_server: LiveServer,
    anthropic_sdk: anthropic.Anthropic,
    register: RegisterModel,
    recording: RecordingUpstream,
) -> None:
    """What Claude Code sends: system blocks with cache_control, tools (the last one marked
    for caching), thinking, metadata.user_id, betas, a stream; and a reply that reads the
    cached prefix."""
    model = register("anthropic")
    betas = ["claude-code-20250219", "interleaved-thinking-2025-05-14"]
    ask = {"type": "text", "text": "fix the test", "cache_control": {"type": "ephemeral"}}
    messages: list[Any] = [
        {"role": "user", "content": [{"type": "text", "text": "<system-reminder>"}, ask]},
    ]
    events = replies.anthropic_stream_events(thinking=True, usage=CACHED)
    recording.expect(Reply.sse(events, delay=0.005))
    with anthropic_sdk.beta.messages.stream(
        model=model["name"],
        max_tokens=32000,
        system=SYSTEM,  # type: ignore[arg-type]
        messages=messages,
        tools=TOOLS,  # type: ignore[arg-type]
        thinking={"type": "enabled", "budget_tokens": 31999},
        metadata={"user_id": "user_abc_account_def_session_123"},
        betas=betas,
        extra_body={"temperature": 1},
    ) as stream:
        kinds = [e.type for e in stream]
        final = stream.get_final_message()
    call = recording.last
    assert call.headers["anthropic-beta"] == ",".join(betas)
    assert call.headers["accept"] == "text/event-stream"
    sent_unchanged(
        {
            "max_tokens": 32000,
            "system": SYSTEM,
            "messages": messages,
            "tools": TOOLS,
            "thinking": {"type": "enabled", "budget_tokens": 31999},
            "metadata": {"user_id": "user_abc_account_def_session_123"},
            "temperature": 1,
            "stream": True,
        },
        call.body,
    )
    assert "thinking" in kinds
    assert "signature" in kinds
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.id == replies.ANTHROPIC_ID
    assert final.usage.cache_read_input_tokens == 1000
    (event,) = usage_events(live_server, model["id"])
    assert (event.cached_tokens, event.cache_write_tokens, event.cost) == (1000, 200, CACHED_COST)


def test_upstream_rate_limit_headers_and_id_are_relayed_on_success(
    anthropic_sdk: anthropic.Anthropic, register: RegisterModel, recording: RecordingUpstream
) -> None:
    model = register("anthropic")
    recording.expect(
        Reply.json(
            replies.anthropic_message(),
            request_id="req_upstream_0001",
            anthropic_ratelimit_requests_remaining="99",
            anthropic_ratelimit_tokens_reset="2026-12-04T20:00:00Z",
            anthropic_organization_id="org-secret-ish",
        )
    )
    raw = anthropic_sdk.messages.with_raw_response.create(
        model=model["name"],
        max_tokens=5,
        messages=HI,  # type: ignore[arg-type]
    )
    assert raw.headers["anthropic-ratelimit-requests-remaining"] == "99"
    assert raw.headers["anthropic-ratelimit-tokens-reset"] == "2026-12-04T20:00:00Z"
    assert raw.headers["upstream-request-id"] == "req_upstream_0001"
    assert raw.headers["request-id"] != "req_upstream_0001"  # ours, as in our log lines
    assert "anthropic-organization-id" not in raw.headers


def test_a_model_with_a_fallback_chain_is_still_translated(
    anthropic_sdk: anthropic.Anthropic, register: RegisterModel, recording: RecordingUpstream
) -> None:
    """The pass-through is for one Anthropic upstream; a chain may switch formats, so it is
    translated, and the translation (Anthropic to Anthropic) keeps the cache markers."""
    spare = register("openai")
    model = register("anthropic", fallback_model_ids=[spare["id"]])
    anthropic_sdk.messages.create(
        model=model["name"],
        max_tokens=5,
        system=SYSTEM,  # type: ignore[arg-type]
        messages=HI,  # type: ignore[arg-type]
    )
    assert recording.last.body["system"] == SYSTEM
