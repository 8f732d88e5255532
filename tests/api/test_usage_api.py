"""GET /api/usage over real HTTP on SQLite and PostgreSQL: gateway and chat calls through the
OpenAI simulator, then the report against the ledger (usage_events) and who sees what."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from modelreg.simulators import Script, SimulatorServer
from tests.fixtures.server import LiveServer
from tests.gateway.helpers import create_model, unique, usage_events


class Someone:
    def __init__(self, server: LiveServer) -> None:
        self.name = unique("usage-user")
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


def gateway_call(
    http: httpx.Client, model: str, sim: SimulatorServer, usage: tuple[int, int]
) -> None:
    sim.enqueue(Script(text="ok", usage=usage))
    answer = http.post(
        "/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": "x"}]},
    )
    assert answer.status_code == 200, answer.text


def chat_call(http: httpx.Client, model: str, sim: SimulatorServer, usage: tuple[int, int]) -> None:
    sim.enqueue(Script(chunks=["o", "k"], usage=usage))
    answer = http.post("/api/chat", json={"model_id": model, "message": "hi", "stream": True})
    assert answer.status_code == 200, answer.text


def report(http: httpx.Client, **params: str) -> dict[str, Any]:
    answer = http.get("/api/usage", params=params)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()
    return data


def flush(server: LiveServer) -> None:
    server.run(server.services.usage.flush)


def test_per_model_totals_equal_the_ledger(
    server: LiveServer, alice: Someone, openai_sim: SimulatorServer, http_of: Any
) -> None:
    first = create_model(server, alice.token, openai_sim)
    second = create_model(server, alice.token, openai_sim)
    http = http_of(alice.token)
    for usage in [(11, 5), (20, 7), (3, 1)]:
        gateway_call(http, first["name"], openai_sim, usage)
    chat_call(http, first["name"], openai_sim, (9, 2))
    gateway_call(http, second["name"], openai_sim, (100, 40))
    flush(server)

    data = report(http)
    by_model = {g["llm_model_id"]: g for g in data["groups"]}
    assert set(by_model) == {first["id"], second["id"]}
    for model in (first, second):
        events = usage_events(server, model["id"])
        group = by_model[model["id"]]
        assert group["model_name"] == model["name"]
        assert group["requests"] == len(events)
        assert group["errors"] == 0
        assert group["input_tokens"] == sum(e.input_tokens for e in events)
        assert group["output_tokens"] == sum(e.output_tokens for e in events)
        assert Decimal(group["cost"]) == sum((e.cost for e in events), Decimal(0))
        latencies = [e.latency_ms for e in events if e.latency_ms is not None]
        assert group["avg_latency_ms"] == pytest.approx(sum(latencies) / len(latencies), abs=0.1)
    assert by_model[first["id"]]["requests"] == 4
    # exact: (11+20+3+9) input tokens at 0.0000025 and (5+7+1+2) output at 0.00001
    assert Decimal(by_model[first["id"]]["cost"]) == Decimal("0.0002575")
    assert by_model[first["id"]]["avg_ttft_ms"] is not None  # the streamed chat call
    assert by_model[second["id"]]["avg_ttft_ms"] is None  # not streamed
    assert data["total"]["requests"] == 5
    assert Decimal(data["total"]["cost"]) == Decimal("0.0002575") + Decimal("0.00065")


def test_users_see_only_their_own_usage_and_admins_everyones(
    server: LiveServer,
    alice: Someone,
    bob: Someone,
    openai_sim: SimulatorServer,
    http_of: Any,
) -> None:
    shared = create_model(server, server.admin_token, openai_sim, is_global=True)
    gateway_call(http_of(alice.token), shared["name"], openai_sim, (10, 10))
    for _ in range(2):
        gateway_call(http_of(bob.token), shared["name"], openai_sim, (1, 1))
    flush(server)

    as_alice = http_of(alice.token)
    (mine,) = [g for g in report(as_alice)["groups"] if g["llm_model_id"] == shared["id"]]
    assert (mine["requests"], mine["input_tokens"]) == (1, 10)
    assert report(as_alice)["user_id"] == alice.id
    # nothing of bob's, however alice asks
    assert as_alice.get("/api/usage", params={"user_id": bob.id}).status_code == 403
    assert as_alice.get("/api/usage", params={"group_by": "user"}).status_code == 403
    assert (
        report(as_alice, user_id=alice.id)["total"]["requests"]
        == report(as_alice)["total"]["requests"]
    )

    admin = http_of(server.admin_token)
    per_user = {g["user_id"]: g for g in report(admin, group_by="user")["groups"]}
    assert per_user[alice.id]["requests"] == 1
    assert per_user[alice.id]["username"] == alice.name
    assert per_user[bob.id]["requests"] == 2
    everyone = {g["llm_model_id"]: g for g in report(admin)["groups"]}
    assert everyone[shared["id"]]["requests"] == 3
    assert (
        Decimal(everyone[shared["id"]]["cost"])
        == Decimal("0.0000025") * 12 + Decimal("0.00001") * 12
    )
    only_bob = report(admin, user_id=bob.id)
    assert only_bob["total"]["requests"] == 2


def test_group_by_day_and_the_date_range(
    server: LiveServer, alice: Someone, openai_sim: SimulatorServer, http_of: Any
) -> None:
    model = create_model(server, alice.token, openai_sim)
    http = http_of(alice.token)
    gateway_call(http, model["name"], openai_sim, (4, 4))
    gateway_call(http, model["name"], openai_sim, (6, 6))
    flush(server)
    today = datetime.now(UTC).date()

    (day,) = report(http, group_by="day")["groups"]
    assert day["day"] == today.isoformat()
    assert (day["requests"], day["input_tokens"], day["output_tokens"]) == (2, 10, 10)
    assert day["llm_model_id"] is None  # only the day's key is set

    yesterday = (today - timedelta(days=1)).isoformat()
    empty = report(http, since=yesterday, until=yesterday)
    assert empty["groups"] == []
    assert (empty["total"]["requests"], empty["total"]["cost"]) == (0, "0")
    bad = http.get("/api/usage", params={"since": today.isoformat(), "until": yesterday})
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "since"


@pytest.mark.parametrize(
    "value", ["-1.13e-218", "1700000000", "2026-1-5", "today", "2026-11-26T00:00"]
)
def test_days_must_be_written_as_dates(server: LiveServer, http_of: Any, value: str) -> None:
    # pydantic's lax mode would read a number as a Unix time and answer for 1970
    token = server.create_user(unique("dates"))
    answer = http_of(token).get("/api/usage", params={"until": value})
    assert answer.status_code == 422
    assert "YYYY-MM-DD" in answer.text


def test_needs_authentication(server: LiveServer) -> None:
    with server.client() as http:
        assert http.get("/api/usage").status_code == 401


def test_a_fresh_user_has_an_empty_report(server: LiveServer, http_of: Any) -> None:
    token = server.create_user(unique("idle"))
    data = report(http_of(token), group_by="model")
    assert data["groups"] == []
    assert data["total"]["avg_latency_ms"] is None
    assert uuid.UUID(data["user_id"])
