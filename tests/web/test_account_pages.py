"""The account page (own password, own API tokens) and user administration on the users page,
in Chromium at desktop and phone width, through the real server and API."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.fixtures.server import LiveServer
from tests.web.conftest import DESKTOP, PHONE, Browser, User, add_model, sim_model

pytestmark = pytest.mark.browser

VIEWPORTS = pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])


def _console_errors(page: Any) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    return errors


def _status(server: LiveServer, token: str) -> int:
    with server.client(token) as http:
        return http.get("/api/users/me").status_code


@VIEWPORTS
def test_the_account_page_changes_the_password_and_makes_and_revokes_tokens(
    web: Browser,
    make_user: Callable[..., User],
    live_server: LiveServer,
    viewport: dict[str, int],
) -> None:
    member = make_user("acct")
    page: Any = web.login(member, viewport)
    console = _console_errors(page)
    if viewport is PHONE:
        page.get_by_role("button", name="Open menu").click()
    page.get_by_role("link", name="Account").click()
    page.wait_for_url("**/account")

    # a wrong current password is said under its field; nothing changes
    page.get_by_label("Current password").fill("not-my-password")
    page.get_by_label("New password", exact=True).fill("a-brand-new-password")
    page.get_by_label("Repeat new password").fill("a-brand-new-password")
    page.get_by_role("button", name="Change password").click()
    error = page.locator('[data-error-for="current_password"]')
    error.wait_for()
    page.wait_for_function(
        "() => document.querySelector('[data-error-for=current_password]').textContent"
    )
    assert "wrong" in error.inner_text()
    page.get_by_label("Current password").fill(member.password)
    page.get_by_role("button", name="Change password").click()
    page.get_by_text("Password changed").wait_for()
    page.reload()  # this browser stays signed in
    page.get_by_role("heading", name="API tokens").wait_for()
    assert live_server.run(
        live_server.services.accounts.authenticate_password(member.name, "a-brand-new-password")
    )

    # a token: named, with an expiry, shown once
    page.get_by_label("Token name").fill("laptop")
    page.get_by_label("Expires").select_option("30")
    page.get_by_role("button", name="Create token").click()
    secret_box = page.locator("#token-secret-value")
    secret_box.wait_for()
    secret = secret_box.input_value()
    assert secret.startswith("mr-")
    assert page.get_by_role("button", name="Copy token").is_visible()
    row = page.locator("[data-testid=token-row]").filter(has_text="laptop")
    row.wait_for()
    assert "Never" in row.locator("[data-testid=token-last-used]").inner_text()
    assert _status(live_server, secret) == 200

    deadline = time.monotonic() + 10
    while "Never" in row.locator("[data-testid=token-last-used]").inner_text():
        assert time.monotonic() < deadline, "the token's last use never showed"
        page.reload()
        row.wait_for()
    page.reload()
    assert secret not in page.content()  # shown once, never again

    row.get_by_role("button", name="Revoke token laptop").click()
    page.locator("#confirm-dialog").get_by_role("button", name="Revoke").click()
    row.get_by_text("Revoked").wait_for()
    assert _status(live_server, secret) == 401
    # the 422 of the wrong password is an answer the page handles, not an error of the page
    assert [e for e in console if "422" not in e] == []


@VIEWPORTS
def test_an_admin_changes_role_disables_resets_and_deletes_a_user(
    web: Browser,
    admin: User,
    make_user: Callable[..., User],
    live_server: LiveServer,
    openai_sim: Any,
    viewport: dict[str, int],
) -> None:
    member = make_user("managed")
    model = add_model(member, live_server, **sim_model(openai_sim, f"own-{member.name}"))
    page: Any = web.login(admin, viewport)
    console = _console_errors(page)
    page.goto("/users")
    user_row = page.locator("[data-testid=user-row]").filter(has_text=member.name)
    user_row.wait_for()
    # admins see the member's model, with its owner, but no key
    personal = page.locator("[data-testid=personal-model-row]").filter(has_text=model["name"])
    personal.wait_for()
    assert member.name in personal.inner_text()
    assert str(openai_sim.api_key) not in page.content()

    user_row.get_by_role("button", name=f"Manage {member.name}").click()
    dialog = page.locator("#manage-dialog")
    dialog.wait_for()
    dialog.get_by_label("Role").select_option("admin")
    dialog.get_by_role("button", name="Save role").click()
    user_row.get_by_text("Administrator").wait_for()

    dialog.get_by_role("button", name="Disable user").click()
    user_row.get_by_text("Disabled", exact=True).wait_for()
    assert _status(live_server, member.token) == 401
    dialog.get_by_role("button", name="Enable user").click()
    user_row.get_by_text("Active").wait_for()

    dialog.get_by_label("New password").fill("short")
    dialog.get_by_role("button", name="Set password").click()
    assert "8 characters" in dialog.locator('[data-error-for="password"]').inner_text()
    dialog.get_by_label("New password").fill("set-by-the-admin-1")
    dialog.get_by_role("button", name="Set password").click()
    page.get_by_text(f"Password of {member.name} set").wait_for()
    assert live_server.run(
        live_server.services.accounts.authenticate_password(member.name, "set-by-the-admin-1")
    )

    dialog.get_by_role("button", name="Delete user").click()
    confirm = page.locator("#confirm-dialog")
    confirm.get_by_role("button", name="Delete user").click()
    user_row.wait_for(state="detached")
    personal.wait_for(state="detached")

    # the admin's own row has no Manage button: self-demotion is not offered
    # (other tests' users may be administrators too: find the row by its link, not by "admin")
    own = page.locator("[data-testid=user-row]").filter(
        has=page.get_by_role("link", name="Your account")
    )
    assert own.count() == 1
    assert admin.name in own.inner_text()
    assert page.get_by_role("button", name=f"Manage {admin.name}", exact=True).count() == 0
    assert console == []
