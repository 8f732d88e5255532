"""Retry, Regenerate (alternatives and the selected one in the history) and Edit, over HTTP
on both databases, checked at the provider simulator: what the model received."""

from __future__ import annotations

from typing import Any

import httpx

from modelreg.simulators import Script, SimulatorServer
from tests.api._helpers import assert_error
from tests.fixtures.server import LiveServer
from tests.gateway.helpers import create_model, parse_sse


def _sent(sim: SimulatorServer) -> list[tuple[str, str]]:
    """(role, text) of the messages of the last request the simulator received."""
    out = []
    for m in sim.requests[-1].json["messages"]:
        content = m.get("content")
        if isinstance(content, list):
            content = "".join(p.get("text", "") for p in content if p.get("type") == "text")
        out.append((m["role"], content or ""))
    return out


def _detail(http: httpx.Client, conversation_id: str) -> dict[str, Any]:
    answer = http.get(f"/api/conversations/{conversation_id}")
    assert answer.status_code == 200, answer.text
    detail: dict[str, Any] = answer.json()
    return detail


def _active(detail: dict[str, Any]) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in detail["messages"] if m["active"]]


def _failed_turn(http: httpx.Client, sim: SimulatorServer, model: dict[str, Any]) -> dict[str, Any]:
    """A conversation whose second turn failed at the provider (400: not retried)."""
    sim.enqueue(Script(text="first answer"))
    first = http.post("/api/chat", json={"model_id": model["id"], "message": "one"}).json()
    sim.enqueue(Script(status=400, error_message="the provider refused"))
    failed = http.post(
        "/api/chat", json={"conversation_id": first["conversation_id"], "message": "two"}
    )
    assert failed.status_code >= 400, failed.text
    return first


def test_retry_reuses_the_stored_message_and_leaves_one_answer(
    server: LiveServer, openai_sim: SimulatorServer
) -> None:
    user = server.create_user()
    model = create_model(server, user, openai_sim)
    with server.client(user) as http:
        conv = _failed_turn(http, openai_sim, model)["conversation_id"]
        stored = _detail(http, conv)["messages"]
        assert [(m["role"], m["status"]) for m in stored][-2:] == [
            ("user", "complete"),
            ("assistant", "error"),
        ]
        failed_id = stored[-1]["id"]
        openai_sim.enqueue(Script(text="second answer"))
        retried = http.post(f"/api/conversations/{conv}/messages/{failed_id}/regenerate", json={})
        assert retried.status_code == 200, retried.text
        assert retried.json()["content"] == "second answer"
        # the model got "two" once, right after the first answer
        assert _sent(openai_sim) == [
            ("user", "one"),
            ("assistant", "first answer"),
            ("user", "two"),
        ]
        after = _detail(http, conv)["messages"]
    # the failed turn is gone on the server too: one user message "two", one answer
    assert [(m["role"], m["content"], m["status"]) for m in after] == [
        ("user", "one", "complete"),
        ("assistant", "first answer", "complete"),
        ("user", "two", "complete"),
        ("assistant", "second answer", "complete"),
    ]
    assert after[3]["alternatives"] == [after[3]["id"]]


def test_regenerate_keeps_alternatives_and_history_uses_the_selected_one(
    server: LiveServer, openai_sim: SimulatorServer, anthropic_sim: SimulatorServer
) -> None:
    user = server.create_user()
    model = create_model(server, user, openai_sim)
    other = create_model(server, user, anthropic_sim)
    with server.client(user) as http:
        openai_sim.enqueue(Script(text="answer A"))
        first = http.post("/api/chat", json={"model_id": model["id"], "message": "q1"}).json()
        conv, a_id = first["conversation_id"], first["message_id"]
        anthropic_sim.enqueue(Script(text="answer B"))
        with http.stream(
            "POST",
            f"/api/conversations/{conv}/messages/{a_id}/regenerate",
            json={"model_id": other["id"], "stream": True},
        ) as answer:
            assert answer.status_code == 200
            events = parse_sse(answer.read())
        done = dict(events)["done"]
        assert (done["content"], done["model"]["name"]) == ("answer B", other["name"])
        b_id = done["message_id"]
        # the regenerated request did not carry the old answer nor the question twice
        sent = anthropic_sim.requests[-1].json["messages"]
        assert [m["role"] for m in sent] == ["user"]

        detail = _detail(http, conv)
        answers = [m for m in detail["messages"] if m["role"] == "assistant"]
        assert {m["content"] for m in answers} == {"answer A", "answer B"}
        assert all(m["alternatives"] == [a_id, b_id] for m in answers)
        assert _active(detail) == [("user", "q1"), ("assistant", "answer B")]

        # the next turn's history uses the selected answer (B) ...
        openai_sim.enqueue(Script(text="next"))
        # (a regenerate that names a model makes it the conversation's, as a turn does)
        q2 = {"conversation_id": conv, "message": "q2", "model_id": model["id"]}
        assert http.post("/api/chat", json=q2).status_code == 200
        assert _sent(openai_sim)[:2] == [("user", "q1"), ("assistant", "answer B")]
        # ... and after picking A, A
        assert http.put(f"/api/conversations/{conv}/messages/{a_id}/selected").status_code == 204
        openai_sim.enqueue(Script(text="later"))
        http.post("/api/chat", json={**q2, "message": "q3"})
        assert _sent(openai_sim) == [
            ("user", "q1"),
            ("assistant", "answer A"),
            ("user", "q2"),
            ("assistant", "next"),
            ("user", "q3"),
        ]
        assert _active(_detail(http, conv))[1] == ("assistant", "answer A")
        # a user message is not an alternative to pick
        user_id = detail["messages"][0]["id"]
        bad = http.put(f"/api/conversations/{conv}/messages/{user_id}/selected")
        assert_error(bad, 422, "validation_error", "message_id")


def test_edit_replaces_the_branch_after_the_message(
    server: LiveServer, openai_sim: SimulatorServer
) -> None:
    user = server.create_user()
    model = create_model(server, user, openai_sim)
    with server.client(user) as http:
        openai_sim.enqueue(Script(text="a1"), Script(text="a2"), Script(text="a3"))
        conv = http.post("/api/chat", json={"model_id": model["id"], "message": "q1"}).json()[
            "conversation_id"
        ]
        for text in ("q2", "q3"):
            http.post("/api/chat", json={"conversation_id": conv, "message": text})
        q2 = _detail(http, conv)["messages"][2]
        assert q2["content"] == "q2"
        openai_sim.enqueue(Script(text="a2 edited"))
        edited = http.post(
            f"/api/conversations/{conv}/messages/{q2['id']}/edit", json={"content": "q2 edited"}
        )
        assert edited.status_code == 200, edited.text
        assert _sent(openai_sim) == [("user", "q1"), ("assistant", "a1"), ("user", "q2 edited")]
        detail = _detail(http, conv)
        assert [(m["role"], m["content"]) for m in detail["messages"]] == [
            ("user", "q1"),
            ("assistant", "a1"),
            ("user", "q2 edited"),
            ("assistant", "a2 edited"),
        ]
        # an answer is not editable; an unknown message is 404; nothing changed by either
        a1 = detail["messages"][1]["id"]
        bad = http.post(f"/api/conversations/{conv}/messages/{a1}/edit", json={"content": "x"})
        assert_error(bad, 422, "validation_error", "message_id")
        gone = http.post(
            f"/api/conversations/{conv}/messages/{q2['id']}/edit", json={"content": "x"}
        )
        assert gone.status_code == 404
        assert len(_detail(http, conv)["messages"]) == 4


def test_another_users_conversation_is_404(server: LiveServer, openai_sim: SimulatorServer) -> None:
    owner = server.create_user()
    model = create_model(server, owner, openai_sim)
    with server.client(owner) as http:
        first = http.post("/api/chat", json={"model_id": model["id"], "message": "mine"}).json()
    conv, answer_id = first["conversation_id"], first["message_id"]
    with server.client(server.create_user()) as http:
        base = f"/api/conversations/{conv}/messages/{answer_id}"
        assert http.post(f"{base}/regenerate", json={}).status_code == 404
        assert http.post(f"{base}/edit", json={"content": "x"}).status_code == 404
        assert http.put(f"{base}/selected").status_code == 404
