"""Every model, user and token change leaves an audit row (admin-readable, secret-free)."""

from __future__ import annotations

import uuid
from typing import Any

from tests.api._helpers import assert_error, create_model
from tests.fixtures.server import DEFAULT_PASSWORD, LiveServer


def _entries_for(http: Any, target_id: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = http.get("/api/audit", params={"limit": 1000}).json()
    return [e for e in entries if e["target_id"] == target_id]


def test_model_user_and_token_changes_are_audited(live_server: LiveServer) -> None:
    name = "audited-" + uuid.uuid4().hex[:6]
    with live_server.client(live_server.admin_token) as admin:
        user = admin.post("/api/users", json={"username": name, "password": DEFAULT_PASSWORD})
        assert user.status_code == 201
    token = live_server.token_for(name, DEFAULT_PASSWORD)
    with live_server.client(token) as http:
        model = create_model(http, api_key="sk-audit-secret-1234")
        http.patch(f"/api/models/{model['id']}", json={"api_key": "sk-audit-secret-5678"})
        http.delete(f"/api/models/{model['id']}")
        made = http.post("/api/tokens", json={"name": "audited"}).json()
        http.delete(f"/api/tokens/{made['id']}")

    with live_server.client(live_server.admin_token) as admin:
        model_actions = [e["action"] for e in _entries_for(admin, model["id"])]
        assert sorted(model_actions) == ["model.create", "model.delete", "model.update"]
        assert "user.create" in [e["action"] for e in _entries_for(admin, user.json()["id"])]
        token_actions = sorted(e["action"] for e in _entries_for(admin, made["id"]))
        assert token_actions == ["token.create", "token.revoke"]
        for entry in _entries_for(admin, model["id"]):
            assert entry["actor_name"] == name
        everything = admin.get("/api/audit", params={"limit": 1000}).text
        assert "sk-audit-secret" not in everything
        assert made["token"] not in everything


def test_audit_is_paged_newest_first_and_admin_only(live_server: LiveServer) -> None:
    with live_server.client(live_server.admin_token) as admin:
        create_model(admin, is_global=True)
        create_model(admin, is_global=True)
        page = admin.get("/api/audit", params={"limit": 2}).json()
        assert len(page) == 2
        assert page[0]["created_at"] >= page[1]["created_at"]
        second = admin.get("/api/audit", params={"limit": 1, "offset": 1}).json()
        assert second[0]["id"] == page[1]["id"]
        assert_error(admin.get("/api/audit", params={"limit": 0}), 422, "validation_error", "limit")
    with live_server.client(live_server.create_user()) as http:
        assert_error(http.get("/api/audit"), 403, "permission_denied")


def test_audit_filters_by_actor_action_and_time(live_server: LiveServer) -> None:
    name = "filtered-" + uuid.uuid4().hex[:6]
    with live_server.client(live_server.admin_token) as admin:
        created = admin.post("/api/users", json={"username": name, "password": DEFAULT_PASSWORD})
        assert created.status_code == 201
    with live_server.client(live_server.token_for(name, DEFAULT_PASSWORD)) as http:
        first = create_model(http)
        http.delete(f"/api/models/{first['id']}")
        second = create_model(http)

    with live_server.client(live_server.admin_token) as admin:
        mine = admin.get("/api/audit", params={"actor": name, "limit": 1000}).json()
        assert {e["actor_name"] for e in mine} == {name}
        # one token.create for the login token, two model.create, one model.delete
        assert sorted(e["action"] for e in mine if e["action"].startswith("model.")) == [
            "model.create", "model.create", "model.delete",
        ]  # fmt: skip
        deletes = admin.get("/api/audit", params={"actor": name, "action": "model.delete"})
        assert [e["target_id"] for e in deletes.json()] == [first["id"]]
        # an action family: every model.* entry of the actor
        family = admin.get("/api/audit", params={"actor": name, "action": "model"}).json()
        assert len(family) == 3
        # time: only what happened from the second model's creation on
        (made,) = [e for e in mine if e["target_id"] == second["id"]]
        later = admin.get("/api/audit", params={"actor": name, "since": made["created_at"]})
        assert [e["target_id"] for e in later.json()] == [second["id"]]
        earlier = admin.get("/api/audit", params={"actor": name, "until": made["created_at"]})
        assert second["id"] not in [e["target_id"] for e in earlier.json()]
        assert earlier.json()
        assert admin.get("/api/audit", params={"actor": "nobody-" + name}).json() == []
        for bad in ("yesterday", "2648959", "1.5"):  # a number is not read as a Unix time
            answer = admin.get("/api/audit", params={"since": bad})
            assert_error(answer, 422, "validation_error", "since")
