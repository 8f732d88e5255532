"""A stopped answer keeps its numbers (issue 12, "stopped answers lose their numbers"): a
client that stops an /api/chat stream mid-way — a real HTTP stream, closed after a few text
deltas of a slow simulator answer — leaves a stored message and a usage event with the
tokens used and their cost: the upstream's usage where it came within the grace, else an
estimate marked as such. On SQLite and PostgreSQL."""

from __future__ import annotations

import time
import uuid
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import select

from modelreg.actor import SYSTEM
from modelreg.db.models import UsageEvent
from modelreg.simulators import Script, SimulatorServer
from tests.fixtures.server import LiveServer
from tests.gateway.helpers import IN_PRICE, OUT_PRICE, create_model, parse_sse


def stop_after(
    http: httpx.Client, body: dict[str, Any], deltas: int, sent_to: SimulatorServer | None = None
) -> dict[str, Any]:
    """Stream /api/chat, close the connection after `deltas` text deltas (and, with `sent_to`,
    once that simulator has the request: a reader gone before the call uses nothing); the
    meta event."""
    meta: dict[str, Any] = {}
    seen = 0
    with http.stream("POST", "/api/chat", json={**body, "stream": True}) as answer:
        assert answer.status_code == 200
        buffer = b""
        for chunk in answer.iter_bytes():
            buffer += chunk
            *blocks, buffer = buffer.split(b"\n\n")
            for name, data in parse_sse(b"\n\n".join(blocks) + b"\n\n") if blocks else []:
                if name == "meta":
                    meta = data
                elif name == "text_delta":
                    seen += 1
            if seen >= deltas:
                deadline = time.monotonic() + 10
                while sent_to is not None and not sent_to.requests:
                    assert time.monotonic() < deadline, "the upstream call never started"
                    time.sleep(0.02)
                break  # leaving the block closes the connection mid-stream
    return meta


def stored_answer(http: httpx.Client, conversation_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        got = http.get(f"/api/conversations/{conversation_id}")
        if got.status_code == 200:
            answers = [m for m in got.json()["messages"] if m["role"] == "assistant"]
            if answers:
                found: dict[str, Any] = answers[-1]
                return found
        assert time.monotonic() < deadline, "the stopped answer was never stored"
        time.sleep(0.1)


def usage_event(server: LiveServer, model_id: str) -> UsageEvent:
    async def read() -> UsageEvent:
        await server.services.usage.flush()
        async with server.services.db.session(SYSTEM) as session:
            rows = list(
                await session.scalars(
                    select(UsageEvent).where(UsageEvent.llm_model_id == uuid.UUID(model_id))
                )
            )
        assert len(rows) == 1
        return rows[0]

    return server.run(read())


def test_a_stopped_answer_keeps_an_estimate_of_its_tokens_marked_as_such(
    server: LiveServer, openai_sim: SimulatorServer
) -> None:
    token = server.create_user()
    model = create_model(server, token, openai_sim)
    # 60 chunks 0.1 s apart: the usage frame would come long after the 2 s grace
    openai_sim.enqueue(Script(chunks=["word "] * 60, chunk_delay=0.1, usage=(999, 999)))
    with server.client(token) as http:
        meta = stop_after(http, {"model_id": model["id"], "message": "tell me"}, deltas=3)
        answer = stored_answer(http, meta["conversation_id"])
    assert answer["status"] == "incomplete"
    usage = answer["usage"]
    assert usage is not None
    assert usage["input_tokens"] > 0
    assert usage["output_tokens"] > 0
    assert usage["output_tokens"] < 999  # not the upstream's figure: it never came
    expected = IN_PRICE * usage["input_tokens"] + OUT_PRICE * usage["output_tokens"]
    assert Decimal(answer["cost"]) == expected > 0
    assert answer["usage_estimated"] is True
    event = usage_event(server, model["id"])
    assert event.estimated
    assert (event.input_tokens, event.output_tokens) == (
        usage["input_tokens"],
        usage["output_tokens"],
    )
    assert event.cost == expected


def test_a_stopped_answer_keeps_the_upstreams_usage_when_it_came_in_the_grace(
    server: LiveServer, openai_sim: SimulatorServer
) -> None:
    token = server.create_user()
    model = create_model(server, token, openai_sim)
    # ends 0.5 s after the stop: within the grace, so the upstream's usage is booked
    openai_sim.enqueue(Script(chunks=["word "] * 8, chunk_delay=0.1, usage=(40, 8)))
    with server.client(token) as http:
        meta = stop_after(http, {"model_id": model["id"], "message": "tell me"}, deltas=3)
        answer = stored_answer(http, meta["conversation_id"])
    assert answer["usage"]["input_tokens"] == 40
    assert answer["usage"]["output_tokens"] == 8
    assert Decimal(answer["cost"]) == IN_PRICE * 40 + OUT_PRICE * 8
    assert answer["usage_estimated"] is False
    assert not usage_event(server, model["id"]).estimated


def test_an_answer_stopped_before_its_first_word_keeps_an_estimate_of_the_prompt(
    server: LiveServer, openai_sim: SimulatorServer
) -> None:
    token = server.create_user()
    model = create_model(server, token, openai_sim)
    openai_sim.enqueue(Script(text="late", first_byte_delay=4, usage=(999, 999)))
    with server.client(token) as http:
        body = {"model_id": model["id"], "message": "x" * 400}
        meta = stop_after(http, body, deltas=0, sent_to=openai_sim)
        answer = stored_answer(http, meta["conversation_id"])
    assert answer["usage_estimated"] is True
    assert answer["usage"]["input_tokens"] >= 100  # 400 characters of prompt, ~4 a token
    assert answer["usage"]["output_tokens"] == 0
    assert Decimal(answer["cost"]) == IN_PRICE * answer["usage"]["input_tokens"]
