"""/api/chat streams: server-side tool rounds through the client's tool loop (each round's
messages stored, usage summed over rounds, the events the client sees), and a client that
hangs up before the usage frame is still billed. Real HTTP against the simulators."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import httpx
import orjson

from modelreg.simulators import Script, ScriptedToolCall, SimulatorServer
from tests.fixtures.server import LiveServer
from tests.gateway.helpers import (
    IN_PRICE,
    OUT_PRICE,
    create_model,
    stream_chat,
    unique,
    usage_events,
)


def server_tool(server: LiveServer) -> str:
    """A server-side tool, registered under a name of its own, that answers the time."""
    name = unique("clock").replace("-", "_")
    server.services.chat.tools.register(
        name, "The time", {"type": "object", "properties": {}}, lambda args: "12:00 UTC"
    )
    return name


def stored_messages(http: httpx.Client, conversation_id: str, count: int) -> list[dict[str, Any]]:
    """The conversation's messages once `count` are stored (the save after a client left
    runs in the background; a pass returns as soon as it lands)."""
    deadline = time.monotonic() + 30
    while True:
        messages: list[dict[str, Any]] = http.get(f"/api/conversations/{conversation_id}").json()[
            "messages"
        ]
        if len(messages) >= count or time.monotonic() > deadline:
            return messages
        time.sleep(0.05)


def test_streamed_server_tool_rounds_store_each_round_and_sum_the_usage(
    live_server: LiveServer, user: str, openai_sim: SimulatorServer
) -> None:
    model = create_model(live_server, user, openai_sim)
    clock = server_tool(live_server)
    openai_sim.enqueue(
        Script(tool_calls=[ScriptedToolCall(clock, {}, id="call_1")], usage=(10, 2)),
        Script(tool_calls=[ScriptedToolCall(clock, {}, id="call_2")], usage=(20, 3)),
        Script(chunks=["It is ", "now."], usage=(30, 4)),
    )  # fmt: skip
    with live_server.client(user) as http:
        events = stream_chat(http, {"model_id": model["id"], "message": "time?", "tools": [clock]})
        kinds = [k for k, _ in events]
        assert kinds == [
            "meta",
            "tool_call", "tool_result",
            "tool_call", "tool_result",
            "text_delta", "text_delta",
            "usage", "done",
        ]  # fmt: skip
        calls = [d for k, d in events if k == "tool_call"]
        assert [(c["id"], c["executed_by"]) for c in calls] == [
            ("call_1", "server"),
            ("call_2", "server"),
        ]
        results = [d for k, d in events if k == "tool_result"]
        assert [r["id"] for r in results] == ["call_1", "call_2"]
        assert [r["content"] for r in results] == ["12:00 UTC", "12:00 UTC"]
        usage = dict(events[-2][1])
        assert (usage["input_tokens"], usage["output_tokens"]) == (60, 9)
        done = events[-1][1]
        assert done["content"] == "It is now."
        assert done["status"] == "complete"
        assert Decimal(done["cost"]) == 60 * IN_PRICE + 9 * OUT_PRICE
        conv = http.get(f"/api/conversations/{done['conversation_id']}").json()
    roles = [(m["role"], m.get("tool_call_id")) for m in conv["messages"]]
    assert roles == [
        ("user", None),
        ("assistant", None), ("tool", "call_1"),
        ("assistant", None), ("tool", "call_2"),
        ("assistant", None),
    ]  # fmt: skip
    first_round, second_round = conv["messages"][1], conv["messages"][3]
    assert [c["id"] for c in first_round["tool_calls"]] == ["call_1"]
    assert [c["id"] for c in second_round["tool_calls"]] == ["call_2"]
    assert conv["messages"][-1]["usage"]["input_tokens"] == 60
    assert conv["messages"][-1]["usage"]["output_tokens"] == 9
    # the second and third requests carried the rounds before them
    third = openai_sim.requests[-1].json["messages"]
    assert [m["role"] for m in third] == ["user", "assistant", "tool", "assistant", "tool"]
    (row,) = usage_events(live_server, model["id"])
    assert (row.input_tokens, row.output_tokens, row.status) == (60, 9, "ok")


def test_a_call_to_a_client_tool_ends_the_streamed_turn(
    live_server: LiveServer, user: str, openai_sim: SimulatorServer
) -> None:
    model = create_model(live_server, user, openai_sim)
    clock = server_tool(live_server)
    openai_sim.enqueue(
        Script(tool_calls=[ScriptedToolCall("lookup", {"q": "x"}, id="c1")], usage=(5, 1))
    )
    lookup = {"function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}
    with live_server.client(user) as http:
        events = stream_chat(
            http, {"model_id": model["id"], "message": "go", "tools": [clock, lookup]}
        )
    assert [k for k, _ in events] == ["meta", "tool_call", "usage", "done"]
    done = events[-1][1]
    assert [c["id"] for c in done["tool_calls"]] == ["c1"]
    assert done["finish_reason"] == "tool_calls"
    assert len(openai_sim.requests) == 1


def test_stream_left_before_the_usage_frame_stores_and_books_the_real_usage(
    live_server: LiveServer, user: str, openai_sim: SimulatorServer
) -> None:
    model = create_model(live_server, user, openai_sim)
    openai_sim.enqueue(Script(chunks=["Hello ", "there"], usage=(100, 500), chunk_delay=0.4))
    text = ""
    with live_server.client(user) as http:
        body = {"model_id": model["id"], "message": "hi", "stream": True}
        with http.stream("POST", "/api/chat", json=body) as answer:
            for line in answer.iter_lines():
                if not line.startswith("data:"):
                    continue
                data = orjson.loads(line[5:])
                if "conversation_id" in data and "message_id" in data and not text:
                    conv_id = data["conversation_id"]
                text += data.get("text", "")
                if text == "Hello there":
                    break  # all text read: hang up before the usage and done events
        messages = stored_messages(http, conv_id, 2)
    assert len(messages) == 2, "the answer was never stored"
    stored = messages[-1]
    assert stored["status"] == "incomplete"
    assert stored["content"] == "Hello there"
    assert (stored["usage"]["input_tokens"], stored["usage"]["output_tokens"]) == (100, 500)
    assert Decimal(stored["cost"]) == 100 * IN_PRICE + 500 * OUT_PRICE
    (row,) = usage_events(live_server, model["id"])
    assert (row.input_tokens, row.output_tokens, row.estimated) == (100, 500, False)
    assert Decimal(row.cost) == 100 * IN_PRICE + 500 * OUT_PRICE


def test_stream_left_where_usage_never_comes_books_an_estimate(
    live_server: LiveServer, user: str, openai_sim: SimulatorServer
) -> None:
    model = create_model(live_server, user, openai_sim, options={"include_usage": False})
    openai_sim.enqueue(Script(chunks=["first ", *["more "] * 40], chunk_delay=0.1))
    with live_server.client(user) as http:
        body = {"model_id": model["id"], "message": "hi", "stream": True}
        with http.stream("POST", "/api/chat", json=body) as answer:
            lines = (line for line in answer.iter_lines() if line.startswith("data:"))
            conv_id = orjson.loads(next(lines)[5:])["conversation_id"]
            next(lines)  # the first text delta
        messages = stored_messages(http, conv_id, 2)
    stored = messages[-1]
    assert stored["status"] == "incomplete"
    assert stored["content"].startswith("first ")
    assert stored["usage"]["output_tokens"] > 0
    (row,) = usage_events(live_server, model["id"])
    assert row.estimated is True
    assert row.input_tokens > 0
    assert row.output_tokens > 0
