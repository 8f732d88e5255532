"""/api/models over real HTTP: CRUD, roles, two users' isolation, templates, connection tests.

The isolation tests run on SQLite and on PostgreSQL (skipped when it is unreachable)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event

from modelreg.actor import SYSTEM
from modelreg.db.models import LLMModel
from tests.api._helpers import NOWHERE, assert_error, create_model, model_payload, unique
from tests.fixtures.server import LiveServer


@pytest.fixture(params=["sqlite", "postgres"])
def any_server(request: pytest.FixtureRequest) -> LiveServer:
    name = "live_server" if request.param == "sqlite" else "live_server_pg"
    server: LiveServer = request.getfixturevalue(name)
    return server


def test_create_list_get_update_delete(live_server: LiveServer) -> None:
    token = live_server.create_user()
    with live_server.client(token) as http:
        created = create_model(http, api_key="sk-secret-value-WXYZ", context_length=128000)
        assert created["is_global"] is False
        assert created["has_api_key"] is True
        assert created["api_key_hint"] == "WXYZ"
        assert created["capabilities"] == {"streaming": True, "functions": True, "vision": False}
        assert "api_key" not in created
        assert "api_key_encrypted" not in created

        listed = http.get("/api/models")
        assert listed.status_code == 200
        assert created["id"] in {m["id"] for m in listed.json()}
        assert "sk-secret-value" not in listed.text

        one = http.get(f"/api/models/{created['id']}")
        assert one.status_code == 200
        assert one.json()["name"] == created["name"]

        patched = http.patch(
            f"/api/models/{created['id']}", json={"description": "changed", "enabled": False}
        )
        assert patched.status_code == 200, patched.text
        assert patched.json()["description"] == "changed"
        assert patched.json()["enabled"] is False
        assert patched.json()["api_key_hint"] == "WXYZ"  # absent api_key keeps the key

        cleared = http.patch(f"/api/models/{created['id']}", json={"api_key": ""})
        assert cleared.json()["has_api_key"] is False

        deleted = http.delete(f"/api/models/{created['id']}")
        assert deleted.status_code == 204
        assert_error(http.get(f"/api/models/{created['id']}"), 404, "not_found")
        assert_error(http.delete(f"/api/models/{created['id']}"), 404, "not_found")


def test_users_see_global_models_but_only_admins_create_or_change_them(
    live_server: LiveServer,
) -> None:
    with live_server.client(live_server.admin_token) as admin:
        global_model = create_model(admin, is_global=True)
        assert global_model["is_global"] is True
    token = live_server.create_user()
    with live_server.client(token) as http:
        assert global_model["id"] in {m["id"] for m in http.get("/api/models").json()}
        assert http.get(f"/api/models/{global_model['id']}").status_code == 200
        refused = http.post("/api/models", json=model_payload(is_global=True))
        assert_error(refused, 403, "permission_denied")
        change = http.patch(f"/api/models/{global_model['id']}", json={"description": "mine"})
        assert_error(change, 403, "permission_denied")
        assert_error(http.delete(f"/api/models/{global_model['id']}"), 403, "permission_denied")


def test_two_users_cannot_see_change_delete_or_test_each_others_models(
    any_server: LiveServer,
) -> None:
    alice = any_server.create_user()
    bob = any_server.create_user()
    with any_server.client(alice) as a, any_server.client(bob) as b:
        secret = create_model(a)
        path = f"/api/models/{secret['id']}"

        assert secret["id"] not in {m["id"] for m in b.get("/api/models").json()}
        assert_error(b.get(path), 404, "not_found")
        assert_error(b.patch(path, json={"description": "bob was here"}), 404, "not_found")
        assert_error(b.delete(path), 404, "not_found")
        tested = b.post("/api/models/test-connection", json={"model_id": secret["id"]})
        assert_error(tested, 404, "not_found")
        default = b.patch("/api/users/me", json={"default_model_id": secret["id"]})
        assert_error(default, 404, "not_found")

        # the answers for "someone else's" and "does not exist" are the same
        missing = b.get(f"/api/models/{uuid.uuid4()}")
        assert missing.json()["error"]["type"] == b.get(path).json()["error"]["type"]

        # and alice's model is untouched
        mine = a.get(path)
        assert mine.status_code == 200
        assert mine.json()["description"] == ""


def test_the_same_name_may_exist_once_per_user(live_server: LiveServer) -> None:
    name = unique("shared-name")
    alice, bob = live_server.create_user(), live_server.create_user()
    with live_server.client(alice) as a, live_server.client(bob) as b:
        create_model(a, name=name)
        create_model(b, name=name)
        duplicate = a.post("/api/models", json=model_payload(name=name))
        assert_error(duplicate, 422, "validation_error", field="name")


def test_unauthenticated_requests_get_401(live_server: LiveServer) -> None:
    with live_server.client() as http:
        for method, path in [
            ("GET", "/api/models"),
            ("POST", "/api/models"),
            ("GET", f"/api/models/{uuid.uuid4()}"),
            ("GET", "/api/models/templates"),
            ("POST", "/api/models/test-connection"),
        ]:
            answer = http.request(method, path, json={})
            assert_error(answer, 401, "authentication_error")
            assert answer.headers["www-authenticate"].startswith("Bearer")


def test_templates_and_create_from_template(live_server: LiveServer) -> None:
    token = live_server.create_user()
    with live_server.client(token) as http:
        templates = http.get("/api/models/templates")
        assert templates.status_code == 200
        by_id = {t["id"]: t for t in templates.json()}
        assert by_id, "the registry ships templates"
        template = next(t for t in by_id.values() if t["requires_api_key"])
        created = http.post(
            "/api/models/from-template",
            # a loopback base URL: the template's public host must not even be looked up
            json={
                "template_id": template["id"],
                "api_key": "sk-from-template-9876",
                "base_url": NOWHERE,
            },
        )
        assert created.status_code == 201, created.text
        assert created.json()["provider"] == template["provider"]
        assert created.json()["api_key_hint"] == "9876"

        unknown = http.post(
            "/api/models/from-template",
            json={"template_id": "no-such-template", "base_url": NOWHERE},
        )
        assert unknown.status_code in (404, 422), unknown.text


def test_local_server_templates_say_who_may_add_them(live_server: LiveServer) -> None:
    with live_server.client(live_server.create_user()) as http:
        templates = {t["id"]: t for t in http.get("/api/models/templates").json()}
    for local in ("ollama", "vllm", "lmstudio"):
        assert "MODELREG_ALLOW_PRIVATE_BASE_URLS" in templates[local]["notes"], local
        assert "company-wide" in templates[local]["notes"], local
    assert "MODELREG_ALLOW_PRIVATE_BASE_URLS" not in templates["openai"]["notes"]


def test_create_from_template_takes_the_callers_figures_over_the_templates(
    live_server: LiveServer,
) -> None:
    token = live_server.create_user()
    with live_server.client(token) as http:
        created = http.post(
            "/api/models/from-template",
            json={
                "template_id": "openai",
                "api_key": "sk-from-template-4321",
                "base_url": NOWHERE,
                "price_per_input_token": "0.000003",
                "price_per_output_token": "0.000012",
                "context_length": 4096,
                "max_output_tokens": 512,
            },
        )
        assert created.status_code == 201, created.text
        model = created.json()
        assert (model["context_length"], model["max_output_tokens"]) == (4096, 512)
        assert Decimal(model["price_per_input_token"]) == Decimal("0.000003")
        assert Decimal(model["price_per_output_token"]) == Decimal("0.000012")


def test_connection_test_of_a_saved_model_and_of_an_unsaved_draft(
    live_server: LiveServer, openai_sim: Any
) -> None:
    token = live_server.create_user()
    with live_server.client(token) as http:
        saved = create_model(http, openai_sim)
        result = http.post("/api/models/test-connection", json={"model_id": saved["id"]})
        assert result.status_code == 200, result.text
        assert result.json()["ok"] is True
        assert result.json()["latency_ms"] >= 0

        draft = model_payload(openai_sim, api_key="sk-wrong-key-0000")
        del draft["name"]  # drafts need no name
        refused = http.post("/api/models/test-connection", json=draft)
        assert refused.status_code == 200, refused.text
        assert refused.json()["ok"] is False
        assert refused.json()["reason"]
        assert "sk-wrong-key" not in refused.text

        # a draft is not saved
        own = [m for m in http.get("/api/models").json() if not m["is_global"]]
        assert [m["id"] for m in own] == [saved["id"]]


def test_connection_test_body_must_be_a_model_id_or_a_config(live_server: LiveServer) -> None:
    token = live_server.create_user()
    with live_server.client(token) as http:
        answer = http.post("/api/models/test-connection", json={"nonsense": True})
        assert_error(answer, 422, "validation_error")
        answer = http.post("/api/models/test-connection", json={"model_id": "not-a-uuid"})
        assert_error(answer, 422, "validation_error")


def test_listing_models_is_served_from_the_registry_and_never_calls_a_provider(
    live_server: LiveServer, openai_sim: Any
) -> None:
    token = live_server.create_user()
    with live_server.client(token) as http:
        for _ in range(3):
            create_model(http, openai_sim)
        before = len(openai_sim.requests)
        for _ in range(5):
            assert http.get("/api/models").status_code == 200
        assert len(openai_sim.requests) == before


def test_a_thousand_models_list_completely_and_from_the_cache(
    live_server_factory: Callable[..., LiveServer],
) -> None:
    """1000 models: the list is complete, and a repeated listing runs no SQL at all (the
    registry cache), so a large registry costs one query per cache lifetime. A server of its
    own without the cross-process poller: on the shared one, another test's write may
    legitimately clear the cache between the two listings."""
    live_server = live_server_factory(cache_poll_interval=0)
    token = live_server.create_user()
    with live_server.client(token) as http:
        owner = http.get("/api/users/me").json()["id"]
    services = live_server.services

    async def insert_models() -> None:
        async with services.db.session(SYSTEM) as session:
            session.add_all(
                LLMModel(
                    user_id=uuid.UUID(owner),
                    name=f"bulk-{i:04d}",
                    provider="openai",
                    base_url=NOWHERE,
                    model_id="gpt-4o-mini",
                )
                for i in range(1000)
            )
        services.registry.invalidate()

    live_server.run(insert_models())
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    engine = services.db.engine.sync_engine
    with live_server.client(token) as http:
        first = http.get("/api/models")
        assert first.status_code == 200
        assert len([m for m in first.json() if m["name"].startswith("bulk-")]) == 1000
        event.listen(engine, "before_cursor_execute", count)
        try:
            again = http.get("/api/models")
        finally:
            event.remove(engine, "before_cursor_execute", count)
    assert again.json() == first.json()
    assert statements == []


def test_only_an_admin_or_the_owner_sees_a_keys_last_characters(live_server: LiveServer) -> None:
    with live_server.client(live_server.admin_token) as admin:
        company = create_model(admin, is_global=True, api_key="sk-company-key-7777")
        assert company["api_key_hint"] == "7777"
    with live_server.client(live_server.create_user()) as member:
        own = create_model(member, api_key="sk-own-key-5555")
        assert own["api_key_hint"] == "5555"
        listed = {m["id"]: m for m in member.get("/api/models").json()}
        assert listed[own["id"]]["api_key_hint"] == "5555"
        seen = listed[company["id"]]
        assert seen["has_api_key"] is True
        assert seen["api_key_hint"] is None
        one = member.get(f"/api/models/{company['id']}").json()
        assert one["api_key_hint"] is None
    with live_server.client(live_server.admin_token) as admin:
        listed = {m["id"]: m for m in admin.get("/api/models").json()}
        assert listed[company["id"]]["api_key_hint"] == "7777"
