"""A client that reads a translated stream up to the finish and hangs up before the usage
frame is still billed: the upstream is read on for a grace and its usage booked, or, where
no usage ever comes, an estimate marked as such (issue 14, item 1). Real HTTP, simulators."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import orjson

from modelreg.simulators import Script, SimulatorServer
from tests.fixtures.server import LiveServer
from tests.gateway.helpers import IN_PRICE, OUT_PRICE, create_model, usage_events

# the pause between the simulator's frames: the finish frame and the usage frame are apart,
# so the client can hang up in between; well under the gateway's 2 s grace
GAP = 0.4


def read_until(
    http: httpx.Client,
    path: str,
    body: dict[str, Any],
    stop: Callable[[dict[str, Any]], bool],
    headers: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """POST a stream, read its data frames until `stop` says so, then close the connection."""
    seen: list[dict[str, Any]] = []
    with http.stream("POST", path, json=body, headers=headers) as answer:
        assert answer.status_code == 200, answer.read()
        for line in answer.iter_lines():
            if not line.startswith("data:") or line == "data: [DONE]":
                continue
            seen.append(orjson.loads(line[5:]))
            if stop(seen[-1]):
                return seen
    raise AssertionError(f"the stream ended before the stop frame: {seen}")


def finished(frame: dict[str, Any]) -> bool:
    return any(c.get("finish_reason") for c in frame.get("choices") or ())


def text_read(whole: str) -> Callable[[dict[str, Any]], bool]:
    """Stop once all of `whole` was read (the OpenAI adapter holds the finish back until the
    usage came, so this is the last moment a client can hang up before the usage)."""
    seen: list[str] = []

    def stop(frame: dict[str, Any]) -> bool:
        seen.extend(c["delta"].get("content") or "" for c in frame.get("choices") or ())
        return "".join(seen) == whole

    return stop


def translated_model(
    server: LiveServer, user: str, sim: SimulatorServer, claude: SimulatorServer, **fields: Any
) -> tuple[str, str]:
    """(asked, serving) model ids, where an OpenAI-compatible model serves translated: the
    chain starts at an Anthropic model, out of credit for the next request, so the request is
    translated from there on. (A chain of OpenAI-compatible models is forwarded as bytes.)"""
    serving = create_model(server, user, sim, **fields)
    claude.enqueue(Script(status=402, error_message="Your credit balance is too low"))
    asked = create_model(server, user, claude, fallback_model_ids=[serving["id"]])
    return str(asked["id"]), str(serving["id"])


def test_openai_translated_stream_left_before_usage_books_the_real_usage(
    live_server: LiveServer, user: str, openai_sim: SimulatorServer, anthropic_sim: SimulatorServer
) -> None:
    model_id, served_id = translated_model(live_server, user, openai_sim, anthropic_sim)
    openai_sim.enqueue(Script(chunks=["Hello ", "there"], usage=(100, 500), chunk_delay=GAP))
    with live_server.client(user) as http:
        frames = read_until(
            http, "/v1/chat/completions",
            {"model": model_id, "stream": True, "messages": [{"role": "user", "content": "hi"}]},
            text_read("Hello there"),
        )  # fmt: skip
    assert not any(finished(f) for f in frames)
    (row,) = usage_events(live_server, served_id)
    assert (row.input_tokens, row.output_tokens) == (100, 500)
    assert Decimal(row.cost) == 100 * IN_PRICE + 500 * OUT_PRICE
    assert row.estimated is False
    assert row.status == "ok"  # the upstream finished within the grace


def test_openai_translated_stream_without_any_usage_books_an_estimate(
    live_server: LiveServer, user: str, openai_sim: SimulatorServer, anthropic_sim: SimulatorServer
) -> None:
    # a server that never reports usage: the options switch the usage request off
    model_id, served_id = translated_model(
        live_server, user, openai_sim, anthropic_sim, options={"include_usage": False}
    )
    openai_sim.enqueue(Script(chunks=["Twelve chars", " and more text"], chunk_delay=GAP))
    with live_server.client(user) as http:
        read_until(
            http, "/v1/chat/completions",
            {"model": model_id, "stream": True, "messages": [{"role": "user", "content": "hi"}]},
            finished,
        )  # fmt: skip
    assert "stream_options" not in (openai_sim.requests[-1].json or {})
    (row,) = usage_events(live_server, served_id)
    assert row.estimated is True
    assert row.input_tokens > 0
    assert row.output_tokens >= len("Twelve chars and more text") // 4
    assert Decimal(row.cost) > 0


def test_anthropic_messages_stream_left_before_usage_books_the_real_usage(
    live_server: LiveServer, user: str, openai_sim: SimulatorServer
) -> None:
    model = create_model(live_server, user, openai_sim)
    openai_sim.enqueue(Script(chunks=["Hello ", "there"], usage=(100, 500), chunk_delay=GAP))
    body = {
        "model": model["id"],
        "max_tokens": 100,
        "stream": True,
        "messages": [{"role": "user", "content": "hi"}],
    }
    with live_server.client(user) as http:
        seen: list[str] = []

        def all_text(frame: dict[str, Any]) -> bool:
            seen.append(frame.get("delta", {}).get("text") or "")
            return "".join(seen) == "Hello there"

        read_until(http, "/v1/messages", body, all_text, {"anthropic-version": "2023-06-01"})
    (row,) = usage_events(live_server, model["id"])
    assert (row.input_tokens, row.output_tokens) == (100, 500)
    assert Decimal(row.cost) == 100 * IN_PRICE + 500 * OUT_PRICE
    assert row.estimated is False
