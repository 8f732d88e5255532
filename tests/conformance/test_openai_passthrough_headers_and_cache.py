"""The OpenAI pass-through's share of the same work: the upstream's rate-limit headers reach
the SDK on success, and cached prompt tokens (which OpenAI's prompt_tokens includes) are
booked at the cached-input price."""

from __future__ import annotations

from decimal import Decimal

import openai
import pytest

from tests.conformance import replies
from tests.conformance.conftest import RegisterModel
from tests.conformance.recording import RecordingUpstream, Reply
from tests.fixtures.server import LiveServer
from tests.gateway.helpers import usage_events

IN, OUT = Decimal("0.000003"), Decimal("0.000015")  # the `register` fixture's prices
HI = [{"role": "user", "content": "Hello"}]


def test_rate_limit_headers_and_the_upstream_id_are_relayed_on_success(
    openai_sdk: openai.OpenAI, register: RegisterModel, recording: RecordingUpstream
) -> None:
    model = register("openai")
    recording.expect(
        Reply.json(
            replies.openai_completion(),
            x_request_id="req_upstream_42",
            x_ratelimit_remaining_requests="499",
            x_ratelimit_reset_tokens="6ms",
            openai_processing_ms="321",
            openai_organization="org-not-for-callers",
        )
    )
    raw = openai_sdk.chat.completions.with_raw_response.create(
        model=model["name"],
        messages=HI,  # type: ignore[arg-type]
    )
    assert raw.headers["x-ratelimit-remaining-requests"] == "499"
    assert raw.headers["x-ratelimit-reset-tokens"] == "6ms"
    assert raw.headers["openai-processing-ms"] == "321"
    assert raw.headers["upstream-request-id"] == "req_upstream_42"
    assert raw.request_id != "req_upstream_42"  # x-request-id is ours
    assert "openai-organization" not in raw.headers


@pytest.mark.parametrize("stream", [False, True])
def test_cached_prompt_tokens_are_booked_at_the_cached_input_price(
    live_server: LiveServer,
    openai_sdk: openai.OpenAI,
    register: RegisterModel,
    recording: RecordingUpstream,
    stream: bool,
) -> None:
    model = register("openai")
    usage = replies.openai_usage(prompt=2000, completion=10, cached=1500)
    if stream:
        recording.expect(Reply.sse(replies.openai_stream_events(usage=usage)))
        chunks = list(
            openai_sdk.chat.completions.create(
                model=model["name"],
                messages=HI,  # type: ignore[arg-type]
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        got = chunks[-1].usage
    else:
        recording.expect(Reply.json(replies.openai_completion(usage=usage)))
        got = openai_sdk.chat.completions.create(model=model["name"], messages=HI).usage  # type: ignore[arg-type]
    assert got is not None
    assert got.prompt_tokens_details is not None
    assert got.prompt_tokens_details.cached_tokens == 1500
    (event,) = usage_events(live_server, model["id"])
    assert (event.input_tokens, event.cached_tokens, event.cache_write_tokens) == (2000, 1500, 0)
    # prompt_tokens includes the cached ones: 500 at the input price, 1,500 at half of it
    assert event.cost == IN * 500 + IN * Decimal("0.5") * 1500 + OUT * 10
