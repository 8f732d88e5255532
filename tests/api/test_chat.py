"""POST /api/chat over real HTTP against the provider simulators."""

from __future__ import annotations

import time
from decimal import Decimal

import orjson
import pytest

from modelreg.simulators import Script, SimulatorServer
from tests.fixtures.server import LiveServer
from tests.gateway.helpers import IN_PRICE, OUT_PRICE, create_model, stream_chat, unique


def test_json_turn_stores_usage_cost_and_model(
    live_server: LiveServer, user: str, openai_sim: SimulatorServer
) -> None:
    model = create_model(live_server, user, openai_sim)
    openai_sim.enqueue(Script(text="Hello there", usage=(12, 7)))
    with live_server.client(user) as http:
        answer = http.post("/api/chat", json={"model_id": model["name"], "message": "Hi"})
        assert answer.status_code == 200, answer.text
        data = answer.json()
        assert data["content"] == "Hello there"
        assert data["model"] == {"id": model["id"], "name": model["name"]}
        assert data["usage"]["input_tokens"] == 12
        assert data["usage"]["output_tokens"] == 7
        assert Decimal(data["cost"]) == 12 * IN_PRICE + 7 * OUT_PRICE
        assert data["status"] == "complete"
        assert data["finish_reason"] == "stop"

        conv = http.get(f"/api/conversations/{data['conversation_id']}").json()
    user_msg, assistant = conv["messages"]
    assert (user_msg["role"], user_msg["content"]) == ("user", "Hi")
    assert assistant["id"] == data["message_id"]
    assert assistant["model"] == {"id": model["id"], "name": model["name"]}
    assert assistant["usage"]["input_tokens"] == 12
    assert Decimal(assistant["cost"]) == 12 * IN_PRICE + 7 * OUT_PRICE
    assert assistant["latency_ms"] > 0
    assert assistant["ttft_ms"] is not None
    assert openai_sim.requests[-1].json["messages"][-1]["content"] == "Hi"


def test_conversation_switching_models_records_both(
    live_server: LiveServer, user: str, openai_sim: SimulatorServer
) -> None:
    first = create_model(live_server, user, openai_sim, model_id="model-a")
    second = create_model(
        live_server,
        user,
        openai_sim,
        model_id="model-b",
        price_per_input_token="0.001",
        price_per_output_token="0.002",
    )
    openai_sim.enqueue(Script(text="from A", usage=(5, 3)), Script(text="from B", usage=(9, 4)))
    with live_server.client(user) as http:
        a = http.post("/api/chat", json={"model_id": first["id"], "message": "one"}).json()
        b = http.post(
            "/api/chat",
            json={
                "conversation_id": a["conversation_id"],
                "model_id": second["name"],
                "message": "two",
            },
        ).json()
        assert b["conversation_id"] == a["conversation_id"]
        conv = http.get(f"/api/conversations/{a['conversation_id']}").json()
    answers = [m for m in conv["messages"] if m["role"] == "assistant"]
    assert [m["model"]["name"] for m in answers] == [first["name"], second["name"]]
    assert [m["content"] for m in answers] == ["from A", "from B"]
    assert Decimal(answers[0]["cost"]) == 5 * IN_PRICE + 3 * OUT_PRICE
    assert Decimal(answers[1]["cost"]) == 9 * Decimal("0.001") + 4 * Decimal("0.002")
    assert Decimal(conv["total_cost"]) == Decimal(answers[0]["cost"]) + Decimal(answers[1]["cost"])
    # the second request carried the whole conversation to model B
    sent = openai_sim.requests[-1].json
    assert sent["model"] == "model-b"
    assert [m["content"] for m in sent["messages"]] == ["one", "from A", "two"]
    # the conversation now defaults to the model named last
    assert conv["llm_model_id"] == second["id"]


def test_default_model_fallback_uses_users_default(
    live_server: LiveServer, openai_sim: SimulatorServer
) -> None:
    token = live_server.create_user()
    model = create_model(live_server, token, openai_sim, model_id="my-default")
    with live_server.client(token) as http:
        answer = http.patch("/api/users/me", json={"default_model_id": model["id"]})
        assert answer.status_code == 200, answer.text
        data = http.post("/api/chat", json={"message": "hi"}).json()
    assert data["model"]["id"] == model["id"]
    assert openai_sim.requests[-1].json["model"] == "my-default"


def test_conversation_model_is_used_when_request_names_none(
    live_server: LiveServer, user: str, openai_sim: SimulatorServer
) -> None:
    model = create_model(live_server, user, openai_sim, model_id="conv-model")
    with live_server.client(user) as http:
        conv = http.post("/api/conversations", json={"llm_model_id": model["name"]}).json()
        data = http.post("/api/chat", json={"conversation_id": conv["id"], "message": "hi"}).json()
    assert data["model"]["id"] == model["id"]
    assert openai_sim.requests[-1].json["model"] == "conv-model"


def test_streaming_events_and_stored_message(
    live_server: LiveServer, user: str, openai_sim: SimulatorServer
) -> None:
    model = create_model(live_server, user, openai_sim)
    openai_sim.enqueue(Script(chunks=["Hel", "lo ", "world"], usage=(4, 3)))
    with live_server.client(user) as http:
        events = stream_chat(http, {"model_id": model["id"], "message": "hi"})
        kinds = [k for k, _ in events]
        assert kinds[0] == "meta"
        assert kinds[-2:] == ["usage", "done"]
        text = "".join(d["text"] for k, d in events if k == "text_delta")
        assert text == "Hello world"
        meta, done = events[0][1], events[-1][1]
        assert done["message_id"] == meta["message_id"]
        assert done["status"] == "complete"
        assert Decimal(done["cost"]) == 4 * IN_PRICE + 3 * OUT_PRICE
        conv = http.get(f"/api/conversations/{meta['conversation_id']}").json()
    stored = conv["messages"][-1]
    assert (stored["id"], stored["content"], stored["status"]) == (
        meta["message_id"],
        "Hello world",
        "complete",
    )
    assert stored["usage"]["output_tokens"] == 3
    assert stored["ttft_ms"] is not None


def test_stream_cut_upstream_ends_with_error_and_incomplete_message(
    live_server: LiveServer, user: str, openai_sim: SimulatorServer
) -> None:
    model = create_model(live_server, user, openai_sim)
    openai_sim.enqueue(Script(chunks=["partial ", "answer ", "never ends"], cut_after=2))
    with live_server.client(user) as http:
        events = stream_chat(http, {"model_id": model["id"], "message": "hi"})
        kind, error = events[-1]
        assert kind == "error"
        assert error["status"] == "incomplete"
        assert error["type"]
        text = "".join(d["text"] for k, d in events if k == "text_delta")
        assert text  # something arrived before the cut
        conv = http.get(f"/api/conversations/{events[0][1]['conversation_id']}").json()
    stored = conv["messages"][-1]
    assert stored["status"] == "incomplete"
    assert stored["content"] == text
    assert stored["error"]


def test_unknown_conversation_and_model_are_404_without_rows(
    live_server: LiveServer, user: str, openai_sim: SimulatorServer
) -> None:
    with live_server.client(user) as http:
        before = http.get("/api/conversations").json()
        missing = http.post("/api/chat", json={"model_id": unique("nope"), "message": "hi"})
        assert missing.status_code == 404
        assert missing.json()["error"]["type"] == "not_found"
        unknown_conv = http.post(
            "/api/chat",
            json={"conversation_id": "00000000-0000-4000-8000-000000000000", "message": "x"},
        )
        assert unknown_conv.status_code == 404
        assert http.get("/api/conversations").json() == before


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"message": 5}, 422),
        ({"message": "x", "messages": [{"role": "user", "content": "y"}]}, 422),
        ({}, 422),
        ({"message": "x", "stream": "yes"}, 422),
        ({"message": "x", "unexpected": 1}, 422),
        ({"messages": [{"role": "tool", "content": "y"}]}, 422),
        ({"message": "x", "tools": ["no_such_server_tool"]}, 422),
    ],
)
def test_bad_input_is_a_clear_4xx_without_rows(
    live_server: LiveServer, user: str, openai_sim: SimulatorServer, body: dict, status: int
) -> None:
    model = create_model(live_server, user, openai_sim)
    with live_server.client(user) as http:
        before = http.get("/api/conversations").json()
        answer = http.post("/api/chat", json={"model_id": model["id"], **body})
        assert answer.status_code == status, answer.text
        assert answer.json()["error"]["message"]
        assert http.get("/api/conversations").json() == before
    assert openai_sim.requests == []


def test_malformed_json_is_400(live_server: LiveServer, user: str) -> None:
    with live_server.client(user) as http:
        answer = http.post(
            "/api/chat", content=b'{"message": ', headers={"content-type": "application/json"}
        )
    assert answer.status_code == 400
    assert answer.json()["error"]["message"]


def test_disabled_model_and_model_without_key_are_refused(
    live_server: LiveServer, user: str, openai_sim: SimulatorServer
) -> None:
    disabled = create_model(live_server, user, openai_sim, enabled=False)
    keyless = create_model(live_server, user, openai_sim, provider="openai")
    with live_server.client(user) as http:
        http.patch(f"/api/models/{keyless['id']}", json={"api_key": ""}).raise_for_status()
        before = http.get("/api/conversations").json()
        off = http.post("/api/chat", json={"model_id": disabled["id"], "message": "hi"})
        assert off.status_code == 404
        nokey = http.post("/api/chat", json={"model_id": keyless["id"], "message": "hi"})
        assert nokey.status_code == 422
        assert nokey.json()["error"]["type"] == "missing_credentials"
        assert http.get("/api/conversations").json() == before
    assert openai_sim.requests == []


def test_client_disconnect_mid_stream_stores_the_text_so_far(
    live_server: LiveServer, user: str, openai_sim: SimulatorServer
) -> None:
    model = create_model(live_server, user, openai_sim)
    openai_sim.enqueue(Script(chunks=["first ", *["more "] * 50], chunk_delay=0.1))
    with live_server.client(user) as http:
        with http.stream(
            "POST", "/api/chat", json={"model_id": model["id"], "message": "hi", "stream": True}
        ) as answer:
            lines = answer.iter_lines()
            meta = next(line for line in lines if line.startswith("data:"))
            next(line for line in lines if line.startswith("data:"))  # first text delta
        conv_id = orjson.loads(meta[5:])["conversation_id"]
        stored: dict = {}
        # the save runs in the background once the server sees the close: poll for it, with a
        # deadline generous enough for a loaded CI machine (a pass returns as soon as it lands)
        deadline = time.monotonic() + 30
        while not stored and time.monotonic() < deadline:
            messages = http.get(f"/api/conversations/{conv_id}").json()["messages"]
            if len(messages) == 2:
                stored = messages[-1]
            else:
                time.sleep(0.05)
    assert stored, "the partial answer was never stored"
    assert stored["status"] == "incomplete"
    assert stored["content"].startswith("first ")
    assert len(stored["content"]) < len("first " + "more " * 50)
