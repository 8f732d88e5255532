"""The client end to end over real HTTP: real adapters against the provider simulators.

Each flavour is a (simulator fixture, ModelConfig) pair; the main paths run for every one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from typing import Any

import orjson
import pytest

from modelreg import errors
from modelreg.client import UnifiedLLMClient
from modelreg.client.resilience import BreakerState, CircuitBreakerRegistry, RetryPolicy
from modelreg.client.transport import HttpTransport, Timeouts
from modelreg.model_config import ModelConfig
from modelreg.secret import Secret
from modelreg.simulators import Script, ScriptedToolCall, SimulatorServer
from modelreg.types import (
    FinishEvent,
    Message,
    MetaEvent,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallEnd,
    ToolDefinition,
    UsageEvent,
)
from tests.client.conftest import FAST_RETRY

HELLO = [Message(role="user", content="hello")]
WEATHER = ToolDefinition(
    "get_weather",
    "Weather in a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def _model(sim: SimulatorServer, name: str, provider: str, model_id: str, **kw: Any) -> ModelConfig:
    return ModelConfig(
        id=f"id-{name}",
        name=name,
        provider=provider,
        base_url=kw.pop("base_url", sim.base_url),
        model_id=model_id,
        api_key=Secret(sim.api_key) if sim.api_key else None,
        is_global=True,  # the simulators live on loopback
        **kw,
    )


FLAVOURS: dict[str, tuple[str, Callable[[SimulatorServer], ModelConfig]]] = {
    "openai": ("openai_sim", lambda s: _model(s, "openai", "openai", "gpt-4o-mini")),
    "anthropic": (
        "anthropic_sim",
        lambda s: _model(s, "anthropic", "anthropic", "claude-haiku-4-5"),
    ),
    "azure": ("azure_sim", lambda s: _model(s, "azure", "azure", "gpt-4o-mini")),
    "ollama": ("ollama_sim", lambda s: _model(s, "ollama", "ollama", "llama3.2")),
    "ollama-v1": (
        "ollama_sim",
        lambda s: _model(
            s,
            "ollama-v1",
            "ollama",
            "llama3.2",
            base_url=s.base_url + "/v1",
            options={"api": "openai"},
        ),
    ),
    "tgi": (
        "tgi_sim",
        lambda s: _model(s, "tgi", "huggingface", "tgi", options={"hf_api": "tgi"}),
    ),
}


@pytest.fixture(params=list(FLAVOURS))
def flavour(request: pytest.FixtureRequest) -> tuple[SimulatorServer, ModelConfig]:
    fixture, build = FLAVOURS[request.param]
    sim: SimulatorServer = request.getfixturevalue(fixture)
    return sim, build(sim)


@pytest.fixture
async def sim_client() -> AsyncIterator[UnifiedLLMClient]:
    client = UnifiedLLMClient(
        HttpTransport(connect_timeout=2, read_timeout=5, total_timeout=20), retry=FAST_RETRY
    )
    yield client
    await client.aclose()


def _no_retry_client(**kw: Any) -> UnifiedLLMClient:
    return UnifiedLLMClient(kw.pop("transport", None), retry=RetryPolicy(max_retries=0), **kw)


async def collect(stream: AsyncIterator[StreamEvent]) -> list[StreamEvent]:
    return [e async for e in stream]


def _texts(events: list[StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


# --- main paths, every flavour --------------------------------------------------------------


async def test_plain_chat(sim_client, flavour):
    sim, model = flavour
    sim.enqueue(Script(text="Hello from the simulator", usage=(12, 5)))
    response = await sim_client.chat(model, HELLO)
    assert response.text == "Hello from the simulator"
    assert response.finish_reason == "stop"
    assert (response.usage.input_tokens, response.usage.output_tokens) == (12, 5)
    assert response.served_by_name == model.name
    assert len(sim.requests) == 1


async def test_streaming_with_usage(sim_client, flavour):
    sim, model = flavour
    sim.enqueue(Script(chunks=["Hel", "lo", " world"], usage=(7, 3)))
    events = await collect(sim_client.stream(model, HELLO))
    assert isinstance(events[0], MetaEvent)
    assert events[0].served_by_name == model.name
    assert _texts(events) == "Hello world"
    usage = [e.usage for e in events if isinstance(e, UsageEvent)]
    assert usage
    assert (usage[-1].input_tokens, usage[-1].output_tokens) == (7, 3)
    assert [e.reason for e in events if isinstance(e, FinishEvent)] == ["stop"]


async def test_tool_round_trip_sums_usage(sim_client, flavour):
    sim, model = flavour
    sim.enqueue(
        Script(tool_calls=[ScriptedToolCall("get_weather", {"city": "Paris"})], usage=(10, 4)),
        Script(text="It is 18°C in Paris.", usage=(30, 6)),
    )
    calls: list[ToolCall] = []

    async def handler(call: ToolCall) -> str:
        calls.append(call)
        return "18°C, sunny"

    response = await sim_client.chat(model, HELLO, tools=[WEATHER], tool_handler=handler)
    assert response.text == "It is 18°C in Paris."
    assert (calls[0].name, calls[0].arguments) == ("get_weather", {"city": "Paris"})
    assert (response.usage.input_tokens, response.usage.output_tokens) == (40, 10)
    second = sim.requests[-1].body.decode()
    assert "18°C, sunny" in second or "18\\u00b0C, sunny" in second
    assert calls[0].id in second  # the result is tied to its call (tool_call_id / tool_use_id)


async def test_parallel_tool_calls(sim_client, flavour):
    sim, model = flavour
    sim.enqueue(
        Script(
            tool_calls=[
                ScriptedToolCall("get_weather", {"city": "Paris"}),
                ScriptedToolCall("get_weather", {"city": "Oslo"}),
            ]
        ),
        Script(text="done"),
    )
    seen: list[str] = []

    async def handler(call: ToolCall) -> str:
        seen.append(call.arguments["city"])
        return f"weather in {call.arguments['city']}"

    response = await sim_client.chat(model, HELLO, tools=[WEATHER], tool_handler=handler)
    assert response.text == "done"
    assert sorted(seen) == ["Oslo", "Paris"]
    body = sim.requests[-1].body.decode()
    assert "weather in Paris" in body
    assert "weather in Oslo" in body


async def test_streamed_tool_call_fragments_reassemble(sim_client, flavour):
    sim, model = flavour
    args_a = {"city": "São Paulo", "unit": "celsius", "days": [1, 2, 3]}
    args_b = {"city": "Zürich"}
    sim.enqueue(
        Script(
            tool_calls=[
                ScriptedToolCall("get_weather", args_a),
                ScriptedToolCall("get_weather", args_b),
            ],
            fragment_tool_args=3,
        )
    )
    events = await collect(sim_client.stream(model, HELLO, tools=[WEATHER]))
    ends = [e for e in events if isinstance(e, ToolCallEnd)]
    assert [e.call.arguments for e in ends] == [args_a, args_b]
    fragments: dict[int, str] = {}
    for e in events:
        if isinstance(e, ToolCallDelta):
            fragments[e.index] = fragments.get(e.index, "") + e.arguments_fragment
    if fragments:  # providers that stream arguments in pieces (Ollama sends whole calls)
        for end in ends:
            assert orjson.loads(fragments[end.index]) == end.call.arguments
    assert [e.reason for e in events if isinstance(e, FinishEvent)] == ["tool_calls"]


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, errors.BadRequestError),
        (401, errors.AuthenticationError),
        (403, errors.PermissionDeniedError),
        (404, errors.NotFoundError),
        (429, errors.RateLimitError),
        (500, errors.ServerError),
        (503, errors.ServerError),
    ],
)
async def test_error_classes(flavour, status, error):
    sim, model = flavour
    sim.enqueue(Script(status=status, error_message="scripted failure"))
    client = _no_retry_client()
    try:
        with pytest.raises(error) as info:
            await client.chat(model, HELLO)
    finally:
        await client.aclose()
    assert info.value.status == status
    if sim.api_key:
        assert sim.api_key not in str(info.value)


async def test_retry_then_success(sim_client, flavour):
    sim, model = flavour
    sim.enqueue(Script(status=503), Script(status=500), Script(text="third time"))
    response = await sim_client.chat(model, HELLO)
    assert response.text == "third time"
    assert len(sim.requests) == 3


async def test_stream_interrupted_after_output(sim_client, flavour):
    sim, model = flavour
    sim.enqueue(Script(chunks=["one ", "two ", "three ", "four ", "five"], cut_after=4))
    received: list[StreamEvent] = []

    async def consume() -> None:
        async for event in sim_client.stream(model, HELLO):
            received.append(event)

    with pytest.raises(errors.StreamInterruptedError):
        await consume()
    assert _texts(received)  # some output was handed on ...
    assert len(sim.requests) == 1  # ... so nothing was retried


# --- resilience against one simulator ---------------------------------------------------------


def _openai(sim: SimulatorServer, name: str = "openai", **kw: Any) -> ModelConfig:
    return _model(sim, name, "openai", "gpt-4o-mini", **kw)


async def test_retry_after_is_honoured(sim_client, openai_sim):
    openai_sim.enqueue(Script(status=429, retry_after=0.4), Script(text="ok"))
    started = time.monotonic()
    assert (await sim_client.chat(_openai(openai_sim), HELLO)).text == "ok"
    assert time.monotonic() - started >= 0.35  # FAST_RETRY alone would wait 10 ms
    assert len(openai_sim.requests) == 2


async def test_retry_budget_exhausted(sim_client, anthropic_sim):
    anthropic_sim.enqueue(Script(status=529, repeat=5))
    model = _model(anthropic_sim, "claude", "anthropic", "claude-haiku-4-5")
    with pytest.raises(errors.ProviderStatusError) as info:
        await sim_client.chat(model, HELLO)
    assert info.value.status == 529
    assert len(anthropic_sim.requests) == 1 + FAST_RETRY.max_retries


async def test_chat_falls_back_across_providers(sim_client, openai_sim, anthropic_sim):
    openai_sim.enqueue(Script(status=503, repeat=3))
    anthropic_sim.enqueue(Script(text="Claude here"))
    backup = _model(anthropic_sim, "claude", "anthropic", "claude-haiku-4-5")
    response = await sim_client.chat(_openai(openai_sim), HELLO, fallbacks=[backup])
    assert (response.text, response.served_by_name) == ("Claude here", "claude")
    assert response.fallback_reasons[0].startswith("openai: ServerError")
    assert len(openai_sim.requests) == 3


async def test_stream_falls_back_when_nothing_was_handed_on(sim_client, openai_sim, ollama_sim):
    openai_sim.enqueue(Script(status=500, repeat=3))
    ollama_sim.enqueue(Script(chunks=["from ", "ollama"]))
    backup = _model(ollama_sim, "local", "ollama", "llama3.2")
    events = await collect(sim_client.stream(_openai(openai_sim), HELLO, fallbacks=[backup]))
    meta = events[0]
    assert isinstance(meta, MetaEvent)
    assert meta.served_by_name == "local"
    assert meta.fallback_reasons[0].startswith("openai: ServerError")
    assert _texts(events) == "from ollama"


async def test_circuit_breaker_open_then_half_open(openai_sim):
    now = [100.0]
    breakers = CircuitBreakerRegistry(failure_threshold=2, cooldown=5, clock=lambda: now[0])
    client = _no_retry_client(breaker=breakers)
    model = _openai(openai_sim)
    try:
        openai_sim.enqueue(Script(status=502, repeat=2))
        for _ in range(2):
            with pytest.raises(errors.ServerError):
                await client.chat(model, HELLO)
        with pytest.raises(errors.CircuitOpenError):
            await client.chat(model, HELLO)
        assert len(openai_sim.requests) == 2  # open: the upstream was spared
        now[0] += 6
        assert breakers.state(model.id) is BreakerState.HALF_OPEN
        assert (await client.chat(model, HELLO)).text
        assert breakers.state(model.id) is BreakerState.CLOSED
    finally:
        await client.aclose()


async def test_consumer_leaving_closes_the_upstream_connection(sim_client, openai_sim):
    openai_sim.enqueue(Script(chunks=[f"w{i} " for i in range(50)], chunk_delay=0.05))
    async with aclosing(sim_client.stream(_openai(openai_sim), HELLO)) as stream:
        async for event in stream:
            if isinstance(event, TextDelta):
                break
    # wait in a thread: the socket close itself needs this event loop to run
    assert await asyncio.to_thread(
        openai_sim.wait_for_stats, lambda s: s.client_disconnects >= 1, 5
    )


async def test_cancelled_task_closes_the_upstream_connection(sim_client, anthropic_sim):
    anthropic_sim.enqueue(Script(chunks=[f"w{i} " for i in range(50)], chunk_delay=0.05))
    model = _model(anthropic_sim, "claude", "anthropic", "claude-haiku-4-5")
    first = asyncio.Event()

    async def consume() -> None:
        async for event in sim_client.stream(model, HELLO):
            if isinstance(event, TextDelta):
                first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    stats_ok = await asyncio.to_thread(
        anthropic_sim.wait_for_stats, lambda s: s.client_disconnects >= 1, 5
    )
    assert stats_ok


async def test_hung_upstream_times_out(openai_sim):
    openai_sim.enqueue(Script(hang=True))
    client = _no_retry_client(transport=HttpTransport(read_timeout=0.3))
    try:
        with pytest.raises(errors.ProviderTimeoutError):
            await client.chat(_openai(openai_sim), HELLO)
    finally:
        await client.aclose()


async def test_embeddings(sim_client, openai_sim, ollama_sim, tgi_sim):
    for model in (
        _model(openai_sim, "emb", "openai", "text-embedding-3-small"),
        _model(ollama_sim, "emb-local", "ollama", "nomic-embed-text"),
        _model(tgi_sim, "emb-tei", "huggingface", "tei", options={"hf_api": "tgi"}),
    ):
        result = await sim_client.embed(model, ["one", "two"])
        assert len(result.vectors) == 2
        assert all(len(v) > 0 for v in result.vectors)


# --- connection tests -----------------------------------------------------------------------


async def test_connection_ok_for_every_flavour(sim_client, flavour):
    _, model = flavour
    result = await sim_client.test_connection(model)
    assert (result.ok, result.reason) == (True, None), result.message


async def test_connection_bad_key(sim_client, openai_sim, anthropic_sim, azure_sim):
    for model in (
        _openai(openai_sim),
        _model(anthropic_sim, "claude", "anthropic", "claude-haiku-4-5"),
        _model(azure_sim, "azure", "azure", "gpt-4o-mini"),
    ):
        wrong = Secret("sk-wrong-key-abcdefgh-9999")
        from dataclasses import replace

        result = await sim_client.test_connection(replace(model, api_key=wrong))
        assert (result.ok, result.reason) == (False, "bad_key"), model.provider
        assert "sk-wrong-key-abcdefgh-9999" not in result.message


async def test_connection_unknown_model():
    sim = SimulatorServer("openai", api_key="sk-sim-1234", models=["gpt-4o-mini"]).start()
    client = UnifiedLLMClient()
    try:
        result = await client.test_connection(_model(sim, "x", "openai", "gpt-nonexistent"))
        assert (result.ok, result.reason) == (False, "unknown_model")
        assert (await client.test_connection(_openai(sim))).ok
    finally:
        await client.aclose()
        sim.stop()


async def test_connection_unreachable(sim_client, unused_tcp_port):
    model = ModelConfig(
        id="x", name="x", provider="openai", base_url=f"http://127.0.0.1:{unused_tcp_port}/v1",
        model_id="gpt-4o-mini", api_key=Secret("sk-abcdefgh1234"), is_global=True,
    )  # fmt: skip
    result = await sim_client.test_connection(model)
    assert (result.ok, result.reason) == (False, "unreachable")


async def test_connection_timeout(ollama_sim):
    ollama_sim.enqueue(Script(hang=True, match={"path": "/api/tags"}))
    client = UnifiedLLMClient(connection_test_timeouts=Timeouts(connect=1, read=0.3, total=2))
    try:
        result = await client.test_connection(_model(ollama_sim, "local", "ollama", "llama3.2"))
    finally:
        await client.aclose()
    assert (result.ok, result.reason) == (False, "timeout")


# --- bad input end to end -------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["html", "empty", "bad_json_chunk"])
async def test_a_broken_body_is_a_typed_error(flavour, kind):
    sim, model = flavour
    sim.enqueue(Script(malformed=kind))  # type: ignore[arg-type]
    client = _no_retry_client()
    try:
        with pytest.raises(errors.UnexpectedResponseError):
            await client.chat(model, HELLO)
    finally:
        await client.aclose()


async def test_an_error_inside_a_200_is_a_typed_error(flavour):
    sim, model = flavour
    sim.enqueue(Script(malformed="error_in_200", error_message="model crashed"))
    client = _no_retry_client()
    try:
        with pytest.raises(errors.ProviderError) as info:
            await client.chat(model, HELLO)
    finally:
        await client.aclose()
    assert "model crashed" in str(info.value)


async def test_an_error_event_after_output_interrupts_the_stream(flavour):
    sim, model = flavour
    sim.enqueue(
        Script(
            chunks=["a ", "b ", "c ", "d "], malformed="error_event_midstream", error_message="x"
        )
    )
    client = _no_retry_client()
    try:
        with pytest.raises(errors.StreamInterruptedError):
            await collect(client.stream(model, HELLO))
    finally:
        await client.aclose()


async def test_tls_failure_is_reported_as_such(sim_client, openai_sim):
    # https to a plain-HTTP port: the TLS handshake fails on loopback
    model = _openai(openai_sim, base_url=openai_sim.base_url.replace("http://", "https://"))
    result = await sim_client.test_connection(model)
    assert (result.ok, result.reason) == (False, "tls_error"), result.message


async def test_waiting_for_a_free_connection_does_not_open_the_breaker(openai_sim):
    """A wait for our own connection pool is not the upstream failing: with the only
    connection held by a slow stream, calls that find no free connection fail with a pool
    error that names the setting, the breaker stays closed, and once the slot is free the
    next call is served."""
    breakers = CircuitBreakerRegistry(failure_threshold=2, cooldown=60)
    transport = HttpTransport(connect_timeout=0.25, read_timeout=5, total_timeout=20, limit=1)
    client = _no_retry_client(transport=transport, breaker=breakers)
    model = _openai(openai_sim)
    openai_sim.enqueue(Script(chunks=[f"w{i} " for i in range(200)], chunk_delay=0.05))
    try:
        async with aclosing(client.stream(model, HELLO)) as slow:
            async for event in slow:  # the stream is open: it holds the only connection
                if isinstance(event, TextDelta):
                    break
            for _ in range(breakers.failure_threshold + 1):
                with pytest.raises(errors.ProviderTimeoutError) as caught:
                    await client.chat(model, HELLO)
                assert not isinstance(caught.value, errors.CircuitOpenError)
                assert caught.value.reason == "pool"
                assert "MODELREG_UPSTREAM_MAX_CONNECTIONS=1" in caught.value.message
            assert breakers.state(model.id) is BreakerState.CLOSED
        # the slow stream is closed: its connection is free again
        assert (await client.chat(model, HELLO)).text
        assert breakers.state(model.id) is BreakerState.CLOSED
    finally:
        await client.aclose()
