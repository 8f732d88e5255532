"""Smaller findings of the hardening probe (issue 14, item 10), over real HTTP on SQLite and
PostgreSQL: host names with empty or long labels, an empty chat message, malformed
count_tokens bodies, a tool_choice naming a tool not offered, error type names, Decimal
text, and an upstream's "overloaded" (529)."""

from __future__ import annotations

from typing import Any

from modelreg.chat.events import error_type
from modelreg.errors import RateLimitError, UnsafeURLError
from modelreg.simulators import Script, SimulatorServer
from tests.fixtures.server import LiveServer
from tests.gateway.helpers import create_model, stream_chat, unique

BAD_HOSTS = ("http://a..b/v1", f"http://{'a' * 64}.example/v1", "http://.example/v1")


def _draft(base_url: str, **fields: Any) -> dict[str, Any]:
    return {
        "name": unique("bad-host"),
        "provider": "openai",
        "base_url": base_url,
        "model_id": "m",
        **fields,
    }


def test_a_host_with_an_empty_or_long_label_is_a_422_naming_base_url(
    server: LiveServer, openai_sim: SimulatorServer
) -> None:
    token = server.create_user()
    personal = create_model(server, token, openai_sim)["id"]
    with server.client(token) as http, server.client(server.admin_token) as admin:
        for url in BAD_HOSTS:
            answers = [
                http.post("/api/models", json=_draft(url)),
                admin.post("/api/models", json=_draft(url, is_global=True)),
                http.post("/api/models/test-connection", json=_draft(url)),
                http.patch(f"/api/models/{personal}", json={"base_url": url}),
            ]
            for answer in answers:
                assert answer.status_code == 422, (url, answer.text)
                assert answer.json()["error"]["field"] == "base_url", answer.text
                assert "label" in answer.text


def test_an_empty_chat_message_is_a_422(server: LiveServer, openai_sim: SimulatorServer) -> None:
    token = server.create_user()
    model = create_model(server, token, openai_sim)["name"]
    with server.client(token) as http:
        answer = http.post("/api/chat", json={"model_id": model, "message": ""})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"] == "message"
    assert openai_sim.requests == []


def test_a_new_conversation_without_a_user_message_is_a_422(
    server: LiveServer, anthropic_sim: SimulatorServer
) -> None:
    """Only assistant messages leave the model nothing to answer (Anthropic refuses them): a
    422 naming `messages`, before any row is written or byte is sent."""
    token = server.create_user()
    model = create_model(server, token, anthropic_sim)["name"]
    before = len(anthropic_sim.requests)
    with server.client(token) as http:
        answer = http.post(
            "/api/chat",
            json={"model_id": model, "messages": [{"role": "assistant", "content": "hello"}]},
        )
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["field"] == "messages"
        assert http.get("/api/conversations").json() == []
    assert len(anthropic_sim.requests) == before


def test_count_tokens_validates_like_messages(
    server: LiveServer, anthropic_sim: SimulatorServer
) -> None:
    token = server.create_user()
    model = create_model(server, token, anthropic_sim)["name"]
    ok = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    with server.client(token) as http:
        assert http.post("/v1/messages/count_tokens", json=ok).status_code == 200
        for bad in (
            {"temperature": "hot"},
            {"max_tokens": 0},
            {"stream": "yes"},
            {"tool_choice": {"type": "sometimes"}},
            {"stop_sequences": "STOP"},
            {
                "tools": [{"name": "f", "input_schema": {}}],
                "tool_choice": {"type": "tool", "name": "g"},
            },
        ):
            answer = http.post("/v1/messages/count_tokens", json={**ok, **bad})
            assert answer.status_code == 400, (bad, answer.text)
            assert answer.json()["type"] == "error"
            assert answer.json()["error"]["type"] == "invalid_request_error"


def test_a_tool_choice_naming_a_tool_not_offered_is_refused(
    server: LiveServer, openai_sim: SimulatorServer, anthropic_sim: SimulatorServer
) -> None:
    token = server.create_user()
    openai_model = create_model(server, token, openai_sim)["name"]
    anthropic_model = create_model(server, token, anthropic_sim)["name"]
    fn = {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}
    with server.client(token) as http:
        for model in (openai_model, anthropic_model):  # pass-through and translated
            answer = http.post(
                "/v1/chat/completions",
                json={
                    "model": model,
                    "messages": [{"role": "user", "content": "hi"}],
                    "tools": [{"type": "function", "function": fn}],
                    "tool_choice": {"type": "function", "function": {"name": "delete_all"}},
                },
            )
            assert answer.status_code == 400, answer.text
            assert answer.json()["error"]["param"] == "tool_choice"
        answer = http.post(
            "/v1/messages",
            json={
                "model": anthropic_model,
                "max_tokens": 10,
                "messages": [{"role": "user", "content": "hi"}],
                "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
                "tool_choice": {"type": "tool", "name": "delete_all"},
            },
        )
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["type"] == "invalid_request_error"
        assert "tool_choice" in answer.json()["error"]["message"]
        answer = http.post(
            "/api/chat",
            json={
                "model_id": openai_model,
                "message": "hi",
                "tools": [{"type": "function", "function": fn}],
                "tool_choice": "delete_all",
            },
        )
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["field"] == "tool_choice"
    assert openai_sim.requests == []
    assert anthropic_sim.requests == []


def test_error_types_are_snake_case_and_overloaded_is_not_a_rate_limit() -> None:
    assert error_type(UnsafeURLError("no")) == "unsafe_url_error"
    assert error_type(RateLimitError("slow down", status=429)) == "rate_limit_error"
    assert error_type(RateLimitError("overloaded", status=529)) == "overloaded_error"


def test_costs_are_plain_decimals(server: LiveServer, openai_sim: SimulatorServer) -> None:
    """A free model costs "0", never "0E-15" (PostgreSQL NUMERIC(30,15))."""
    token = server.create_user()
    model = create_model(
        server, token, openai_sim, price_per_input_token="0", price_per_output_token="0"
    )
    with server.client(token) as http:
        answer = http.post("/api/chat", json={"model_id": model["name"], "message": "hi"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["cost"] == "0"
        conversation = http.get(f"/api/conversations/{answer.json()['conversation_id']}").json()
        assert conversation["total_cost"] == "0"
        assert {m["cost"] for m in conversation["messages"]} <= {"0", None}
        assert http.get(f"/api/models/{model['id']}").json()["price_per_input_token"] == "0"


def test_an_upstream_overloaded_529_is_an_overloaded_error_on_every_surface(
    server: LiveServer, anthropic_sim: SimulatorServer
) -> None:
    token = server.create_user()
    hi = [{"role": "user", "content": "hi"}]
    with server.client(token) as http:
        # one model per surface: the failures of one would open the circuit of the next
        model = create_model(server, token, anthropic_sim)["name"]
        anthropic_sim.enqueue(Script(status=529, retry_after=0, repeat=20))
        answer = http.post("/v1/messages", json={"model": model, "max_tokens": 5, "messages": hi})
        assert answer.status_code == 529, answer.text
        assert answer.json()["error"]["type"] == "overloaded_error"

        anthropic_sim.reset()
        model = create_model(server, token, anthropic_sim)["name"]
        anthropic_sim.enqueue(Script(status=529, retry_after=0, repeat=20))
        answer = http.post("/v1/chat/completions", json={"model": model, "messages": hi})
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"]["type"] == "server_error"

        anthropic_sim.reset()
        model = create_model(server, token, anthropic_sim)["name"]
        anthropic_sim.enqueue(Script(status=529, retry_after=0, repeat=20))
        events = stream_chat(http, {"model_id": model, "message": "hi"})
        errors = [data for name, data in events if name == "error"]
        assert [e["type"] for e in errors] == ["overloaded_error"]
    anthropic_sim.reset()  # no 529s left queued for the next user of the shared simulator
