"""GET /api/experiments/{id}/results with the simulator set to known behaviour per arm, on
both databases: the counts, error rates, tokens and costs are exactly the known figures, the
latencies reflect the known delay, and a verdict appears only once the data supports it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from modelreg.simulators import Script, SimulatorServer
from tests.experiments.helpers import keys_for, two_arms
from tests.fixtures.server import LiveServer
from tests.gateway.helpers import IN_PRICE, OUT_PRICE

PER_ARM = 60
DELAY = 0.1  # seconds before arm B's first byte


def _call(server: LiveServer, token: str, model: str, key: str) -> int:
    with server.client(token) as http:
        answer = http.post("/v1/chat/completions", json={
            "model": model, "user": key, "messages": [{"role": "user", "content": "hi"}],
        })  # fmt: skip
    return answer.status_code


def _results(server: LiveServer, token: str, experiment_id: str) -> dict[str, Any]:
    server.run(server.services.usage.flush())
    with server.client(token) as http:
        answer = http.get(f"/api/experiments/{experiment_id}/results")
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()
    return data


def test_results_report_the_known_figures(server: LiveServer, openai_sim: SimulatorServer) -> None:
    user = server.create_user()
    experiment, _ = two_arms(server, user, openai_sim)
    name = experiment["name"]
    # arm A: every call answers, 10 tokens in and 5 out; arm B: half fail (an upstream 400),
    # the other half answer after DELAY with 20 in and 10 out
    openai_sim.enqueue(Script(text="a", usage=(10, 5), match={"model": "sim-a"}, repeat=PER_ARM))
    openai_sim.enqueue(
        Script(status=400, error_message="no", match={"model": "sim-b"}, repeat=PER_ARM // 2),
        Script(text="b", usage=(20, 10), first_byte_delay=DELAY, match={"model": "sim-b"},
               repeat=PER_ARM // 2),
    )  # fmt: skip
    a_keys, b_keys = keys_for(experiment, 0), keys_for(experiment, 1)

    # a few calls: figures, but no verdict yet
    assert [_call(server, user, name, next(a_keys)) for _ in range(5)] == [200] * 5
    early = _results(server, user, experiment["id"])
    assert [arm["requests"] for arm in early["arms"]] == [5, 0]
    assert early["comparisons"][0]["verdict"] is None
    assert early["verdict"].startswith("No verdict yet")

    statuses = [_call(server, user, name, next(a_keys)) for _ in range(PER_ARM - 5)]
    statuses += [_call(server, user, name, next(b_keys)) for _ in range(PER_ARM)]
    assert sorted(set(statuses)) == [200, 400]
    results = _results(server, user, experiment["id"])
    a, b = results["arms"]
    assert (a["requests"], a["errors"], b["requests"], b["errors"]) == (60, 0, 60, 30)
    assert a["error_rate"]["estimate"] == 0
    assert b["error_rate"]["estimate"] == 0.5
    assert b["error_rate"]["low"] < 0.5 < b["error_rate"]["high"]
    assert (a["input_tokens"], a["output_tokens"]) == (600, 300)
    assert (b["input_tokens"], b["output_tokens"]) == (600, 300)
    cost_a = 10 * IN_PRICE + 5 * OUT_PRICE
    cost_b_total = 30 * (20 * IN_PRICE + 10 * OUT_PRICE)  # the failed calls cost nothing
    assert Decimal(a["cost_per_request"]) == cost_a
    assert Decimal(b["total_cost"]) == cost_b_total
    assert Decimal(b["cost_per_request"]) == cost_b_total / 60
    # latency of the answers (not the failures): B's include the delay, A's do not
    assert b["latency_p50_ms"] >= DELAY * 1000
    assert a["latency_p50_ms"] < b["latency_p50_ms"] <= b["latency_p95_ms"]
    assert b["ttft_p50_ms"] is None or b["ttft_p50_ms"] >= 0
    # no ratings: null without the feedback table, zero ratings with it
    assert a["feedback"] in (None, {"ratings": 0, "up": 0, "down": 0, "score": None})

    (comparison,) = results["comparisons"]
    rate = comparison["error_rate"]
    assert rate["estimate"] == 0.5
    assert 0 < rate["low"] < 0.5 < rate["high"]
    assert comparison["latency_p50_ms"]["low"] > 0  # B is slower, and the interval knows
    sequential = comparison["sequential_error_rate"]
    assert sequential["low"] > 0
    assert (
        sequential["high"] - sequential["low"] > rate["high"] - rate["low"]
    )  # wider: valid always
    assert "error rate higher" in comparison["verdict"]
    assert "always-valid" in results["method"]
    assert "error rate higher" in results["verdict"]


def test_ratings_of_gateway_responses_and_chat_answers_count_per_arm(
    server: LiveServer, openai_sim: SimulatorServer
) -> None:
    """Feedback reaches the results from both doors: a gateway response rated by its request
    id, and a chat answer rated by its message id."""
    user = server.create_user()
    experiment, _ = two_arms(server, user, openai_sim)
    openai_sim.enqueue(Script(text="ok", usage=(3, 2), repeat=4))
    a_keys = keys_for(experiment, 0)
    with server.client(user) as http:
        ids = []
        for _ in range(3):
            answer = http.post("/v1/chat/completions", json={
                "model": experiment["name"], "user": next(a_keys),
                "messages": [{"role": "user", "content": "hi"}],
            })  # fmt: skip
            assert answer.status_code == 200, answer.text
            ids.append(answer.headers["x-request-id"])
        server.run(server.services.usage.flush())
        for request_id, rating in zip(ids, (1, 1, -1), strict=True):
            rated = http.post(f"/api/responses/{request_id}/feedback", json={"rating": rating})
            assert rated.status_code == 200, rated.text
        chat = http.post("/api/chat", json={"experiment_id": experiment["id"], "message": "hi"})
        assert chat.status_code == 200, chat.text
        message_id = chat.json()["message_id"]
        rated = http.post(f"/api/messages/{message_id}/feedback", json={"rating": -1})
        assert rated.status_code == 200, rated.text
    results = _results(server, user, experiment["id"])
    feedback = {a["arm_id"]: a["feedback"] for a in results["arms"]}
    first = feedback[experiment["arms"][0]["id"]]
    # the three gateway ratings are arm A's; the chat answer's is in whichever arm it drew
    assert first["ratings"] >= 3
    assert first["up"] == 2
    assert sum(f["ratings"] for f in feedback.values()) == 4
    assert sum(f["down"] for f in feedback.values()) == 2
