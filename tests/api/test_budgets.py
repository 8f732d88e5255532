"""Monthly cost budgets over real HTTP, on SQLite and PostgreSQL: a budget refuses the first
request after the recorded spend reaches it and none before, on every surface (the official
OpenAI and Anthropic SDKs on the gateway, /api/chat), before any upstream call; the 80 % /
100 % alerts are written once; who may set which budget; bad input names its field.

Spend is exact: the simulators report known token counts and the models have known prices
(tests/gateway/helpers.py: 2.5e-6 per input token, 1e-5 per output token), so 1000 input and
100 output tokens cost $0.0035."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import anthropic
import httpx
import openai
import pytest

from modelreg.simulators import Script, SimulatorServer
from tests.fixtures.server import LiveServer
from tests.gateway.helpers import create_model

CALL = Decimal("0.0035")  # 1000 input + 100 output tokens at the helpers' prices
USAGE = (1000, 100)


def me(server: LiveServer, token: str) -> dict[str, Any]:
    with server.client(token) as http:
        data: dict[str, Any] = http.get("/api/users/me").json()
    return data


def set_budget(server: LiveServer, token: str, **body: Any) -> dict[str, Any]:
    with server.client(token) as http:
        answer = http.post("/api/budgets", json={"period": "month", **body})
    assert answer.status_code == 201, answer.text
    data: dict[str, Any] = answer.json()
    return data


def oai(server: LiveServer, token: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=token, max_retries=0)


def ask(client: openai.OpenAI, model: str) -> None:
    client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])


def test_a_user_budget_refuses_the_first_request_after_the_spend_reaches_it(
    server: LiveServer, openai_sim: SimulatorServer
) -> None:
    token = server.create_user()
    model = create_model(server, token, openai_sim)
    budget = set_budget(
        server, server.admin_token, scope="user", user_id=me(server, token)["id"],
        limit_usd=str(CALL * 2),
    )  # fmt: skip
    openai_sim.enqueue(Script(text="ok", usage=USAGE, repeat=2))
    client = oai(server, token)
    ask(client, model["name"])  # spent 0 before
    ask(client, model["name"])  # spent 0.0035 before: below the limit
    with pytest.raises(openai.RateLimitError) as refused:  # spent 0.007: reached
        ask(client, model["name"])
    assert refused.value.status_code == 429
    assert refused.value.code == "insufficient_quota"
    assert budget["id"] in refused.value.message
    assert refused.value.response.headers["x-should-retry"] == "false"  # SDKs: do not retry
    assert len(openai_sim.requests) == 2  # refused before any upstream call

    # the other surfaces refuse it the same way
    with pytest.raises(openai.RateLimitError):
        oai(server, token).embeddings.create(model=model["name"], input="x")
    claude = anthropic.Anthropic(base_url=server.url, api_key=token, max_retries=0)
    with pytest.raises(anthropic.APIStatusError) as billing:
        claude.messages.create(
            model=model["name"], max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
    assert billing.value.status_code == 402
    assert billing.value.body["error"]["type"] == "billing_error"  # type: ignore[index]
    with server.client(token) as http:
        chat = http.post("/api/chat", json={"model_id": model["id"], "message": "hi"})
        streamed = http.post(
            "/api/chat", json={"model_id": model["id"], "message": "hi", "stream": True}
        )
        listed = http.get(f"/api/budgets/{budget['id']}").json()
    for answer in (chat, streamed):
        assert answer.status_code == 429, answer.text
        error = answer.json()["error"]
        assert error["type"] == "budget_exceeded"
        assert budget["id"] in error["message"]
        assert int(answer.headers["retry-after"]) > 0
    assert len(openai_sim.requests) == 2
    assert Decimal(listed["spent_usd"]) == CALL * 2
    assert (listed["state"], listed["percent"], listed["applies_to_me"]) == ("exceeded", 100, True)

    # raised by an admin: admitted again at once
    with server.client(server.admin_token) as http:
        raised = http.patch(f"/api/budgets/{budget['id']}", json={"limit_usd": "1"})
    assert raised.status_code == 200, raised.text
    openai_sim.enqueue(Script(text="ok", usage=USAGE))
    ask(client, model["name"])


def test_a_model_budget_counts_every_users_spend_on_that_model(
    server: LiveServer, openai_sim: SimulatorServer
) -> None:
    model = create_model(server, server.admin_token, openai_sim, is_global=True)
    alice, bob = server.create_user(), server.create_user()
    budget = set_budget(
        server, server.admin_token, scope="model", model_id=model["id"], limit_usd="0.005"
    )
    try:
        openai_sim.enqueue(Script(text="ok", usage=USAGE, repeat=2))
        ask(oai(server, alice), model["name"])
        ask(oai(server, bob), model["name"])  # 0.0035 < 0.005
        with pytest.raises(openai.RateLimitError):
            ask(oai(server, alice), model["name"])
        with server.client(bob) as http:  # bob sees the budget of a model he may use
            mine = [b for b in http.get("/api/budgets").json() if b["model_id"] == model["id"]]
        assert [b["state"] for b in mine] == ["exceeded"]
    finally:  # a company model's budget concerns every user of the shared server
        with server.client(server.admin_token) as http:
            assert http.delete(f"/api/budgets/{budget['id']}").status_code == 204


def audit_alerts(server: LiveServer, budget_id: str) -> list[int]:
    with server.client(server.admin_token) as http:
        entries = http.get("/api/audit", params={"action": "budget.alert", "limit": 1000}).json()
    return sorted(e["after"]["level"] for e in entries if e["target_id"] == budget_id)


def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_alerts_at_80_and_100_percent_are_written_once(
    server: LiveServer, openai_sim: SimulatorServer
) -> None:
    token = server.create_user()
    model = create_model(server, token, openai_sim)
    budget = set_budget(server, token, scope="user", limit_usd=str(CALL * 5 / 4))  # 80 % a call
    openai_sim.enqueue(Script(text="ok", usage=USAGE, repeat=2))
    ask(oai(server, token), model["name"])
    wait_for(lambda: audit_alerts(server, budget["id"]) == [80])
    ask(oai(server, token), model["name"])
    wait_for(lambda: audit_alerts(server, budget["id"]) == [80, 100])
    refreshed = server.services.budgets.book.refreshes
    wait_for(lambda: server.services.budgets.book.refreshes >= refreshed + 3)
    assert audit_alerts(server, budget["id"]) == [80, 100]


def test_who_may_set_which_budget(server: LiveServer, openai_sim: SimulatorServer) -> None:
    alice, bob = server.create_user(), server.create_user()
    alice_id, bob_id = me(server, alice)["id"], me(server, bob)["id"]
    admins = set_budget(server, server.admin_token, scope="user", user_id=alice_id, limit_usd="10")
    with server.client(alice) as http:
        below = http.post("/api/budgets", json={"scope": "user", "limit_usd": "2.50"})
        assert below.status_code == 201, below.text
        assert below.json()["user_id"] == alice_id
        assert not below.json()["set_by_admin"]
        above = http.post("/api/budgets", json={"scope": "user", "limit_usd": "10.01"})
        assert above.status_code == 422
        assert above.json()["error"]["field"] == "limit_usd"
        for_bob = http.post(
            "/api/budgets", json={"scope": "user", "user_id": bob_id, "limit_usd": "1"}
        )
        assert for_bob.status_code == 403
        assert "user_id" in for_bob.json()["error"]["message"]
        company = http.post("/api/budgets", json={"scope": "global", "limit_usd": "1"})
        assert company.status_code == 403
        assert "scope" in company.json()["error"]["message"]
        # the admin's budget: readable, not changeable by her
        assert (
            http.patch(f"/api/budgets/{admins['id']}", json={"limit_usd": "99"}).status_code == 403
        )
        assert http.delete(f"/api/budgets/{admins['id']}").status_code == 403
        own = below.json()["id"]
        changed = http.patch(f"/api/budgets/{own}", json={"limit_usd": "11"})
        assert changed.status_code == 422
        assert changed.json()["error"]["field"] == "limit_usd"
        assert http.patch(f"/api/budgets/{own}", json={"limit_usd": "3"}).status_code == 200
        ids = {b["id"] for b in http.get("/api/budgets").json()}
        assert {admins["id"], own} <= ids
    with server.client(bob) as http:  # alice's budgets do not exist for bob
        for path in (f"/api/budgets/{own}", f"/api/budgets/{admins['id']}"):
            assert http.get(path).status_code == 404
            assert http.patch(path, json={"limit_usd": "1"}).status_code == 404
            assert http.delete(path).status_code == 404
        assert own not in {b["id"] for b in http.get("/api/budgets").json()}
    with server.client(alice) as http:
        assert http.delete(f"/api/budgets/{own}").status_code == 204
        assert http.get(f"/api/budgets/{own}").status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"scope": "user", "limit_usd": "-0.01"}, "limit_usd"),
        ({"scope": "user", "limit_usd": "abc"}, "limit_usd"),
        ({"scope": "user", "limit_usd": "NaN"}, "limit_usd"),
        ({"scope": "user", "limit_usd": 5}, "limit_usd"),
        ({"scope": "user", "limit_usd": "1e40"}, "limit_usd"),
        ({"scope": "team", "limit_usd": "1"}, "scope"),
        ({"scope": "user", "limit_usd": "1", "period": "week"}, "period"),
        ({"scope": "model", "limit_usd": "1"}, "model_id"),
        ({"scope": "model", "model_id": "00000000-0000-0000-0000-00000000abcd",
          "limit_usd": "1"}, "model_id"),
        ({"scope": "user", "user_id": "00000000-0000-0000-0000-00000000abcd",
          "limit_usd": "1"}, "user_id"),
        ({"scope": "global", "user_id": "00000000-0000-0000-0000-00000000abcd",
          "limit_usd": "1"}, "user_id"),
        ({"scope": "global", "limit_usd": "1", "extra": 1}, "extra"),
    ],
)  # fmt: skip
def test_bad_budgets_are_refused_naming_the_field(
    live_server: LiveServer, body: dict[str, Any], field: str
) -> None:
    with live_server.client(live_server.admin_token) as http:
        answer = http.post("/api/budgets", json=body)
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["field"] == field, answer.text
        assert (
            http.patch(
                "/api/budgets/00000000-0000-0000-0000-00000000abcd", json={"limit_usd": "1"}
            ).status_code
            == 404
        )


def test_a_members_personal_model_is_foreign_to_an_admins_budget(
    live_server: LiveServer, openai_sim: SimulatorServer
) -> None:
    member = live_server.create_user()
    model = create_model(live_server, member, openai_sim)
    with live_server.client(live_server.admin_token) as http:
        answer = http.post(
            "/api/budgets", json={"scope": "model", "model_id": model["id"], "limit_usd": "1"}
        )
    assert answer.status_code == 422
    assert answer.json()["error"]["field"] == "model_id"


def test_no_budget_no_refusal_and_unauthenticated_is_401(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url) as http:
        assert http.get("/api/budgets").status_code == 401
        assert (
            http.post("/api/budgets", json={"scope": "global", "limit_usd": "1"}).status_code == 401
        )
