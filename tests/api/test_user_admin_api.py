"""Account and user administration over real HTTP, on SQLite and PostgreSQL (row-level
security on): changing one's own password, one's own tokens, and what an admin's disable,
role change, password reset and delete do to the account, its sessions, tokens, models,
conversations and usage (modelreg.user_lifecycle)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from modelreg.actor import SYSTEM
from modelreg.api.auth import CSRF_COOKIE, CSRF_HEADER
from modelreg.db.models import Conversation, LLMModel, UsageDaily, UsageEvent
from modelreg.simulators import SimulatorServer
from modelreg.user_lifecycle import AccountChangeRefused
from tests.api._helpers import assert_error, create_model, model_payload, unique
from tests.api.test_sessions import Replicas, replicas, sign_in
from tests.fixtures.server import DEFAULT_PASSWORD, LiveServer

__all__ = ["replicas"]  # the fixture, imported for this module's tests

NEW_PASSWORD = "another-long-password"


@pytest.fixture(params=["sqlite", "postgres"])
def server(request: pytest.FixtureRequest) -> LiveServer:
    name = "live_server" if request.param == "sqlite" else "live_server_pg"
    live: LiveServer = request.getfixturevalue(name)
    return live


def _member(server: LiveServer, role: str = "user") -> tuple[str, str, str]:
    """A new user: (name, token, id)."""
    name = unique("acct")
    token = server.create_user(name, role=role)
    with server.client(token) as http:
        user_id = str(http.get("/api/users/me").json()["id"])
    return name, token, user_id


def _admin(server: LiveServer) -> httpx.Client:
    return server.client(server.admin_token)


def _until(check: Callable[[], bool], what: str, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _csrf(browser: httpx.Client) -> dict[str, str]:
    return {CSRF_HEADER: browser.cookies[CSRF_COOKIE]}


# --- one's own account --------------------------------------------------------------------


def test_changing_my_password_needs_the_current_one_and_ends_my_other_sessions(
    server: LiveServer,
) -> None:
    name, token, _ = _member(server)
    with sign_in(server, name) as here, sign_in(server, name) as elsewhere:
        wrong = here.post(
            "/api/users/me/password",
            json={"current_password": "not-my-password", "new_password": NEW_PASSWORD},
            headers=_csrf(here),
        )
        assert_error(wrong, 422, "validation_error", "current_password")
        short = here.post(
            "/api/users/me/password",
            json={"current_password": DEFAULT_PASSWORD, "new_password": "short"},
            headers=_csrf(here),
        )
        assert_error(short, 422, "validation_error", "new_password")
        assert "short" not in short.text  # the password is not echoed
        changed = here.post(
            "/api/users/me/password",
            json={"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
            headers=_csrf(here),
        )
        assert changed.status_code == 204, changed.text
        assert here.get("/api/users/me").status_code == 200  # this browser stays signed in
        assert_error(elsewhere.get("/api/users/me"), 401, "authentication_error")
    with server.client(token) as http:  # tokens stay valid
        assert http.get("/api/users/me").status_code == 200
    with sign_in(server, name, NEW_PASSWORD) as again:
        assert again.get("/api/users/me").json()["username"] == name


def test_a_token_caller_changing_their_password_ends_all_their_sessions(
    server: LiveServer,
) -> None:
    name, token, _ = _member(server)
    with sign_in(server, name) as browser, server.client(token) as http:
        answer = http.post(
            "/api/users/me/password",
            json={"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
        )
        assert answer.status_code == 204, answer.text
        assert_error(browser.get("/api/users/me"), 401, "authentication_error")


def test_my_tokens_are_named_may_expire_show_last_use_and_can_be_revoked(
    server: LiveServer,
) -> None:
    _, token, user_id = _member(server)
    expires = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    with server.client(token) as http:
        made = http.post("/api/tokens", json={"name": "laptop", "expires_at": expires.isoformat()})
        assert made.status_code == 201, made.text
        created = made.json()
        secret = created["token"]
        assert created["name"] == "laptop"
        assert datetime.fromisoformat(created["expires_at"]) == expires
        assert created["last_used_at"] is None
        listed = http.get("/api/tokens")
        assert secret not in listed.text  # shown once, at creation
        assert created["id"] in {t["id"] for t in listed.json()}

    with server.client(secret) as own:
        assert own.get("/api/users/me").json()["id"] == user_id

        def used() -> bool:
            rows = {t["id"]: t for t in own.get("/api/tokens").json()}
            return rows[created["id"]]["last_used_at"] is not None

        _until(used, "the token's last use to be recorded")

    with server.client(token) as http:
        assert http.delete(f"/api/tokens/{created['id']}").status_code == 204
        row = {t["id"]: t for t in http.get("/api/tokens").json()}[created["id"]]
        assert row["revoked_at"] is not None
    with server.client(secret) as own:
        assert_error(own.get("/api/users/me"), 401, "authentication_error")


# --- administration -----------------------------------------------------------------------


def test_disabling_ends_sessions_and_tokens_at_once_on_every_replica(
    replicas: Replicas,
) -> None:
    a, b = replicas
    name, token, user_id = _member(a)
    with a.client(token) as on_a, b.client(token) as on_b, sign_in(b, name) as browser:
        assert on_a.get("/api/users/me").status_code == 200  # cached on both replicas
        assert on_a.get("/v1/models").status_code == 200
        assert on_b.get("/api/users/me").status_code == 200
        with _admin(a) as admin:
            answer = admin.patch(f"/api/users/{user_id}", json={"is_active": False})
            assert answer.status_code == 200, answer.text
            assert answer.json()["is_active"] is False
        assert_error(on_a.get("/api/users/me"), 401, "authentication_error")
        assert on_a.get("/v1/models").status_code == 401  # the gateway's fast path too
        assert_error(browser.get("/api/users/me"), 401, "authentication_error")
        # the other replica's token cache: dropped by the generation poll (1 s here)
        _until(lambda: on_b.get("/api/users/me").status_code == 401, "replica b to refuse")
        with _admin(a) as admin:
            tokens = admin.get("/api/tokens", params={"user": user_id}).json()
            assert tokens
            assert all(t["revoked_at"] is not None for t in tokens)
            assert admin.patch(f"/api/users/{user_id}", json={"is_active": True}).status_code == 200
        # enabling again brings neither the tokens nor the sessions back
        assert_error(on_a.get("/api/users/me"), 401, "authentication_error")
        assert_error(browser.get("/api/users/me"), 401, "authentication_error")
    with sign_in(a, name) as again:
        assert again.get("/api/users/me").status_code == 200


def test_a_role_change_takes_effect_on_the_next_request(server: LiveServer) -> None:
    _, token, user_id = _member(server, role="admin")
    with server.client(token) as http:
        assert http.get("/api/users").status_code == 200  # cached as an admin
        with _admin(server) as admin:
            answer = admin.patch(f"/api/users/{user_id}", json={"role": "user"})
            assert answer.json()["role"] == "user"
        assert_error(http.get("/api/users"), 403, "permission_denied")
        with _admin(server) as admin:
            admin.patch(f"/api/users/{user_id}", json={"role": "admin"}).raise_for_status()
        assert http.get("/api/users").status_code == 200


def test_nobody_disables_demotes_deletes_or_resets_themselves(server: LiveServer) -> None:
    _, token, user_id = _member(server, role="admin")
    with server.client(token) as me:
        for body, field in (({"is_active": False}, "is_active"), ({"role": "user"}, "role")):
            assert_error(me.patch(f"/api/users/{user_id}", json=body), 409, "conflict", field)
        assert_error(me.delete(f"/api/users/{user_id}"), 409, "conflict", "user")
        reset = me.post(f"/api/users/{user_id}/password", json={"password": NEW_PASSWORD})
        assert_error(reset, 409, "conflict", "user_id")
        assert me.get("/api/users/me").json()["role"] == "admin"


def test_unknown_users_and_bad_bodies(server: LiveServer) -> None:
    missing = str(uuid.uuid4())
    with _admin(server) as admin:
        assert_error(admin.patch(f"/api/users/{missing}", json={"role": "user"}), 404, "not_found")
        assert_error(admin.delete(f"/api/users/{missing}"), 404, "not_found")
        _, _, user_id = _member(server)
        bad = admin.patch(f"/api/users/{user_id}", json={"role": "owner"})
        assert_error(bad, 422, "validation_error", "role")
        extra = admin.patch(f"/api/users/{user_id}", json={"username": "renamed"})
        assert_error(extra, 422, "validation_error")


def test_the_last_admin_stays_one_even_when_two_admins_demote_each_other(
    replicas: Replicas,
) -> None:
    """A fresh database: `admin` is the only admin, so the CLI (the system actor) cannot
    demote, disable or delete them; two admins demoting each other at once leave one."""
    server, _ = replicas
    accounts = server.services.accounts
    for change in (
        accounts.update_user(SYSTEM, "admin", role="user"),
        accounts.update_user(SYSTEM, "admin", is_active=False),
        accounts.delete_user(SYSTEM, "admin"),
    ):
        with pytest.raises(AccountChangeRefused, match="last active administrator"):
            server.run(change)
    second, _, _ = _member(server, role="admin")

    async def both() -> list[Any]:
        first_actor = await accounts.authenticate_password("admin", server.admin_password)
        second_actor = await accounts.authenticate_password(second, DEFAULT_PASSWORD)
        assert first_actor is not None
        assert second_actor is not None
        return await asyncio.gather(
            accounts.update_user(first_actor, second, role="user"),
            accounts.update_user(second_actor, "admin", role="user"),
            return_exceptions=True,
        )

    outcomes = server.run(both())
    refused = [o for o in outcomes if isinstance(o, AccountChangeRefused)]
    assert len(refused) == 1, outcomes
    users = server.run(accounts.list_users(SYSTEM))
    assert [u.role for u in users if u.username in ("admin", second)].count("admin") == 1


def test_an_admin_resets_a_password_which_ends_the_users_sessions(server: LiveServer) -> None:
    name, token, user_id = _member(server)
    with sign_in(server, name) as browser:
        with _admin(server) as admin:
            answer = admin.post(f"/api/users/{user_id}/password", json={"password": NEW_PASSWORD})
            assert answer.status_code == 204, answer.text
        assert_error(browser.get("/api/users/me"), 401, "authentication_error")
    with server.client(token) as http:
        assert http.get("/api/users/me").status_code == 200  # tokens stay
    with sign_in(server, name, NEW_PASSWORD) as again:
        assert again.get("/api/users/me").status_code == 200


def _count(server: LiveServer, stmt: Any) -> int:
    async def go() -> int:
        async with server.services.db.session(SYSTEM) as session:
            return int(await session.scalar(stmt) or 0)

    return server.run(go())


def test_deleting_a_user_deletes_their_models_and_conversations_and_anonymises_usage(
    server: LiveServer, openai_sim: SimulatorServer
) -> None:
    name, token, user_id = _member(server)
    uid = uuid.UUID(user_id)
    with server.client(token) as http:
        model = create_model(http, openai_sim)
        chat = http.post("/api/chat", json={"model_id": model["id"], "message": "hi"})
        assert chat.status_code == 200, chat.text
    server.run(server.services.usage.flush)
    with _admin(server) as admin:
        listed = admin.get("/api/personal-models").json()
        assert model["id"] in {m["id"] for m in listed}
        before = _count(server, select(func.count()).select_from(UsageEvent))
        cost_before = server.run(_total_cost(server))
        with sign_in(server, name) as browser:
            assert admin.delete(f"/api/users/{user_id}").status_code == 204
            assert_error(browser.get("/api/users/me"), 401, "authentication_error")
        with server.client(token) as http:
            assert_error(http.get("/api/users/me"), 401, "authentication_error")
        assert user_id not in {u["id"] for u in admin.get("/api/users").json()}
        assert model["id"] not in {m["id"] for m in admin.get("/api/personal-models").json()}
        assert_error(admin.delete(f"/api/users/{user_id}"), 404, "not_found")

    assert _count(server, select(func.count()).where(LLMModel.user_id == uid)) == 0
    assert _count(server, select(func.count()).where(Conversation.user_id == uid)) == 0
    assert _count(server, select(func.count()).where(UsageEvent.user_id == uid)) == 0
    assert _count(server, select(func.count()).where(UsageDaily.user_id == uid)) == 0
    # the usage itself stays: the same number of calls and the same total cost
    assert _count(server, select(func.count()).select_from(UsageEvent)) == before
    assert server.run(_total_cost(server)) == cost_before


async def _total_cost(server: LiveServer) -> str:
    from decimal import Decimal

    async with server.services.db.session(SYSTEM) as session:
        costs = await session.scalars(select(UsageDaily.cost))
        return str(sum((Decimal(c) for c in costs), Decimal(0)))


def test_admins_see_personal_models_with_owner_and_usage_never_keys(
    server: LiveServer, openai_sim: SimulatorServer
) -> None:
    name, token, _ = _member(server)
    with server.client(token) as http:
        model = create_model(http, openai_sim)
        secret_key = str(model_payload(openai_sim)["api_key"])
        assert http.post("/api/chat", json={"model_id": model["id"], "message": "hi"}).is_success
        assert_error(http.get("/api/personal-models"), 403, "permission_denied")
    server.run(server.services.usage.flush)
    with _admin(server) as admin:
        answer = admin.get("/api/personal-models")
        assert answer.status_code == 200
        assert secret_key not in answer.text
        assert "api_key" not in answer.text
        assert "base_url" not in answer.text
        row = {m["id"]: m for m in answer.json()}[model["id"]]
    assert row["owner_username"] == name
    assert row["provider"] == "openai"
    assert row["requests"] == 1
    assert set(row) == {
        "id",
        "name",
        "provider",
        "model_id",
        "enabled",
        "owner_id",
        "owner_username",
        "created_at",
        "last_used_at",
        "requests",
        "cost",
    }
