"""NUL characters (U+0000) over real HTTP, the same on SQLite and PostgreSQL (which cannot
store them in text): refused in user input with a 422 naming the field, replaced by U+FFFD
when the model's answer holds one, so the answer is stored and nothing is lost."""

from __future__ import annotations

from typing import Any

from modelreg.simulators import Script, SimulatorServer
from tests.fixtures.server import LiveServer
from tests.gateway.helpers import create_model


def _refused(answer: Any, field: str, *, says: str = "NUL") -> None:
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"].endswith(field)
    assert says in answer.text


def test_nul_in_user_input_is_a_422_naming_the_field(
    server: LiveServer, openai_sim: SimulatorServer
) -> None:
    token = server.create_user()
    model = create_model(server, token, openai_sim)["name"]
    with server.client(token) as http:
        _refused(http.post("/api/chat", json={"model_id": model, "message": "a\u0000b"}), "message")
        _refused(
            http.post(
                "/api/chat",
                json={"model_id": model, "messages": [{"role": "user", "content": "x\u0000"}]},
            ),
            "content",
        )
        _refused(
            http.post("/api/chat", json={"model_id": model, "message": "hi", "title": "t\u0000"}),
            "title",
        )
        _refused(http.post("/api/conversations", json={"title": "t\u0000"}), "title")
        conversation = http.post("/api/conversations", json={"title": "ok"}).json()["id"]
        _refused(
            http.patch(f"/api/conversations/{conversation}", json={"title": "\u0000"}), "title"
        )
        _refused(http.post("/api/tokens", json={"name": "ci\u0000"}), "name")
        _refused(
            http.patch(
                f"/api/models/{create_model(server, token, openai_sim)['id']}",
                json={"description": "d\u0000"},
            ),
            "description",
            says="control characters",
        )
        # nothing was stored on the way: the conversations list still answers
        assert http.get("/api/conversations").status_code == 200
        assert http.get("/api/tokens").status_code == 200


def test_a_model_name_with_nul_is_an_unknown_model_on_every_surface(server: LiveServer) -> None:
    """No model name holds a NUL (refused at save), so asking for one is a 404; PostgreSQL
    refused the lookup itself (a 500, found by make fuzz on count_tokens)."""
    token = server.create_user()
    name = "gpt\u0000x"
    messages = [{"role": "user", "content": "hi"}]
    with server.client(token) as http:
        answers = {
            "chat/completions": http.post(
                "/v1/chat/completions", json={"model": name, "messages": messages}
            ),
            "messages": http.post(
                "/v1/messages", json={"model": name, "max_tokens": 5, "messages": messages}
            ),
            "count_tokens": http.post(
                "/v1/messages/count_tokens", json={"model": name, "messages": messages}
            ),
        }
    for surface, answer in answers.items():
        assert answer.status_code == 404, (surface, answer.text)


def test_nul_in_the_models_answer_is_stored_as_a_replacement_character(
    server: LiveServer, openai_sim: SimulatorServer
) -> None:
    token = server.create_user()
    model = create_model(server, token, openai_sim)["name"]
    with server.client(token) as http:
        for stream in (False, True):
            openai_sim.enqueue(Script(chunks=["a\u0000", "b"]))
            answer = http.post(
                "/api/chat", json={"model_id": model, "message": "hi", "stream": stream}
            )
            assert answer.status_code == 200, answer.text
            if stream:
                conversation = answer.text.split('"conversation_id":"', 1)[1][:36]
            else:
                conversation = answer.json()["conversation_id"]
            stored = http.get(f"/api/conversations/{conversation}")
            assert stored.status_code == 200, stored.text
            messages = stored.json()["messages"]
            assert [m["role"] for m in messages] == ["user", "assistant"]
            assert messages[-1]["content"] == "a\ufffdb"
            assert messages[-1]["status"] == "complete"
