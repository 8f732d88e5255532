"""The model dialog's "Authentication and provider options": how the key is sent, secret
extra headers (write-only, like the key) and provider options as JSON, through the real API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.fixtures.server import LiveServer
from tests.web.conftest import Browser, User, add_model, sim_model

pytestmark = pytest.mark.browser


def _model(user: User, server: LiveServer, name: str) -> dict[str, Any]:
    with user.http(server) as http:
        found: dict[str, Any] = next(m for m in http.get("/api/models").json() if m["name"] == name)
        return found


def test_auth_type_secret_headers_and_options_are_set_kept_and_removed(
    web: Browser, make_user: Callable[..., User], live_server: LiveServer, openai_sim: Any
) -> None:
    user = make_user("advanced")
    add_model(user, live_server, **sim_model(openai_sim, "Advanced model"))
    page = web.login(user)
    page.goto("/models")

    def edit() -> Any:
        page.locator("tr", has_text="Advanced model").locator("button[aria-label^='Edit']").click()
        page.click("summary:has-text('Authentication and provider options')")
        return page

    edit()
    page.fill("#f-options", "[1, 2]")
    page.click("#save-model")
    assert "JSON object" in page.locator("[data-error-for=options]").inner_text()
    page.fill("#f-options", '{"organization": "org-123"}')
    page.fill("#f-auth_headers", "X-Org-Id: secret-org-value\nX-Team: blue")
    page.select_option("#f-auth_type", "api_key")
    page.click("#save-model")
    page.wait_for_selector("#model-dialog", state="hidden")
    saved = _model(user, live_server, "Advanced model")
    assert saved["options"] == {"organization": "org-123"}
    assert saved["auth_type"] == "api_key"
    assert sorted(saved["auth_header_names"]) == ["X-Org-Id", "X-Team"]

    # the header values never come back; left empty they are kept
    edit()
    assert page.input_value("#f-auth_headers") == ""
    assert "X-Org-Id" in (page.get_attribute("#f-auth_headers", "placeholder") or "")
    assert "secret-org-value" not in page.content()
    assert '"organization": "org-123"' in page.input_value("#f-options")
    page.click("summary:has-text('Capabilities')")
    page.fill("#f-description", "still has headers")
    page.click("#save-model")
    page.wait_for_selector("#model-dialog", state="hidden")
    assert sorted(_model(user, live_server, "Advanced model")["auth_header_names"]) == [
        "X-Org-Id",
        "X-Team",
    ]

    # "-" removes them
    edit()
    page.fill("#f-auth_headers", "-")
    page.click("#save-model")
    page.wait_for_selector("#model-dialog", state="hidden")
    assert _model(user, live_server, "Advanced model")["auth_header_names"] == []
