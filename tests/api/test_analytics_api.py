"""GET /api/analytics/models (and its CSV) over real HTTP on SQLite and PostgreSQL: calls
through the OpenAI simulator with known delays, token counts and failures, then the report
against the known figures and the ledger (usage_events)."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from modelreg.analytics.buckets import RELATIVE_ERROR
from modelreg.simulators import Script, SimulatorServer
from tests.api._helpers import assert_error
from tests.fixtures.server import LiveServer
from tests.gateway.helpers import IN_PRICE, OUT_PRICE, create_model, unique, usage_events

TODAY = datetime.now(UTC).date()


class Someone:
    def __init__(self, server: LiveServer) -> None:
        self.name = unique("analyst")
        self.token = server.create_user(self.name)
        with server.client(self.token) as http:
            self.id = http.get("/api/users/me").json()["id"]


@pytest.fixture
def alice(server: LiveServer) -> Someone:
    return Someone(server)


@pytest.fixture
def bob(server: LiveServer) -> Someone:
    return Someone(server)


@pytest.fixture
def http_of(server: LiveServer) -> Iterator[Any]:
    clients: list[httpx.Client] = []

    def make(token: str) -> httpx.Client:
        clients.append(server.client(token))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


def gateway_call(http: httpx.Client, model: str, sim: SimulatorServer, script: Script) -> int:
    sim.enqueue(script)
    answer = http.post(
        "/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": "x"}]},
    )
    return answer.status_code


def chat_call(http: httpx.Client, model: str, sim: SimulatorServer, script: Script) -> None:
    sim.enqueue(script)
    answer = http.post("/api/chat", json={"model_id": model, "message": "hi", "stream": True})
    assert answer.status_code == 200, answer.text


def analytics(http: httpx.Client, **params: str) -> dict[str, Any]:
    answer = http.get("/api/analytics/models", params=params)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()
    return data


def row_of(data: dict[str, Any], model: dict[str, Any]) -> dict[str, Any]:
    (row,) = [m for m in data["models"] if m["llm_model_id"] == model["id"]]
    return row


def exact_quantile(values: list[float], q: float) -> float:
    """The value of rank ceil(q * n): what the histogram's estimate is bounded against."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def assert_within_bound(estimate: float, exact: float) -> None:
    assert abs(estimate - exact) <= RELATIVE_ERROR * exact + 0.1, (estimate, exact)


def test_the_report_has_the_known_figures(
    server: LiveServer, alice: Someone, openai_sim: SimulatorServer, http_of: Any
) -> None:
    model = create_model(server, alice.token, openai_sim)
    http = http_of(alice.token)
    # gateway: 6 answers of 30 ms and 2 of 150 ms, 10 + 4 tokens each; 2 upstream failures
    for delay in [0.03] * 6 + [0.15] * 2:
        ok = Script(text="ok", usage=(10, 4), first_byte_delay=delay)
        assert gateway_call(http, model["name"], openai_sim, ok) == 200
    for _ in range(2):
        failed = Script(status=400, error_message="bad request")
        assert gateway_call(http, model["name"], openai_sim, failed) == 400
    # chat: 2 streamed answers, 20 ms to the first token, 7 + 3 tokens
    for _ in range(2):
        chat_call(http, model["id"], openai_sim, Script(chunks=["o", "k"], usage=(7, 3),
                                                        first_byte_delay=0.02))  # fmt: skip
    events = usage_events(server, model["id"], at_least=12)

    data = analytics(http)
    assert data["scope"] == "own"
    assert data["user_id"] == alice.id
    assert data["users"] is None
    row = row_of(data, model)
    assert row["model_name"] == model["name"]
    assert (row["requests"], row["errors"]) == (12, 2)
    assert row["error_rate"] == pytest.approx(2 / 12, abs=1e-6)
    assert (row["input_tokens"], row["output_tokens"]) == (6 * 10 + 2 * 10 + 2 * 7, 8 * 4 + 2 * 3)
    expected_cost = IN_PRICE * row["input_tokens"] + OUT_PRICE * row["output_tokens"]
    assert Decimal(row["cost"]) == expected_cost
    # the percentiles: within the stated bound of the true values in the ledger
    ok_latencies = [e.latency_ms for e in events if e.status != "error"]
    assert len(ok_latencies) == 10
    assert_within_bound(row["latency_p50_ms"], exact_quantile(ok_latencies, 0.5))
    assert_within_bound(row["latency_p95_ms"], exact_quantile(ok_latencies, 0.95))
    assert row["latency_p50_ms"] >= 30 * (1 - RELATIVE_ERROR)  # the scripted delays
    assert row["latency_p95_ms"] >= 150 * (1 - RELATIVE_ERROR)
    ttfts = [e.ttft_ms for e in events if e.ttft_ms is not None and e.status != "error"]
    assert len(ttfts) == 2
    assert_within_bound(row["ttft_p50_ms"], exact_quantile(ttfts, 0.5))
    assert row["ttft_p50_ms"] >= 20 * (1 - RELATIVE_ERROR)
    assert sum(b["count"] for b in row["latency_histogram"]) == 10
    assert row["feedback_score"] is None
    assert row["ratings_up"] == row["ratings_down"] == 0
    # the per-day series adds up to the same, today
    (day,) = [d for d in data["days"] if d["llm_model_id"] == model["id"]]
    assert day["day"] == str(TODAY)
    assert day["requests"] == 12
    assert day["cost"] == row["cost"]

    gateway = row_of(analytics(http, source="gateway"), model)
    chat = row_of(analytics(http, source="chat"), model)
    assert (gateway["requests"], gateway["errors"], chat["requests"]) == (10, 2, 2)
    assert chat["ttft_p50_ms"] is not None
    assert gateway["ttft_p50_ms"] is None
    # a period without traffic: empty tables, zero totals, never an error
    empty = analytics(http, **{"from": "2020-01-01", "to": "2020-01-31"})
    assert empty["models"] == []
    assert empty["days"] == []
    assert empty["totals"]["requests"] == 0
    assert empty["totals"]["error_rate"] is None


def test_admins_see_everyone_and_per_user_totals_users_their_own(
    server: LiveServer, alice: Someone, bob: Someone, openai_sim: SimulatorServer, http_of: Any
) -> None:
    shared = create_model(server, server.admin_token, openai_sim, is_global=True)
    assert gateway_call(http_of(alice.token), shared["name"], openai_sim, Script(usage=(5, 5)))
    for _ in range(3):
        gateway_call(http_of(bob.token), shared["name"], openai_sim, Script(usage=(1, 1)))
    usage_events(server, shared["id"], at_least=4)

    assert row_of(analytics(http_of(alice.token)), shared)["requests"] == 1
    assert row_of(analytics(http_of(bob.token)), shared)["requests"] == 3
    answer = http_of(alice.token).get("/api/analytics/models", params={"user_id": bob.id})
    assert_error(answer, 403, "permission_denied")

    admin = http_of(server.admin_token)
    everyone = analytics(admin)
    assert everyone["scope"] == "everyone"
    assert everyone["user_id"] is None
    assert row_of(everyone, shared)["requests"] == 4
    users = {u["user_id"]: u for u in everyone["users"]}
    assert users[alice.id]["username"] == alice.name
    assert users[alice.id]["input_tokens"] == 5
    assert users[bob.id]["requests"] == 3
    one = analytics(admin, user_id=bob.id)
    assert one["scope"] == "user"
    assert row_of(one, shared)["requests"] == 3
    assert one["users"] is None


def test_csv_export_of_each_table(
    server: LiveServer, alice: Someone, openai_sim: SimulatorServer, http_of: Any
) -> None:
    model = create_model(server, alice.token, openai_sim, name=unique("=cmd"))
    http = http_of(alice.token)
    gateway_call(http, model["name"], openai_sim, Script(usage=(3, 2)))
    usage_events(server, model["id"])
    answer = http.get("/api/analytics/models.csv", params={"table": "models"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    (row,) = [r for r in rows if r["llm_model_id"] == model["id"]]
    assert row["model_name"] == "'" + model["name"]  # never a formula in a spreadsheet
    assert (row["requests"], row["input_tokens"], row["output_tokens"]) == ("1", "3", "2")
    days = list(csv.DictReader(io.StringIO(http.get("/api/analytics/models.csv",
                                                    params={"table": "days"}).text)))  # fmt: skip
    assert any(d["day"] == str(TODAY) and d["llm_model_id"] == model["id"] for d in days)
    # a user has no per-user table: the header only
    users = http.get("/api/analytics/models.csv", params={"table": "users"}).text
    assert users.strip().splitlines() == ["username,user_id,requests,errors,error_rate,"
                                          "input_tokens,output_tokens,cost"]  # fmt: skip
    admin_users = http_of(server.admin_token).get(
        "/api/analytics/models.csv", params={"table": "users"}
    )
    assert any(r["user_id"] == alice.id for r in csv.DictReader(io.StringIO(admin_users.text)))


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-03-02", "to": "2026-03-01"}, "from"),
        ({"from": "2026-13-01"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"from": "1700000000"}, "from"),
        ({"from": "2024-01-01", "to": "2025-12-31"}, "from"),  # 731 days: above the limit
        ({"source": "email"}, "source"),
        ({"user_id": "nobody"}, "user_id"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(
    server: LiveServer, alice: Someone, http_of: Any, params: dict[str, str], field: str
) -> None:
    for path in ("/api/analytics/models", "/api/analytics/models.csv"):
        answer = http_of(alice.token).get(path, params=params)
        assert_error(answer, 422, "validation_error", field)


def test_the_largest_range_is_accepted(server: LiveServer, alice: Someone, http_of: Any) -> None:
    end = TODAY
    start = end - timedelta(days=365)
    data = analytics(http_of(alice.token), **{"from": str(start), "to": str(end)})
    assert data["from"] == str(start)
    assert data["to"] == str(end)
