"""Feedback over real HTTP on SQLite and PostgreSQL: thumbs up / down on chat answers and on
gateway responses (by request id); replace, delete, who may rate what, bad input, and the
feedback score in the analytics."""

from __future__ import annotations

from typing import Any

import pytest

from modelreg.simulators import Script, SimulatorServer
from tests.api._helpers import assert_error
from tests.api.test_analytics_api import Someone, alice, analytics, bob, http_of, row_of
from tests.fixtures.server import LiveServer
from tests.gateway.helpers import create_model, usage_events

__all__ = ["alice", "bob", "http_of"]  # fixtures shared with the analytics tests


def answer_in_conversation(http: Any, model_id: str) -> dict[str, Any]:
    answer = http.post("/api/chat", json={"model_id": model_id, "message": "hi"})
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()
    return data


def test_rate_replace_and_delete_a_chat_answer(
    server: LiveServer, alice: Someone, openai_sim: SimulatorServer, http_of: Any
) -> None:
    model = create_model(server, alice.token, openai_sim)
    http = http_of(alice.token)
    first = answer_in_conversation(http, model["id"])
    second = answer_in_conversation(http, model["id"])
    conversation = first["conversation_id"]
    url = f"/api/messages/{first['message_id']}/feedback"

    made = http.post(url, json={"rating": 1, "comment": "  clear and short  "})
    assert made.status_code == 200, made.text
    assert made.json()["rating"] == 1
    assert made.json()["comment"] == "clear and short"
    replaced = http.post(url, json={"rating": -1})
    assert replaced.status_code == 200
    assert replaced.json()["rating"] == -1
    assert replaced.json()["comment"] is None
    assert replaced.json()["created_at"] == made.json()["created_at"]  # one row, replaced
    http.post(f"/api/messages/{second['message_id']}/feedback", json={"rating": 1})

    # what the chat page reads after a reload; the second answer is in another conversation
    listed = http.get(f"/api/conversations/{conversation}/feedback").json()
    assert [(f["message_id"], f["rating"]) for f in listed] == [(first["message_id"], -1)]

    usage_events(server, model["id"], at_least=2)
    row = row_of(analytics(http), model)
    assert (row["ratings_up"], row["ratings_down"], row["feedback_score"]) == (1, 1, 0.5)

    assert http.delete(url).status_code == 204
    assert http.get(f"/api/conversations/{conversation}/feedback").json() == []
    assert http.delete(url).status_code == 204  # idempotent
    row = row_of(analytics(http), model)
    assert (row["ratings_up"], row["ratings_down"], row["feedback_score"]) == (1, 0, 1.0)


def test_nobody_rates_what_they_cannot_see(
    server: LiveServer, alice: Someone, bob: Someone, openai_sim: SimulatorServer, http_of: Any
) -> None:
    shared = create_model(server, server.admin_token, openai_sim, is_global=True)
    mine = answer_in_conversation(http_of(alice.token), shared["id"])
    url = f"/api/messages/{mine['message_id']}/feedback"
    for who in (bob.token, server.admin_token):  # admins do not rate in others' names either
        other = http_of(who)
        assert_error(other.post(url, json={"rating": 1}), 404, "not_found")
        assert_error(other.delete(url), 404, "not_found")
        feedback = f"/api/conversations/{mine['conversation_id']}/feedback"
        assert_error(other.get(feedback), 404, "not_found")
    # the user's own prompt is not an answer
    detail = http_of(alice.token).get(f"/api/conversations/{mine['conversation_id']}").json()
    (prompt,) = [m for m in detail["messages"] if m["role"] == "user"]
    answer = http_of(alice.token).post(f"/api/messages/{prompt['id']}/feedback", json={"rating": 1})
    assert_error(answer, 422, "validation_error", "message_id")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"rating": 0}, "rating"),
        ({"rating": 2}, "rating"),
        ({"rating": "up"}, "rating"),
        ({}, "rating"),
        ({"rating": 1, "comment": "x" * 2001}, "comment"),
    ],
)
def test_bad_ratings_are_a_422_naming_the_field(
    server: LiveServer,
    alice: Someone,
    openai_sim: SimulatorServer,
    http_of: Any,
    body: dict[str, Any],
    field: str,
) -> None:
    model = create_model(server, alice.token, openai_sim)
    http = http_of(alice.token)
    made = answer_in_conversation(http, model["id"])
    answer = http.post(f"/api/messages/{made['message_id']}/feedback", json=body)
    assert_error(answer, 422, "validation_error", field)


def test_rate_a_gateway_response_by_its_request_id(
    server: LiveServer, alice: Someone, bob: Someone, openai_sim: SimulatorServer, http_of: Any
) -> None:
    model = create_model(server, alice.token, openai_sim)
    http = http_of(alice.token)
    openai_sim.enqueue(Script(text="ok", usage=(3, 2)))
    call = http.post(
        "/v1/chat/completions",
        json={"model": model["name"], "messages": [{"role": "user", "content": "x"}]},
    )
    assert call.status_code == 200
    request_id = call.headers["x-request-id"]
    url = f"/api/responses/{request_id}/feedback"
    # at once: the usage event may still be queued, the server waits for it
    made = http.post(url, json={"rating": -1, "comment": "wrong answer"})
    assert made.status_code == 200, made.text
    assert made.json()["response_id"] == request_id
    assert made.json()["message_id"] is None
    assert_error(http_of(bob.token).post(url, json={"rating": 1}), 404, "not_found")
    assert_error(http_of(bob.token).delete(url), 404, "not_found")
    missing = "/api/responses/req_" + "0" * 24 + "/feedback"
    assert_error(http.post(missing, json={"rating": 1}), 404, "not_found")
    assert_error(http.post("/api/responses/nope/feedback", json={"rating": 1}), 422,
                 "validation_error", "response_id")  # fmt: skip

    row = row_of(analytics(http, source="gateway"), model)
    assert (row["ratings_up"], row["ratings_down"], row["feedback_score"]) == (0, 1, 0.0)
    # no chat traffic on the model: the gateway's rating stays out of the chat figures
    assert all(m["llm_model_id"] != model["id"] for m in analytics(http, source="chat")["models"])
    assert http.delete(url).status_code == 204
    assert row_of(analytics(http, source="gateway"), model)["ratings_down"] == 0
