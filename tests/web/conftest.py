"""Browser fixtures: Debian's Chromium driven by Playwright's sync API, against `live_server`.

The sync API runs its own event loop in a helper greenlet, so the tests here are plain
(non-async) functions; pytest-asyncio's loop is never running while they execute.
Screenshots go to test-artifacts/web/ (git-ignored).
"""

from __future__ import annotations

import importlib
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import Response

from modelreg.actor import Actor
from modelreg.api.auth import issue_session
from tests.fixtures.server import DEFAULT_PASSWORD, LiveServer
from tests.fixtures.services import require_service

CHROMIUM = Path(os.environ.get("MODELREG_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    require_service(
        CHROMIUM.exists(), f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
    )
    try:
        sync_api = importlib.import_module("playwright.sync_api")
    except ImportError as exc:
        require_service(False, f"playwright is not installed ({exc})")
    with sync_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield instance
        instance.close()


@dataclass
class User:
    name: str
    password: str
    token: str

    def http(self, server: LiveServer) -> httpx.Client:
        return server.client(self.token)


@dataclass
class Browser:
    """Opens pages as users; records uncaught page errors so a test fails on them."""

    server: LiveServer
    instance: Any
    contexts: list[Any] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def page(self, viewport: dict[str, int] | None = None, color_scheme: str = "light") -> Any:
        context = self.instance.new_context(
            viewport=viewport or DESKTOP, color_scheme=color_scheme, base_url=self.server.url
        )
        context.set_default_timeout(10_000)
        self.contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        return page

    def login(self, user: User, viewport: dict[str, int] | None = None, **kwargs: Any) -> Any:
        """A page on the chat, signed in as `user` with a session minted by the server's own
        `issue_session`: the password check (argon2, deliberately slow) and the login form
        are tested on their own in test_auth_pages.py."""
        page = self.page(viewport, **kwargs)
        page.context.add_cookies(self._session_cookies(user))
        page.goto("/")
        page.wait_for_selector("[data-testid=current-user]")
        return page

    def _session_cookies(self, user: User) -> list[dict[str, Any]]:
        with self.server.client(self.server.admin_token) as http:
            users = http.get("/api/users").json()
        record = next(u for u in users if u["username"] == user.name)
        actor = Actor(id=uuid.UUID(record["id"]), username=user.name, role=record["role"])
        scratch = Response()
        services = self.server.services
        self.server.run(issue_session(scratch, services.accounts, actor, services.settings))
        cookies = SimpleCookie()
        for name, value in scratch.raw_headers:
            if name == b"set-cookie":
                cookies.load(value.decode("latin-1"))
        return [
            {"name": key, "value": morsel.value, "url": self.server.url}
            for key, morsel in cookies.items()
        ]

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def web(browser: Any, live_server: LiveServer) -> Iterator[Browser]:
    helper = Browser(live_server, browser)
    yield helper
    helper.close()
    assert not helper.page_errors, f"uncaught errors in the page: {helper.page_errors}"


@pytest.fixture
def make_user(live_server: LiveServer) -> Callable[..., User]:
    def make(prefix: str = "user", role: str = "user") -> User:
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        token = live_server.create_user(name, DEFAULT_PASSWORD, role=role)
        return User(name, DEFAULT_PASSWORD, token)

    return make


@pytest.fixture
def admin(live_server: LiveServer) -> User:
    return User("admin", live_server.admin_password, live_server.admin_token)


def add_model(user: User, server: LiveServer, **fields: Any) -> dict[str, Any]:
    """Register a model through the API (the UI flow has its own test)."""
    with user.http(server) as http:
        answer = http.post("/api/models", json=fields)
        assert answer.status_code == 201, answer.text
        model: dict[str, Any] = answer.json()
        return model


def sim_model(sim: Any, name: str, **extra: Any) -> dict[str, Any]:
    """ModelCreate fields for a model served by a simulator."""
    provider = "anthropic" if sim.flavor == "anthropic" else "openai"
    model_id = "claude-sonnet-4-5" if provider == "anthropic" else "gpt-4o-mini"
    return {
        "name": name,
        "provider": provider,
        "base_url": sim.base_url,
        "model_id": model_id,
        "api_key": sim.api_key,
        "price_per_input_token": "0.000001",
        "price_per_output_token": "0.000002",
        **extra,
    }


def wait_for_answers(page: Any, count: int) -> None:
    """Until `count` assistant messages exist and the composer is idle again."""
    page.wait_for_function(
        """n => document.querySelectorAll('[data-testid=assistant-message]').length >= n
             && document.getElementById('composer').getAttribute('aria-busy') === 'false'""",
        arg=count,
    )


def choose_model(page: Any, name: str) -> None:
    page.click("#model-button")
    page.locator("#model-options .model-option-name").get_by_text(name, exact=True).click()
    page.wait_for_selector("#model-popover", state="hidden")


def send(page: Any, text: str) -> None:
    page.fill("#prompt", text)
    page.click("#send-button")


def screenshot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
