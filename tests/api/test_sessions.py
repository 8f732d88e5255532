"""Browser sessions end when they should, on every replica: two app instances on one
database (an SQLite file / a PostgreSQL database), signed in through the real login form.

Logout, a password change, disabling and deleting the user end sessions at once; the CSRF
token belongs to one session, so a planted or borrowed token is refused."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from modelreg.actor import SYSTEM
from modelreg.api.auth import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE
from modelreg.crypto import generate_key
from tests.api._helpers import assert_error, model_payload
from tests.fixtures.server import DEFAULT_PASSWORD, LiveServer, make_settings, start_server
from tests.web.test_routes import login_form

Replicas = tuple[LiveServer, LiveServer]


@pytest.fixture
def replicas(db_url: str, tmp_path: Path) -> Iterator[Replicas]:
    """Two servers on the same database, sharing the secrets as replicas must."""
    shared = {
        "database_url": db_url,
        "session_secret": SecretStr("replica-session-secret-" + uuid.uuid4().hex),
        "encryption_key": SecretStr(generate_key()),
    }
    first = start_server(make_settings(tmp_path / "a", **shared))
    try:
        second = start_server(make_settings(tmp_path / "b", **shared))
    except BaseException:
        first.stop()
        raise
    yield first, second
    second.stop()
    first.stop()


@contextmanager
def sign_in(
    server: LiveServer, username: str, password: str = DEFAULT_PASSWORD
) -> Iterator[httpx.Client]:
    """A client holding the cookies the login form sets."""
    with httpx.Client(base_url=server.url, follow_redirects=False, timeout=30) as http:
        token = login_form(http)
        answer = http.post(
            "/login", data={"username": username, "password": password, "csrf_token": token}
        )
        assert answer.status_code == 303, answer.text
        assert SESSION_COOKIE in http.cookies
        yield http


def on(server: LiveServer, cookies: httpx.Cookies) -> httpx.Client:
    """The same browser's cookies sent to another replica."""
    jar = {name: value for name, value in cookies.items() if name in (SESSION_COOKIE, CSRF_COOKIE)}
    return httpx.Client(base_url=server.url, cookies=jar, follow_redirects=False, timeout=30)


def new_user(server: LiveServer) -> str:
    name = "s-" + uuid.uuid4().hex[:10]
    server.create_user(name)
    return name


def assert_signed_out(server: LiveServer, cookies: httpx.Cookies) -> None:
    with on(server, cookies) as browser:
        assert_error(browser.get("/api/users/me"), 401, "authentication_error")
        page = browser.get("/models")
        assert page.status_code == 303
        assert page.headers["location"].startswith("/login")


def test_logout_ends_that_session_on_every_replica(replicas: Replicas) -> None:
    a, b = replicas
    name = new_user(a)
    with sign_in(a, name) as browser, sign_in(b, name) as other_browser:
        cookies = httpx.Cookies(browser.cookies)
        with on(b, cookies) as same_on_b:
            assert same_on_b.get("/api/users/me").json()["username"] == name

        out = browser.post("/logout", data={"csrf_token": cookies[CSRF_COOKIE]})
        assert out.status_code == 303
        assert out.headers["location"] == "/login"

        assert_signed_out(a, cookies)
        assert_signed_out(b, cookies)
        # logout ends this browser's session only
        assert other_browser.get("/api/users/me").status_code == 200


ChangeUser = Callable[[LiveServer, str], None]


def _change_password(server: LiveServer, name: str) -> None:
    server.run(server.services.accounts.update_user(SYSTEM, name, password="a-new-password-1"))


def _disable(server: LiveServer, name: str) -> None:
    server.run(server.services.accounts.update_user(SYSTEM, name, is_active=False))


def _delete(server: LiveServer, name: str) -> None:
    with server.client(server.admin_token) as admin:
        users = {u["username"]: u["id"] for u in admin.get("/api/users").json()}
    server.run(server.services.accounts.delete_user(SYSTEM, users[name]))


@pytest.mark.parametrize("change", [_change_password, _disable, _delete])
def test_password_change_disable_and_delete_end_all_sessions_on_every_replica(
    replicas: Replicas, change: ChangeUser
) -> None:
    a, b = replicas
    name = new_user(a)
    bystander = new_user(a)
    with sign_in(a, name) as on_a, sign_in(b, name) as on_b, sign_in(b, bystander) as others:
        assert on_b.get("/api/users/me").status_code == 200
        change(a, name)  # through replica a (what the CLI does)
        assert_signed_out(a, on_a.cookies)
        assert_signed_out(b, on_b.cookies)
        assert others.get("/api/users/me").status_code == 200


def test_re_enabling_a_user_does_not_bring_their_sessions_back(replicas: Replicas) -> None:
    """Disabling ends the sessions; enabling the user again does not bring them back."""
    a, b = replicas
    name = new_user(a)
    with sign_in(a, name) as browser:
        _disable(a, name)
        a.run(a.services.accounts.update_user(SYSTEM, name, is_active=True))
        assert_signed_out(b, browser.cookies)


def test_the_csrf_token_is_bound_to_the_session(live_server: LiveServer) -> None:
    alice, bob = new_user(live_server), new_user(live_server)
    with sign_in(live_server, alice) as a, sign_in(live_server, bob) as b:
        bobs_token = b.cookies[CSRF_COOKIE]
        own_token = a.cookies[CSRF_COOKIE]
        # a token planted into the CSRF cookie (cookie tossing from a sibling host) and sent
        # in the header matched the old double-submit check
        a.cookies.set(CSRF_COOKIE, "planted-by-an-attacker", domain="127.0.0.1")
        forged = a.post(
            "/api/models", json=model_payload(), headers={CSRF_HEADER: "planted-by-an-attacker"}
        )
        assert_error(forged, 403, "csrf_failed")
        a.cookies.set(CSRF_COOKIE, bobs_token, domain="127.0.0.1")
        borrowed = a.post("/api/models", json=model_payload(), headers={CSRF_HEADER: bobs_token})
        assert_error(borrowed, 403, "csrf_failed")
        # a forged logout form does not sign the user out
        assert a.post("/logout", data={"csrf_token": bobs_token}).headers["location"] == "/"
        assert a.get("/api/users/me").status_code == 200

        ok = a.post("/api/models", json=model_payload(), headers={CSRF_HEADER: own_token})
        assert ok.status_code == 201, ok.text


def test_pages_hand_out_the_sessions_csrf_token(live_server: LiveServer) -> None:
    name = new_user(live_server)
    with sign_in(live_server, name) as browser:
        token = browser.cookies[CSRF_COOKIE]
        browser.cookies.set(CSRF_COOKIE, "stale-from-before", domain="127.0.0.1")
        page = browser.get("/models")
        assert page.status_code == 200
        assert f'name="csrf_token" value="{token}"' in page.text
        # the cookie the page's script reads is put right as well
        assert page.cookies.get(CSRF_COOKIE) == token


def test_an_old_style_user_id_cookie_is_not_a_session(live_server: LiveServer) -> None:
    """Cookies of the old format (a signed user id) cannot be revoked, so they are refused."""
    from itsdangerous import URLSafeTimedSerializer

    settings = live_server.services.settings
    assert settings.session_secret is not None
    with live_server.client(live_server.admin_token) as admin:
        admin_id = admin.get("/api/users/me").json()["id"]
    old = URLSafeTimedSerializer(
        settings.session_secret.get_secret_value(), salt="modelreg.session.v1"
    ).dumps({"uid": admin_id})
    with httpx.Client(base_url=live_server.url, cookies={SESSION_COOKIE: old}) as browser:
        assert_error(browser.get("/api/users/me"), 401, "authentication_error")
