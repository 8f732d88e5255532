"""The Content-Security-Policy of the pages blocks nothing of our own: every page loads and
works with it, and the browser reports no violation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.web.conftest import Browser, User

pytestmark = pytest.mark.browser


def test_no_page_violates_its_content_security_policy(
    web: Browser, make_user: Callable[..., User]
) -> None:
    admin = make_user("csp-admin", role="admin")
    page = web.login(admin)
    violations: list[str] = []
    page.on(
        "console",
        lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => "
        "console.error('Content Security Policy violation: ' + e.violatedDirective + ' ' "
        "+ e.blockedURI))"
    )
    for path, ready in [
        ("/", "[data-testid=current-user]"),
        ("/models", "[data-testid=current-user]"),
        ("/account", "[data-testid=token-row], .empty-row"),
        ("/users", "[data-testid=current-user]"),
        ("/audit", "[data-testid=current-user]"),
        ("/experiments", "[data-testid=current-user]"),
        ("/compare", "[data-testid=current-user]"),
        ("/knowledge", "[data-testid=current-user]"),
        ("/analytics", "#an-charts[aria-busy=false]"),
        ("/usage", "#an-charts[aria-busy=false]"),
    ]:
        answer: Any = page.goto(path)
        assert "nonce-" in answer.headers["content-security-policy"]
        page.wait_for_selector(ready)
        page.wait_for_load_state("networkidle")
    page.goto("/login")  # signed in: redirected back to the chat
    page.wait_for_load_state("networkidle")
    assert violations == []
