"""Signing in and out, redirects for anonymous visitors, admin-only pages."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

import pytest

from tests.web.conftest import Browser, User

pytestmark = pytest.mark.browser


def test_login_rejects_a_wrong_password_then_signs_in_and_out(
    web: Browser, make_user: Callable[..., User]
) -> None:
    user = make_user("login")
    page = web.page()
    page.goto("/models")
    # anonymous page requests land on the login form, remembering where they were going
    page.wait_for_url(re.compile(r"/login\?next=%2Fmodels$"))

    page.fill("#username", user.name)
    page.fill("#password", "not-the-password")
    page.click("button[type=submit]")
    assert page.locator("#login-error").inner_text() == "Wrong username or password."
    assert page.input_value("#username") == user.name  # kept for the retry

    page.fill("#password", user.password)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/models$"))
    assert page.get_by_test_id("current-user").inner_text() == user.name
    # members have no admin section
    assert page.locator("nav a[href='/users']").count() == 0

    page.click("button[aria-label='Sign out']")
    page.wait_for_url(re.compile(r"/login$"))
    page.goto("/")
    page.wait_for_url(re.compile(r"/login$"))


def test_admin_pages_are_for_admins_only(
    web: Browser, make_user: Callable[..., User], admin: User
) -> None:
    member = web.login(make_user("member"))
    response = member.goto("/users")
    assert response is not None
    assert response.status == 403
    assert member.get_by_role("heading", name="Administrators only").is_visible()

    page = web.login(admin)
    page.click("nav a[href='/users']")
    page.wait_for_selector("[data-testid=user-row]")
    page.click("#add-user")
    page.fill("#u-username", "")
    page.click("#user-form button[type=submit]")
    assert page.locator("[data-error-for=username]").inner_text() == "Enter a username."

    name = f"made-in-ui-{uuid.uuid4().hex[:8]}"
    page.fill("#u-username", name)
    page.fill("#u-password", "another-long-password")
    page.click("#user-form button[type=submit]")
    page.locator("[data-testid=user-row]", has_text=name).wait_for()

    page.click("nav a[href='/audit']")
    page.locator("[data-testid=audit-row]", has_text="user.create").first.wait_for()
