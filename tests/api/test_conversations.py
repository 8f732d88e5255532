"""Conversations CRUD, isolation between users, the context-enhancement hook and tools."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from modelreg.actor import Actor
from modelreg.chat.enhance import ContextEnhancer
from modelreg.simulators import Script, ScriptedToolCall, SimulatorServer
from modelreg.types import Message
from tests.fixtures.server import LiveServer
from tests.gateway.helpers import create_model, stream_chat, unique


def test_crud(live_server: LiveServer, user: str, openai_sim: SimulatorServer) -> None:
    model = create_model(live_server, user, openai_sim)
    with live_server.client(user) as http:
        created = http.post("/api/conversations", json={"title": "Plans"})
        assert created.status_code == 201
        conv = created.json()
        assert (conv["title"], conv["llm_model_id"]) == ("Plans", None)
        listed = http.get("/api/conversations").json()
        assert conv["id"] in [c["id"] for c in listed]

        patched = http.patch(
            f"/api/conversations/{conv['id']}",
            json={"title": "Trip plans", "llm_model_id": model["name"]},
        ).json()
        assert (patched["title"], patched["llm_model_id"]) == ("Trip plans", model["id"])
        cleared = http.patch(f"/api/conversations/{conv['id']}", json={"llm_model_id": None})
        assert cleared.json()["llm_model_id"] is None
        bad_model = http.patch(
            f"/api/conversations/{conv['id']}", json={"llm_model_id": unique("nope")}
        )
        assert bad_model.status_code == 404

        detail = http.get(f"/api/conversations/{conv['id']}").json()
        assert detail["messages"] == []
        assert http.delete(f"/api/conversations/{conv['id']}").status_code == 204
        assert http.get(f"/api/conversations/{conv['id']}").status_code == 404


def test_two_users_cannot_touch_each_others_conversations(
    live_server: LiveServer, user: str, openai_sim: SimulatorServer
) -> None:
    model = create_model(live_server, user, openai_sim)
    intruder = live_server.create_user()
    with live_server.client(user) as http:
        mine = http.post("/api/chat", json={"model_id": model["id"], "message": "secret"}).json()
    conv_id = mine["conversation_id"]
    with live_server.client(intruder) as http:
        assert http.get(f"/api/conversations/{conv_id}").status_code == 404
        assert conv_id not in [c["id"] for c in http.get("/api/conversations").json()]
        assert http.patch(f"/api/conversations/{conv_id}", json={"title": "x"}).status_code == 404
        assert http.delete(f"/api/conversations/{conv_id}").status_code == 404
        # nor post into it, nor use the owner's model by id or name
        into = http.post("/api/chat", json={"conversation_id": conv_id, "message": "hi"})
        assert into.status_code == 404
        for ref in (model["id"], model["name"]):
            assert http.post("/api/chat", json={"model_id": ref, "message": "x"}).status_code == 404
    with live_server.client(user) as http:
        detail = http.get(f"/api/conversations/{conv_id}").json()
    assert detail["title"] != "x"
    assert detail["messages"][0]["content"] == "secret"
    assert len(detail["messages"]) == 2


def test_unauthenticated_is_401(live_server: LiveServer) -> None:
    with live_server.client() as http:
        assert http.get("/api/conversations").status_code == 401
        assert http.post("/api/chat", json={"message": "x"}).status_code == 401


class RetrievalEnhancer:
    """A stand-in for a retrieval component: adds a system message with 'found' context."""

    def __init__(self) -> None:
        self.calls: list[uuid.UUID] = []

    async def enhance(
        self, actor: Actor, conversation_id: uuid.UUID, messages: Sequence[Message]
    ) -> Sequence[Message]:
        self.calls.append(conversation_id)
        context = Message(role="system", content="Context: the launch code is 7-2-4.")
        return [context, *messages]


@pytest.fixture
def enhancer(live_server: LiveServer) -> Iterator[RetrievalEnhancer]:
    chat = live_server.services.chat
    plugged = RetrievalEnhancer()
    assert isinstance(plugged, ContextEnhancer)
    previous, chat.enhancer = chat.enhancer, plugged
    try:
        yield plugged
    finally:
        chat.enhancer = previous


def test_enhancer_context_reaches_the_model_but_is_not_stored(
    live_server: LiveServer, user: str, openai_sim: SimulatorServer, enhancer: RetrievalEnhancer
) -> None:
    model = create_model(live_server, user, openai_sim)
    with live_server.client(user) as http:
        data = http.post("/api/chat", json={"model_id": model["id"], "message": "code?"}).json()
        stream_chat(http, {"conversation_id": data["conversation_id"], "message": "again?"})
        stored = http.get(f"/api/conversations/{data['conversation_id']}").json()["messages"]
    sent = [r.json["messages"] for r in openai_sim.requests]
    assert all(m[0] == {"role": "system", "content": "Context: the launch code is 7-2-4."}
               for m in sent)  # fmt: skip
    assert enhancer.calls == [uuid.UUID(data["conversation_id"])] * 2
    assert "launch code" not in str([m["content"] for m in stored])


def test_server_side_tool_runs_in_the_loop(
    live_server: LiveServer, user: str, openai_sim: SimulatorServer
) -> None:
    name = unique("lookup").replace("-", "_")
    seen: list[dict[str, Any]] = []

    async def lookup(args: dict[str, Any]) -> dict[str, Any]:
        seen.append(args)
        return {"population": 2_100_000}

    live_server.services.chat.tools.register(
        name, "Population of a city", {"type": "object", "properties": {}}, lookup
    )
    model = create_model(live_server, user, openai_sim)
    openai_sim.enqueue(
        Script(tool_calls=[ScriptedToolCall(name, {"city": "Paris"})], usage=(10, 2)),
        Script(text="About 2.1 million.", usage=(30, 5)),
    )
    with live_server.client(user) as http:
        data = http.post(
            "/api/chat", json={"model_id": model["id"], "message": "How many?", "tools": [name]}
        ).json()
        stored = http.get(f"/api/conversations/{data['conversation_id']}").json()["messages"]
    assert data["content"] == "About 2.1 million."
    assert data["usage"]["input_tokens"] == 40  # both rounds
    assert seen == [{"city": "Paris"}]
    assert [m["role"] for m in stored] == ["user", "assistant", "tool", "assistant"]
    assert "2100000" in stored[2]["content"]
    assert '"population"' in str(openai_sim.requests[-1].json["messages"][-1])


def test_client_declared_tool_is_returned_to_the_caller(
    live_server: LiveServer, user: str, openai_sim: SimulatorServer
) -> None:
    model = create_model(live_server, user, openai_sim)
    tool = {
        "type": "function",
        "function": {"name": "open_door", "parameters": {"type": "object", "properties": {}}},
    }
    openai_sim.enqueue(
        Script(tool_calls=[ScriptedToolCall("open_door", {"door": "front"}, id="call_1")]),
        Script(text="The door is open."),
    )
    with live_server.client(user) as http:
        events = stream_chat(http, {"model_id": model["id"], "message": "open", "tools": [tool]})
        calls = [d for k, d in events if k == "tool_call"]
        assert calls[0]["name"] == "open_door"
        assert calls[0]["executed_by"] == "client"
        assert events[-1][1]["tool_calls"][0]["parsed_arguments"] == {"door": "front"}
        conv_id = events[0][1]["conversation_id"]
        follow = http.post(
            "/api/chat",
            json={
                "conversation_id": conv_id,
                "messages": [{"role": "tool", "tool_call_id": "call_1", "content": "opened"}],
                "tools": [tool],
            },
        ).json()
    assert follow["content"] == "The door is open."
    sent = openai_sim.requests[-1].json["messages"]
    assert sent[-2]["tool_calls"][0]["id"] == "call_1"
    assert sent[-1] == {"role": "tool", "tool_call_id": "call_1", "content": "opened"}
