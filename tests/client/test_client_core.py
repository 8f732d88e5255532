"""The client's own behaviour (retries, fallback, breaker, streams, cancellation, tool loop)
over real HTTP to a scripted upstream on 127.0.0.1, with a fake adapter for its format."""

from __future__ import annotations

import asyncio
import time
from contextlib import aclosing

import pytest

from modelreg import errors
from modelreg.client import UnifiedLLMClient
from modelreg.client.resilience import BreakerState, CircuitBreakerRegistry, RetryPolicy
from modelreg.client.transport import HttpTransport
from modelreg.types import (
    FinishEvent,
    Message,
    MetaEvent,
    StreamEvent,
    TextDelta,
    ToolCall,
    Usage,
)
from tests.client.conftest import FAST_RETRY
from tests.client.fakes import (
    Reply,
    error_body,
    make_model,
    ok_json,
    text_events,
)

HELLO = [Message(role="user", content="hello")]


async def collect(stream: object) -> list[StreamEvent]:
    return [e async for e in stream]  # type: ignore[attr-defined]


# --- plain calls and defaults -------------------------------------------------------------


async def test_chat_returns_the_answer_and_who_served_it(client, upstream):
    model = make_model(upstream.base_url)
    upstream.enqueue(Reply(json=ok_json("hi there")))
    response = await client.chat(model, HELLO)
    assert response.text == "hi there"
    assert response.usage == Usage(10, 1)
    assert (response.served_by_id, response.served_by_name) == ("id-m1", "m1")
    assert response.fallback_reasons == ()
    assert response.latency_ms > 0
    assert upstream.requests[0]["headers"]["Authorization"] == "Bearer sk-test-secret-key-1234"


async def test_model_defaults_apply_where_the_call_is_silent(client, upstream):
    model = make_model(
        upstream.base_url, default_temperature=0.3, default_top_p=0.9, max_output_tokens=77
    )
    await client.chat(model, HELLO, temperature=1.2)
    sent = upstream.requests[0]["json"]
    assert (sent["temperature"], sent["top_p"], sent["max_tokens"]) == (1.2, 0.9, 77)


async def test_embed(client, upstream):
    upstream.enqueue(Reply(json={"vectors": [[0.1, 0.2], [0.3, 0.4]]}))
    result = await client.embed(make_model(upstream.base_url), ["a", "b"])
    assert result.vectors == ((0.1, 0.2), (0.3, 0.4))
    assert upstream.requests[0]["json"] == {"input": ["a", "b"]}


# --- retries --------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 529])
async def test_retryable_status_is_retried_then_succeeds(client, upstream, status):
    upstream.enqueue(Reply(status=status, json=error_body("busy")), Reply(json=ok_json("done")))
    response = await client.chat(make_model(upstream.base_url), HELLO)
    assert response.text == "done"
    assert len(upstream.requests) == 2


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, errors.BadRequestError),
        (401, errors.AuthenticationError),
        (404, errors.NotFoundError),
    ],
)
async def test_client_errors_are_not_retried(client, upstream, status, error):
    upstream.enqueue(Reply(status=status, json=error_body("nope")))
    with pytest.raises(error):
        await client.chat(make_model(upstream.base_url), HELLO)
    assert len(upstream.requests) == 1


async def test_insufficient_quota_is_not_retried(client, upstream):
    upstream.enqueue(Reply(status=429, json=error_body("no credit", code="insufficient_quota")))
    with pytest.raises(errors.RateLimitError):
        await client.chat(make_model(upstream.base_url), HELLO)
    assert len(upstream.requests) == 1


async def test_retry_budget_exhausted_raises_the_last_error(client, upstream):
    upstream.enqueue(*[Reply(status=503, json=error_body("down")) for _ in range(5)])
    with pytest.raises(errors.ServerError) as info:
        await client.chat(make_model(upstream.base_url), HELLO)
    assert info.value.status == 503
    assert len(upstream.requests) == 1 + FAST_RETRY.max_retries


async def test_retry_after_header_is_honoured(client, upstream):
    upstream.enqueue(
        Reply(status=429, json=error_body("slow down"), headers={"retry-after-ms": "300"}),
        Reply(json=ok_json("ok")),
    )
    started = time.monotonic()
    await client.chat(make_model(upstream.base_url), HELLO)
    # the policy's own backoff is 10 ms: waiting 300 ms means the header won
    assert time.monotonic() - started >= 0.28
    assert len(upstream.requests) == 2


async def test_retry_after_beyond_the_cap_ends_retries(client, upstream):
    upstream.enqueue(Reply(status=429, json=error_body("later"), headers={"retry-after": "3600"}))
    with pytest.raises(errors.RateLimitError) as info:
        await client.chat(make_model(upstream.base_url), HELLO)
    assert info.value.retry_after == 3600
    assert len(upstream.requests) == 1


async def test_x_should_retry_false_overrides_the_status(client, upstream):
    upstream.enqueue(Reply(status=503, json=error_body("no"), headers={"x-should-retry": "false"}))
    with pytest.raises(errors.ServerError):
        await client.chat(make_model(upstream.base_url), HELLO)
    assert len(upstream.requests) == 1


async def test_connection_refused_is_retried_and_mapped(client, unused_tcp_port):
    model = make_model(f"http://127.0.0.1:{unused_tcp_port}")
    with pytest.raises(errors.ProviderConnectionError) as info:
        await client.chat(model, HELLO)
    assert info.value.reason == "connect"
    assert "sk-test" not in str(info.value)


async def test_hung_upstream_times_out(adapter, upstream):
    upstream.enqueue(Reply(hang=True))
    client = UnifiedLLMClient(
        HttpTransport(connect_timeout=1, read_timeout=0.2, total_timeout=5),
        retry=RetryPolicy(max_retries=0),
        adapter_for=lambda m: adapter,
    )
    try:
        with pytest.raises(errors.ProviderTimeoutError):
            await client.chat(make_model(upstream.base_url), HELLO)
    finally:
        await client.aclose()
    assert await upstream.wait_for_disconnects(1)


# --- errors carry no key --------------------------------------------------------------------


async def test_an_echoed_key_is_removed_from_the_error(client, upstream):
    upstream.enqueue(
        Reply(status=401, json=error_body("Incorrect API key provided: sk-test-secret-key-1234"))
    )
    with pytest.raises(errors.AuthenticationError) as info:
        await client.chat(make_model(upstream.base_url), HELLO)
    assert "sk-test-secret-key-1234" not in str(info.value)
    assert "sk-test-secret-key-1234" not in info.value.message
    assert "Incorrect API key provided" in info.value.message


async def test_a_non_json_error_body_still_gives_a_typed_error(client, upstream):
    upstream.enqueue(Reply(status=502, raw=b"<html>Bad gateway</html>"))
    upstream.enqueue(Reply(status=502, raw=b"<html>Bad gateway</html>"))
    upstream.enqueue(Reply(status=502, raw=b"<html>Bad gateway</html>"))
    with pytest.raises(errors.ServerError):
        await client.chat(make_model(upstream.base_url), HELLO)


async def test_a_redirect_is_not_followed(client, upstream):
    upstream.enqueue(Reply(status=302, raw=b"", headers={"Location": "http://169.254.169.254/"}))
    with pytest.raises(errors.UnexpectedResponseError, match="redirect"):
        await client.chat(make_model(upstream.base_url), HELLO)
    assert len(upstream.requests) == 1


async def test_a_parser_crash_becomes_unexpected_response(client, upstream):
    upstream.enqueue(Reply(raw=b"not json at all"))
    with pytest.raises(errors.UnexpectedResponseError):
        await client.chat(make_model(upstream.base_url), HELLO)


# --- fallback -------------------------------------------------------------------------------


async def test_fallback_to_the_next_model_records_the_reason(client, upstream):
    primary = make_model(upstream.base_url, "primary")
    backup = make_model(upstream.base_url, "backup")
    upstream.enqueue(*[Reply(status=503, json=error_body("down")) for _ in range(3)])
    upstream.enqueue(Reply(json=ok_json("from backup")))
    response = await client.chat(primary, HELLO, fallbacks=[backup])
    assert response.text == "from backup"
    assert response.served_by_name == "backup"
    assert len(response.fallback_reasons) == 1
    assert response.fallback_reasons[0].startswith("primary: ServerError")


async def test_fallback_ids_from_the_registry_entry(adapter, upstream):
    backup = make_model(upstream.base_url, "backup")
    primary = make_model(upstream.base_url, "primary", fallback_model_ids=("gone", backup.id))
    resolved: list[str] = []

    async def resolve(model_id: str):
        resolved.append(model_id)
        return backup if model_id == backup.id else None

    client = UnifiedLLMClient(
        retry=FAST_RETRY, resolve_fallback=resolve, adapter_for=lambda m: adapter
    )
    try:
        upstream.enqueue(Reply(status=401, json=error_body("bad key")))
        response = await client.chat(primary, HELLO)
    finally:
        await client.aclose()
    assert response.served_by_id == backup.id
    assert resolved == ["gone", backup.id]
    assert response.fallback_reasons[1] == "fallback gone: not available"


async def test_a_bad_request_does_not_fall_back(client, upstream):
    upstream.enqueue(Reply(status=400, json=error_body("bad schema")))
    with pytest.raises(errors.BadRequestError):
        await client.chat(
            make_model(upstream.base_url), HELLO, fallbacks=[make_model(upstream.base_url, "b")]
        )
    assert len(upstream.requests) == 1


async def test_context_length_falls_back_to_a_bigger_model(client, upstream):
    upstream.enqueue(Reply(status=400, json=error_body("too long", "context_length_exceeded")))
    response = await client.chat(
        make_model(upstream.base_url), HELLO, fallbacks=[make_model(upstream.base_url, "big")]
    )
    assert response.served_by_name == "big"


async def test_all_candidates_fail_raises_with_the_reasons(client, upstream):
    upstream.enqueue(*[Reply(status=401, json=error_body("bad key")) for _ in range(2)])
    with pytest.raises(errors.AuthenticationError) as info:
        await client.chat(
            make_model(upstream.base_url), HELLO, fallbacks=[make_model(upstream.base_url, "b")]
        )
    assert any("tried: m1: AuthenticationError" in note for note in info.value.__notes__)


async def test_stream_falls_back_before_anything_was_handed_on(client, upstream):
    upstream.enqueue(*[Reply(status=503, json=error_body("down")) for _ in range(3)])
    upstream.enqueue(Reply(events=text_events("Hel", "lo")))
    events = await collect(
        client.stream(
            make_model(upstream.base_url, "a"),
            HELLO,
            fallbacks=[make_model(upstream.base_url, "b")],
        )
    )
    meta = events[0]
    assert isinstance(meta, MetaEvent)
    assert (meta.served_by_name, meta.response_id, meta.model) == ("b", "r1", "fake-1")
    assert meta.fallback_reasons[0].startswith("a: ServerError")
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Hello"


# --- circuit breaker ------------------------------------------------------------------------


async def test_breaker_opens_skips_the_model_and_probes_after_cooldown(adapter, upstream):
    now = [0.0]
    breakers = CircuitBreakerRegistry(failure_threshold=2, cooldown=30, clock=lambda: now[0])
    client = UnifiedLLMClient(
        retry=RetryPolicy(max_retries=0), breaker=breakers, adapter_for=lambda m: adapter
    )
    model = make_model(upstream.base_url, "flaky")
    backup = make_model(upstream.base_url, "backup")
    try:
        upstream.enqueue(*[Reply(status=500, json=error_body("boom")) for _ in range(2)])
        for _ in range(2):
            with pytest.raises(errors.ServerError):
                await client.chat(model, HELLO)
        assert breakers.state(model.id) is BreakerState.OPEN

        # open: no request reaches the upstream, the fallback answers
        sent = len(upstream.requests)
        with pytest.raises(errors.CircuitOpenError):
            await client.chat(model, HELLO)
        response = await client.chat(model, HELLO, fallbacks=[backup])
        assert response.served_by_name == "backup"
        assert "CircuitOpenError" in response.fallback_reasons[0]
        assert len(upstream.requests) == sent + 1

        # after the cooldown one probe goes through; its success closes the breaker
        now[0] += 31
        assert breakers.state(model.id) is BreakerState.HALF_OPEN
        assert (await client.chat(model, HELLO)).served_by_name == "flaky"
        assert breakers.state(model.id) is BreakerState.CLOSED
    finally:
        await client.aclose()


async def test_a_failed_probe_reopens_the_breaker(adapter, upstream):
    now = [0.0]
    breakers = CircuitBreakerRegistry(failure_threshold=1, cooldown=10, clock=lambda: now[0])
    client = UnifiedLLMClient(
        retry=RetryPolicy(max_retries=0), breaker=breakers, adapter_for=lambda m: adapter
    )
    model = make_model(upstream.base_url)
    try:
        upstream.enqueue(*[Reply(status=503, json=error_body("down")) for _ in range(2)])
        with pytest.raises(errors.ServerError):
            await client.chat(model, HELLO)
        now[0] += 11
        with pytest.raises(errors.ServerError):
            await client.chat(model, HELLO)  # the probe
        assert breakers.state(model.id) is BreakerState.OPEN
        with pytest.raises(errors.CircuitOpenError):
            await client.chat(model, HELLO)
        assert len(upstream.requests) == 2
    finally:
        await client.aclose()


# --- streams ----------------------------------------------------------------------------


async def test_stream_starts_with_the_route_and_ends_with_finish(client, upstream):
    upstream.enqueue(Reply(events=text_events("a", "b", "c")))
    events = await collect(client.stream(make_model(upstream.base_url), HELLO))
    assert [e.type for e in events] == [
        "meta", "text_delta", "text_delta", "text_delta", "usage", "finish"
    ]  # fmt: skip
    assert upstream.requests[0]["json"]["stream"] is True


async def test_stream_error_before_output_is_retried(client, upstream):
    upstream.enqueue(Reply(events=text_events("x"), cut_after=0))
    upstream.enqueue(Reply(events=text_events("fine")))
    events = await collect(client.stream(make_model(upstream.base_url), HELLO))
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["fine"]
    assert len(upstream.requests) == 2


async def test_stream_cut_after_output_raises_interrupted_without_retry(client, upstream):
    upstream.enqueue(Reply(events=text_events("one", "two", "three"), cut_after=2))
    received: list[StreamEvent] = []

    async def consume() -> None:
        async for event in client.stream(make_model(upstream.base_url), HELLO):
            received.append(event)

    with pytest.raises(errors.StreamInterruptedError):
        await consume()
    assert [e.text for e in received if isinstance(e, TextDelta)] == ["one"]
    assert len(upstream.requests) == 1


async def test_stream_without_finish_is_not_reported_complete(client, upstream):
    upstream.enqueue(Reply(events=text_events("partial")[:-1]))
    with pytest.raises(errors.StreamInterruptedError, match="ended early"):
        await collect(client.stream(make_model(upstream.base_url), HELLO))


async def test_closing_the_stream_closes_the_upstream_connection(client, upstream):
    upstream.enqueue(Reply(events=text_events(*"abcdefghij"), chunk_delay=0.2))
    async with aclosing(client.stream(make_model(upstream.base_url), HELLO)) as stream:
        async for event in stream:
            if isinstance(event, TextDelta):
                break
    assert await upstream.wait_for_disconnects(1)


async def test_cancelling_the_consumer_task_closes_the_upstream_connection(client, upstream):
    upstream.enqueue(Reply(events=text_events("a"), hang=True))
    got_text = asyncio.Event()

    async def consume() -> None:
        async for event in client.stream(make_model(upstream.base_url), HELLO):
            if isinstance(event, TextDelta):
                got_text.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(got_text.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await upstream.wait_for_disconnects(1)


async def test_stream_hang_after_output_times_out_as_interrupted(adapter, upstream):
    upstream.enqueue(Reply(events=text_events("a"), hang=True))
    client = UnifiedLLMClient(
        HttpTransport(read_timeout=0.3),
        retry=RetryPolicy(max_retries=0),
        adapter_for=lambda m: adapter,
    )
    try:
        with pytest.raises(errors.StreamInterruptedError) as info:
            await collect(client.stream(make_model(upstream.base_url), HELLO))
        assert isinstance(info.value.__cause__, errors.ProviderTimeoutError)
    finally:
        await client.aclose()


# --- tool loop ------------------------------------------------------------------------------


def _tool_reply(*calls: tuple[str, str, dict[str, object]], usage: int = 1) -> Reply:
    return Reply(
        json=ok_json(
            "",
            tool_calls=[{"id": i, "name": n, "arguments": a} for i, n, a in calls],
            usage=usage,
        )
    )


async def test_tool_loop_runs_parallel_calls_and_sums_usage(client, upstream):
    upstream.enqueue(
        _tool_reply(("c1", "weather", {"city": "Paris"}), ("c2", "weather", {"city": "Oslo"})),
        _tool_reply(("c3", "time", {}), usage=2),
        Reply(json=ok_json("Paris 18°C, Oslo 9°C", usage=3)),
    )
    seen: list[ToolCall] = []

    async def handler(call: ToolCall) -> str:
        seen.append(call)
        return f"{call.name}:{call.arguments.get('city', 'now')}"

    response = await client.chat(make_model(upstream.base_url), HELLO, tool_handler=handler)
    assert response.text == "Paris 18°C, Oslo 9°C"
    assert response.usage == Usage(60, 6)
    assert [c.id for c in seen] == ["c1", "c2", "c3"]
    last = upstream.requests[-1]["json"]["messages"]
    assert [m["role"] for m in last] == ["user", "assistant", "tool", "tool", "assistant", "tool"]
    assert last[1]["tool_calls"] == ["c1", "c2"]
    assert [m["content"] for m in last if m["role"] == "tool"] == [
        "weather:Paris", "weather:Oslo", "time:now"
    ]  # fmt: skip


async def test_tool_loop_stops_at_the_round_limit(client, upstream):
    upstream.enqueue(*[_tool_reply((f"c{i}", "again", {})) for i in range(3)])

    async def handler(call: ToolCall) -> str:
        return "more"

    response = await client.chat(
        make_model(upstream.base_url), HELLO, tool_handler=handler, max_tool_rounds=2
    )
    assert len(upstream.requests) == 3
    assert response.finish_reason == "tool_calls"
    assert response.warnings == ("stopped after 2 tool rounds",)


async def test_a_failing_tool_is_reported_to_the_model(client, upstream):
    upstream.enqueue(_tool_reply(("c1", "explode", {})), Reply(json=ok_json("sorry")))

    async def handler(call: ToolCall) -> str:
        raise RuntimeError("kaboom")

    response = await client.chat(make_model(upstream.base_url), HELLO, tool_handler=handler)
    assert response.text == "sorry"
    tool_message = upstream.requests[-1]["json"]["messages"][-1]
    assert tool_message["content"] == "error: the tool failed: RuntimeError: kaboom"


async def test_streamed_tool_loop_runs_the_next_round(client, upstream):
    call_events = [
        {"t": "meta", "id": "r1", "model": "fake-1"},
        {"t": "tool", "index": 0, "id": "c1", "name": "lookup", "arguments": {"q": "x"}},
        {"t": "finish", "v": "tool_calls"},
    ]
    upstream.enqueue(Reply(events=call_events), Reply(events=text_events("answer")))

    async def handler(call: ToolCall) -> str:
        return "found"

    events = await collect(
        client.stream(make_model(upstream.base_url), HELLO, tool_handler=handler)
    )
    kinds = [e.type for e in events]
    assert kinds == ["meta", "tool_call_end", "finish", "meta", "text_delta", "usage", "finish"]
    assert [e.reason for e in events if isinstance(e, FinishEvent)] == ["tool_calls", "stop"]
    assert upstream.requests[1]["json"]["messages"][-1]["content"] == "found"


# --- connection test ------------------------------------------------------------------------


async def test_connection_ok(client, upstream):
    upstream.enqueue(Reply(json={"data": [{"id": "fake-1"}]}))
    result = await client.test_connection(make_model(upstream.base_url))
    assert (result.ok, result.reason) == (True, None)


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (
            Reply(status=401, json=error_body("Incorrect API key sk-test-secret-key-1234")),
            "bad_key",
        ),
        (Reply(status=404, json=error_body("no such model")), "unknown_model"),
        (Reply(json={"data": [{"id": "other-model"}]}), "unknown_model"),
        (Reply(status=503, json=error_body("down")), "upstream_error"),
        (Reply(status=429, json=error_body("slow")), "rate_limited"),
    ],
)
async def test_connection_failure_reasons(client, upstream, reply, reason):
    upstream.enqueue(reply)
    result = await client.test_connection(make_model(upstream.base_url))
    assert (result.ok, result.reason) == (False, reason)
    assert "sk-test-secret-key-1234" not in result.message
    assert len(upstream.requests) == 1  # no retries in a connection test


async def test_connection_unreachable(client, unused_tcp_port):
    result = await client.test_connection(make_model(f"http://127.0.0.1:{unused_tcp_port}"))
    assert (result.ok, result.reason) == (False, "unreachable")


async def test_connection_timeout(adapter, upstream):
    from modelreg.client.transport import Timeouts

    upstream.enqueue(Reply(hang=True))
    client = UnifiedLLMClient(
        adapter_for=lambda m: adapter, connection_test_timeouts=Timeouts(1, 0.2, 2)
    )
    try:
        result = await client.test_connection(make_model(upstream.base_url))
    finally:
        await client.aclose()
    assert (result.ok, result.reason) == (False, "timeout")


async def test_connection_to_a_private_address_is_refused_for_user_models(client):
    user_model = make_model("http://127.0.0.1:9", is_global=False)
    result = await client.test_connection(user_model)
    assert (result.ok, result.reason) == (False, "unsafe_url")


async def test_a_stream_cut_after_its_preamble_is_still_retried(client, upstream):
    # the provider's id/model preamble is not output: nothing was handed on yet
    upstream.enqueue(Reply(events=text_events("lost"), cut_after=1))
    upstream.enqueue(Reply(events=text_events("kept")))
    events = await collect(client.stream(make_model(upstream.base_url), HELLO))
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["kept"]
    assert [e.type for e in events].count("meta") == 1
    assert len(upstream.requests) == 2


async def test_a_misconfigured_model_is_passed_over(client, upstream):
    broken = make_model(upstream.base_url, "broken", options={"missing_key": True})
    response = await client.chat(broken, HELLO, fallbacks=[make_model(upstream.base_url, "ok")])
    assert response.served_by_name == "ok"
    assert response.fallback_reasons == ("broken: MissingCredentialsError: broken has no API key",)
    with pytest.raises(errors.MissingCredentialsError):
        await client.chat(broken, HELLO)
