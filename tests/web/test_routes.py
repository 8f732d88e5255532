"""The page routes over plain HTTP (no browser): redirects, CSRF on forms, safe `next`."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest

from tests.fixtures.server import LiveServer


def login_form(http: httpx.Client, next_url: str = "/") -> str:
    page = http.get("/login", params={"next": next_url})
    assert page.status_code == 200
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match is not None
    return match.group(1)


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/models",
        "/users",
        "/audit",
        "/experiments",
        "/compare",
        "/knowledge",
        "/analytics",
        "/usage",
    ],
)
def test_pages_redirect_anonymous_visitors_to_login(live_server: LiveServer, path: str) -> None:
    with live_server.client() as http:
        answer = http.get(path)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login")


@pytest.mark.parametrize(
    ("requested", "landing"),
    [
        ("/models", "/models"),
        ("//evil.example/x", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
    ],
)
def test_login_only_follows_same_site_next(
    live_server: LiveServer, requested: str, landing: str
) -> None:
    with live_server.client() as http:
        token = login_form(http, requested)
        answer = http.post(
            "/login",
            data={
                "username": "admin",
                "password": live_server.admin_password,
                "csrf_token": token,
                "next": requested,
            },
        )
    assert answer.status_code == 303
    assert answer.headers["location"] == landing
    assert "modelreg_session" in answer.cookies


def test_login_without_the_csrf_token_is_refused(live_server: LiveServer) -> None:
    with live_server.client() as http:
        login_form(http)
        answer = http.post(
            "/login", data={"username": "admin", "password": live_server.admin_password}
        )
    assert answer.status_code == 400
    assert "modelreg_session" not in answer.cookies
    assert "form expired" in answer.text


def test_a_failed_login_echoes_the_username_escaped(live_server: LiveServer) -> None:
    with live_server.client() as http:
        token = login_form(http)
        answer = http.post(
            "/login",
            data={"username": '"><i>odd</i>', "password": "wrong", "csrf_token": token},
        )
    assert answer.status_code == 401
    assert "Wrong username or password." in answer.text
    assert 'value="&#34;&gt;&lt;i&gt;odd&lt;/i&gt;"' in answer.text
    assert "<i>odd</i>" not in answer.text


def test_pages_are_not_cached(live_server: LiveServer) -> None:
    with live_server.client() as http:
        token = login_form(http)
        http.post(
            "/login",
            data={"username": "admin", "password": live_server.admin_password,
                  "csrf_token": token},
        )  # fmt: skip
        page = http.get("/models")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert 'data-testid="current-user">admin<' in page.text


def test_password_guessing_is_slowed_down(
    live_server_factory: Callable[..., LiveServer],
) -> None:
    server = live_server_factory(login_attempts_per_minute=3)
    with httpx.Client(base_url=server.url, follow_redirects=False) as http:
        token = login_form(http)
        statuses = [
            http.post(
                "/login", data={"username": "admin", "password": "guess", "csrf_token": token}
            ).status_code
            for _ in range(4)
        ]
        assert statuses == [401, 401, 401, 429]
        # the right password waits too: the limit counts attempts, not failures
        blocked = http.post(
            "/login",
            data={"username": "admin", "password": server.admin_password, "csrf_token": token},
        )
        assert blocked.status_code == 429
        assert "Too many sign-in attempts" in blocked.text
    server.stop()
