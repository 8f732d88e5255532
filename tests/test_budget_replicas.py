"""Budgets across replicas: two app instances on one database (SQLite file or PostgreSQL), as
docs/operations.md deploys them. What one replica books, the other counts within about a
second (its refresh from usage_daily); each counts its own spend at once."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import openai
import pytest
from pydantic import SecretStr

from modelreg.crypto import generate_key
from modelreg.simulators import Script, SimulatorServer
from tests.fixtures.db import run_sync
from tests.fixtures.server import LiveServer, _pg_admin, _pg_database_migrated_by_owner
from tests.gateway.helpers import create_model

CALL = Decimal("0.0035")  # 1000 input + 100 output tokens at the helpers' prices
PROPAGATION = 2.0  # seconds: the refresh interval (0.5 s) plus a batch write, with room


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def replicas(
    request: pytest.FixtureRequest,
    live_server_factory: Callable[..., LiveServer],
    tmp_path: Path,
) -> Iterator[tuple[LiveServer, LiveServer]]:
    key = SecretStr(generate_key())  # both decrypt the same stored API keys
    database = None
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    else:
        database = _pg_database_migrated_by_owner()
        login = request.getfixturevalue("_pg_login_role")
        url = f"postgresql+asyncpg://{login}@127.0.0.1:5432/{database}"
    first = live_server_factory(database_url=url, encryption_key=key)
    second = live_server_factory(database_url=url, encryption_key=key)
    try:
        yield first, second
    finally:
        first.stop()
        second.stop()
        if database is not None:
            run_sync(lambda: _pg_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


def ask(server: LiveServer, token: str, model: str) -> None:
    client = openai.OpenAI(base_url=server.url + "/v1", api_key=token, max_retries=0)
    client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])


def test_a_replica_refuses_within_a_second_of_the_other_reaching_the_budget(
    replicas: tuple[LiveServer, LiveServer], openai_sim: SimulatorServer
) -> None:
    a, b = replicas
    token = a.create_user(f"spender-{uuid.uuid4().hex[:6]}")
    model = create_model(a, token, openai_sim)
    with a.client(a.admin_token) as http:
        user_id = http.get("/api/users/me", headers={"Authorization": f"Bearer {token}"}).json()[
            "id"
        ]
        answer = http.post(
            "/api/budgets", json={"scope": "user", "user_id": user_id, "limit_usd": str(CALL * 2)}
        )
        assert answer.status_code == 201, answer.text
        budget = answer.json()["id"]
    # a new budget reaches the other replica with its refresh, like the spend
    deadline = time.monotonic() + PROPAGATION
    while uuid.UUID(budget) not in b.services.budgets.book.limits:
        assert time.monotonic() < deadline, "replica B never saw the new budget"
        time.sleep(0.05)
    openai_sim.enqueue(Script(text="ok", usage=(1000, 100), repeat=2))
    ask(a, token, model["name"])  # half of it, on A
    ask(b, token, model["name"])  # the other half, on B: each knows its own half at once
    for replica in (a, b):  # and the other's within about a second
        deadline = time.monotonic() + PROPAGATION
        with replica.client(token) as http:
            while http.get(f"/api/budgets/{budget}").json()["state"] != "exceeded":
                assert time.monotonic() < deadline, f"{replica.url} never saw the other's spend"
                time.sleep(0.05)
        with pytest.raises(openai.RateLimitError) as refused:
            ask(replica, token, model["name"])
        assert refused.value.code == "insufficient_quota"
    assert len(openai_sim.requests) == 2
