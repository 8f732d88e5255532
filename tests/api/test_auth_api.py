"""Authentication over real HTTP: bearer tokens, x-api-key, the session cookie with its CSRF
check, roles (401 / 403), and the token endpoints (shown once, stored hashed, revocable)."""

from __future__ import annotations

import hashlib
import time
import uuid
from datetime import UTC, datetime, timedelta, timezone

import httpx
from fastapi import Response
from sqlalchemy import select

from modelreg.actor import SYSTEM, Actor
from modelreg.api.auth import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE, issue_session
from modelreg.db.models import ApiToken
from tests.api._helpers import assert_error, model_payload
from tests.fixtures.server import DEFAULT_PASSWORD, LiveServer


def _session_cookies(server: LiveServer, username: str) -> dict[str, str]:
    """The cookies `issue_session` sets for `username` (what the web UI's login answers)."""

    async def login() -> Actor:
        actor = await server.services.accounts.authenticate_password(username, DEFAULT_PASSWORD)
        assert actor is not None
        return actor

    actor = server.run(login())
    response = Response()
    server.run(issue_session(response, server.services.accounts, actor, server.services.settings))
    cookies: dict[str, str] = {}
    for header, value in response.raw_headers:
        if header == b"set-cookie":
            name, _, rest = value.decode().partition("=")
            cookies[name] = rest.split(";", 1)[0]
    return cookies


def test_bearer_token_and_x_api_key_both_authenticate(live_server: LiveServer) -> None:
    token = live_server.create_user()
    with live_server.client(token) as http:
        assert http.get("/api/users/me").status_code == 200
    with live_server.client(headers={"x-api-key": token}) as http:
        assert http.get("/api/users/me").status_code == 200


def test_missing_wrong_and_malformed_credentials_get_401(live_server: LiveServer) -> None:
    with live_server.client() as http:
        answer = http.get("/api/users/me")
        assert_error(answer, 401, "authentication_error")
        assert answer.headers["www-authenticate"].startswith("Bearer")
    for headers in (
        {"Authorization": "Bearer mr-not-a-real-token"},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic YWRtaW46YWRtaW4="},
        {"x-api-key": "wrong"},
    ):
        with live_server.client(headers=headers) as http:
            assert_error(http.get("/api/models"), 401, "authentication_error")


def test_user_role_gets_403_on_admin_endpoints(live_server: LiveServer) -> None:
    token = live_server.create_user()
    with live_server.client(token) as http:
        assert_error(http.get("/api/users"), 403, "permission_denied")
        refused = http.post("/api/users", json={"username": "x" + uuid.uuid4().hex[:6]})
        assert_error(refused, 403, "permission_denied")
        assert_error(http.get("/api/audit"), 403, "permission_denied")
    with live_server.client(live_server.admin_token) as http:
        assert http.get("/api/users").status_code == 200
        assert http.get("/api/audit").status_code == 200


def test_admin_creates_users_and_users_set_their_default_model(live_server: LiveServer) -> None:
    name = "carol-" + uuid.uuid4().hex[:6]
    with live_server.client(live_server.admin_token) as admin:
        created = admin.post(
            "/api/users", json={"username": name, "password": DEFAULT_PASSWORD, "role": "user"}
        )
        assert created.status_code == 201, created.text
        assert created.json()["role"] == "user"
        assert "password" not in created.text
        assert name in {u["username"] for u in admin.get("/api/users").json()}
        again = admin.post("/api/users", json={"username": name, "password": DEFAULT_PASSWORD})
        assert_error(again, 422, "validation_error", field="username")
        short = admin.post("/api/users", json={"username": name + "x", "password": "short"})
        assert_error(short, 422, "validation_error", field="password")
        bad_role = admin.post("/api/users", json={"username": name + "y", "role": "root"})
        assert_error(bad_role, 422, "validation_error", field="role")

    token = live_server.token_for(name, DEFAULT_PASSWORD)
    with live_server.client(token) as http:
        model = http.post("/api/models", json=model_payload()).json()
        me = http.patch("/api/users/me", json={"default_model_id": model["id"]})
        assert me.status_code == 200, me.text
        assert me.json()["default_model_id"] == model["id"]
        reset = http.patch("/api/users/me", json={"default_model_id": None})
        assert reset.json()["default_model_id"] is None
        unknown = http.patch("/api/users/me", json={"default_model_id": str(uuid.uuid4())})
        assert_error(unknown, 404, "not_found")


def test_tokens_are_shown_once_stored_hashed_and_revocable(live_server: LiveServer) -> None:
    first = live_server.create_user()
    with live_server.client(first) as http:
        created = http.post("/api/tokens", json={"name": "ci"})
        assert created.status_code == 201, created.text
        body = created.json()
        token = body["token"]
        assert token.startswith(body["prefix"])

        listed = http.get("/api/tokens").json()
        assert body["id"] in {t["id"] for t in listed}
        assert all("token" not in t for t in listed)
        assert token not in http.get("/api/tokens").text

    async def stored() -> list[ApiToken]:
        async with live_server.services.db.session(SYSTEM) as session:
            return list(await session.scalars(select(ApiToken)))

    rows = live_server.run(stored())
    assert hashlib.sha256(token.encode()).hexdigest() in {r.token_hash for r in rows}
    assert all(token not in (r.token_hash, r.prefix, r.name) for r in rows)

    with live_server.client(token) as http:
        assert http.get("/api/users/me").status_code == 200
        assert http.delete(f"/api/tokens/{body['id']}").status_code == 204
    with live_server.client(token) as http:
        assert_error(http.get("/api/users/me"), 401, "authentication_error")


def test_a_user_cannot_see_or_revoke_another_users_token(live_server: LiveServer) -> None:
    alice, bob = live_server.create_user(), live_server.create_user()
    with live_server.client(alice) as a:
        alice_token = a.post("/api/tokens", json={"name": "mine"}).json()
    with live_server.client(bob) as b:
        assert alice_token["id"] not in {t["id"] for t in b.get("/api/tokens").json()}
        assert_error(b.delete(f"/api/tokens/{alice_token['id']}"), 404, "not_found")
        assert_error(b.delete(f"/api/tokens/{uuid.uuid4()}"), 404, "not_found")
    with live_server.client(alice_token["token"]) as a:
        assert a.get("/api/users/me").status_code == 200


def test_session_cookie_authenticates_and_state_changes_need_the_csrf_header(
    live_server: LiveServer,
) -> None:
    name = "dave-" + uuid.uuid4().hex[:6]
    live_server.create_user(name)
    cookies = _session_cookies(live_server, name)
    assert set(cookies) == {SESSION_COOKIE, CSRF_COOKIE}

    with httpx.Client(base_url=live_server.url, cookies=cookies) as browser:
        assert browser.get("/api/users/me").json()["username"] == name  # reads need no CSRF

        forged = browser.post("/api/models", json=model_payload())
        assert_error(forged, 403, "csrf_failed")
        wrong = browser.post(
            "/api/models", json=model_payload(), headers={CSRF_HEADER: "not-the-cookie"}
        )
        assert_error(wrong, 403, "csrf_failed")
        assert not [m for m in browser.get("/api/models").json() if not m["is_global"]]

        ok = browser.post(
            "/api/models", json=model_payload(), headers={CSRF_HEADER: cookies[CSRF_COOKIE]}
        )
        assert ok.status_code == 201, ok.text


def test_tampered_session_cookie_is_401(live_server: LiveServer) -> None:
    name = "erin-" + uuid.uuid4().hex[:6]
    live_server.create_user(name)
    cookies = _session_cookies(live_server, name)
    cookies[SESSION_COOKIE] = cookies[SESSION_COOKIE][:-2] + "xx"
    with httpx.Client(base_url=live_server.url, cookies=cookies) as browser:
        assert_error(browser.get("/api/users/me"), 401, "authentication_error")


def test_session_cookie_flags(live_server: LiveServer) -> None:
    response = Response()
    with live_server.client(live_server.admin_token) as http:
        me = http.get("/api/users/me").json()
    actor = Actor(id=uuid.UUID(me["id"]), username=me["username"], role="admin")
    accounts = live_server.services.accounts
    live_server.run(issue_session(response, accounts, actor, live_server.services.settings))
    headers = [v.decode().lower() for k, v in response.raw_headers if k == b"set-cookie"]
    session = next(h for h in headers if h.startswith(SESSION_COOKIE))
    csrf = next(h for h in headers if h.startswith(CSRF_COOKIE))
    assert "httponly" in session
    assert "samesite=lax" in session
    assert "httponly" not in csrf  # the page's script must read it
    secure_settings = live_server.services.settings.model_copy(update={"cookie_secure": True})
    secure = Response()
    live_server.run(issue_session(secure, accounts, actor, secure_settings))
    assert all(b"secure" in v.lower() for k, v in secure.raw_headers if k == b"set-cookie")


def test_tokens_with_an_expiry_are_created_in_the_documented_format(
    live_server: LiveServer,
) -> None:
    soon = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    with live_server.client(live_server.create_user()) as http:
        for spelling in (
            soon.strftime("%Y-%m-%dT%H:%M:%SZ"),
            soon.astimezone(timezone(timedelta(hours=2))).isoformat(),
        ):
            created = http.post("/api/tokens", json={"name": "ci", "expires_at": spelling})
            assert created.status_code == 201, created.text
            assert datetime.fromisoformat(created.json()["expires_at"]) == soon
            with live_server.client(created.json()["token"]) as holder:
                assert holder.get("/api/users/me").status_code == 200

        past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
        for refused in (past, soon.replace(tzinfo=None).isoformat(), 1893456000, "next week"):
            answer = http.post("/api/tokens", json={"expires_at": refused})
            error = assert_error(answer, 422, "validation_error", field="expires_at")
            if refused == past:
                assert "future" in error["message"]


def test_an_expired_token_is_refused_even_when_cached(live_server: LiveServer) -> None:
    user_token = live_server.create_user()
    with live_server.client(user_token) as http:
        me = http.get("/api/users/me").json()
    actor = Actor(id=uuid.UUID(me["id"]), username=me["username"], role="user")
    expires_at = datetime.now(UTC) + timedelta(seconds=1.5)
    accounts = live_server.services.accounts
    token, _ = live_server.run(accounts.create_token(actor, actor.id, expires_at=expires_at))
    with live_server.client(token) as http:
        assert http.get("/api/users/me").status_code == 200  # now in the token cache
        time.sleep(max(0.0, (expires_at - datetime.now(UTC)).total_seconds()) + 0.1)
        assert_error(http.get("/api/users/me"), 401, "authentication_error")
        assert_error(http.post("/v1/chat/completions", json={}), 401, "authentication_error")


def test_an_admin_lists_and_revokes_another_users_token(live_server: LiveServer) -> None:
    """Admins manage everyone's tokens (docs/api.md); the owner's token stops working."""
    name = "tok-" + uuid.uuid4().hex[:8]
    owner_token = live_server.create_user(name)
    with live_server.client(owner_token) as owner:
        mine = owner.post("/api/tokens", json={"name": "leaked"}).json()
    with live_server.client(live_server.admin_token) as admin:
        listed = admin.get("/api/tokens", params={"user": name})
        assert listed.status_code == 200, listed.text
        assert mine["id"] in {t["id"] for t in listed.json()}
        assert admin.delete(f"/api/tokens/{mine['id']}").status_code == 204
    with live_server.client(mine["token"]) as leaked:
        assert_error(leaked.get("/api/users/me"), 401, "authentication_error")
    with live_server.client(owner_token) as owner:
        revoked = next(t for t in owner.get("/api/tokens").json() if t["id"] == mine["id"])
        assert revoked["revoked_at"] is not None
        # a user cannot list someone else's tokens
        other = owner.get("/api/tokens", params={"user": "admin"})
        assert_error(other, 422, "validation_error", field="user")
