"""The Anthropic pass-through against upstreams that misbehave, as the OpenAI one is
(tests/gateway/test_passthrough_hardening.py): a key echoed back is masked, a 200 that is no
message is a 502 in Anthropic's shape, a client that leaves before `message_delta` is still
billed with the upstream's numbers."""

from __future__ import annotations

import time
import uuid
from typing import Any

import anthropic
import orjson
import pytest

from tests.conformance import replies
from tests.conformance.conftest import RegisterModel
from tests.conformance.recording import RecordingUpstream, Reply
from tests.fixtures.server import LiveServer
from tests.gateway.helpers import usage_events

HI = [{"role": "user", "content": "Hello"}]


@pytest.mark.parametrize("stream", [False, True])
def test_a_key_the_upstream_echoes_is_masked_in_relayed_bytes(
    live_server: LiveServer,
    user: str,
    register: RegisterModel,
    recording: RecordingUpstream,
    stream: bool,
) -> None:
    key = "sk-ant-ECHO" + uuid.uuid4().hex
    model = register("anthropic", api_key=key)
    said = f"I was called with x-api-key {key}"
    if stream:
        events = replies.anthropic_stream_events(text=(said, "!"))
        recording.expect(Reply.sse(events, delay=0.01))
    else:
        content = [{"type": "text", "text": said}]
        recording.expect(Reply.json(replies.anthropic_message(content=content)))
    body = {"model": model["name"], "max_tokens": 5, "messages": HI, "stream": stream}
    with live_server.client(user) as http:
        answer = http.post("/v1/messages", json=body)
    assert answer.status_code == 200, answer.text
    assert key not in answer.text
    assert key[:14] not in answer.text
    assert "x-api-key ****" in answer.text
    assert key not in str(answer.headers)


@pytest.mark.parametrize("stream", [False, True])
def test_a_200_with_html_is_a_502_in_anthropics_shape_booked_as_an_error(
    live_server: LiveServer,
    anthropic_sdk: anthropic.Anthropic,
    register: RegisterModel,
    recording: RecordingUpstream,
    stream: bool,
) -> None:
    model = register("anthropic")
    page = b"<html><body>Bad gateway</body></html>"
    recording.expect(Reply(200, (("content-type", "text/html"),), page))
    with pytest.raises(anthropic.InternalServerError) as failed:
        anthropic_sdk.messages.create(
            model=model["name"],
            max_tokens=5,
            messages=HI,  # type: ignore[arg-type]
            stream=stream,
        )
    assert failed.value.status_code == 502
    body: Any = failed.value.body
    assert body["type"] == "error"
    assert body["error"]["type"] == "api_error"
    assert "HTML" in body["error"]["message"]
    (event,) = usage_events(live_server, model["id"])
    assert event.status == "error"


def test_a_200_error_object_is_the_upstreams_error(
    anthropic_sdk: anthropic.Anthropic, register: RegisterModel, recording: RecordingUpstream
) -> None:
    """`{"type": "error"}` with a 200 is no message: the error it describes."""
    model = register("anthropic")
    recording.expect(Reply.json(replies.anthropic_error("overloaded_error", "Overloaded")))
    with pytest.raises(anthropic.APIStatusError) as failed:
        anthropic_sdk.messages.create(model=model["name"], max_tokens=5, messages=HI)  # type: ignore[arg-type]
    assert failed.value.status_code >= 500


def test_a_client_that_leaves_before_message_delta_is_billed_the_upstreams_usage(
    live_server: LiveServer, user: str, register: RegisterModel, recording: RecordingUpstream
) -> None:
    model = register("anthropic")
    usage = replies.anthropic_usage(input_tokens=30, output_tokens=17, cache_read=400)
    recording.expect(Reply.sse(replies.anthropic_stream_events(usage=usage), delay=0.2))
    body = {"model": model["name"], "max_tokens": 50, "messages": HI, "stream": True}
    with (
        live_server.client(user) as http,
        http.stream("POST", "/v1/messages", json=body) as answer,
    ):
        assert answer.status_code == 200
        for line in answer.iter_lines():
            if (
                line.startswith("data: ")
                and orjson.loads(line[6:])["type"] == "content_block_delta"
            ):
                break  # hang up after the first words, before message_delta
    event = _wait_for_usage(live_server, model["id"])
    assert event.status == "ok"  # the drain read on to message_stop
    assert not event.estimated
    assert (event.input_tokens, event.output_tokens, event.cached_tokens) == (430, 17, 400)


def test_a_stream_that_stops_after_message_start_books_an_estimate_of_the_output(
    live_server: LiveServer, user: str, register: RegisterModel, recording: RecordingUpstream
) -> None:
    """The input counts came (message_start), the output never did: the input is the
    upstream's, the output an estimate, and the row says so."""
    model = register("anthropic")
    usage = replies.anthropic_usage(input_tokens=30, output_tokens=17)
    events = replies.anthropic_stream_events(text=("a", "b", "c"), usage=usage)
    recording.expect(Reply.sse(events[:-3]))  # cut before content_block_stop
    body = {"model": model["name"], "max_tokens": 50, "messages": HI, "stream": True}
    with live_server.client(user) as http:
        answer = http.post("/v1/messages", json=body)
    assert answer.status_code == 200
    assert answer.text.rstrip().splitlines()[-2] == "event: error"  # ours, at the end
    event = _wait_for_usage(live_server, model["id"])
    assert event.status == "incomplete"
    assert event.estimated
    assert event.input_tokens == 30
    assert event.output_tokens >= 2


def _wait_for_usage(server: LiveServer, model_id: str) -> Any:
    """The booking comes after the drain's grace at most: wait up to 8 s for it."""
    deadline = time.monotonic() + 8
    while True:
        events = usage_events(server, model_id, at_least=1)
        if events or time.monotonic() > deadline:
            (event,) = events
            return event
