"""The audit page: filters by actor, action and time (asked of the server), and "+N more"
shows the rest of a change in place."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.fixtures.server import LiveServer
from tests.web.conftest import Browser, User, add_model, sim_model

pytestmark = pytest.mark.browser


def test_the_audit_page_filters_and_expands(
    web: Browser,
    admin: User,
    make_user: Callable[..., User],
    live_server: LiveServer,
    openai_sim: Any,
) -> None:
    author = make_user("auditee")
    model = add_model(author, live_server, **sim_model(openai_sim, "Audited model"))
    with author.http(live_server) as http:
        changed = {"description": "now described", "context_length": 4096,
                   "max_output_tokens": 256, "default_temperature": 0.3, "rpm_limit": 7,
                   "tpm_limit": 900, "default_top_p": 0.9}  # fmt: skip
        assert http.patch(f"/api/models/{model['id']}", json=changed).status_code == 200
        assert http.delete(f"/api/models/{model['id']}").status_code == 204

    page = web.login(admin)
    page.goto("/audit")
    rows = page.locator("[data-testid=audit-row]")
    rows.first.wait_for()
    page.fill("#audit-actor", author.name)
    page.press("#audit-actor", "Enter")
    page.wait_for_function(
        "(name) => [...document.querySelectorAll('[data-testid=audit-row] td:nth-child(2)')]"
        ".every((td) => td.textContent === name)",
        arg=author.name,
    )
    page.select_option("#audit-action", "model")
    page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=audit-row]').length === 3"
    )
    actions = rows.locator("td:nth-child(3)").all_inner_texts()
    assert sorted(actions) == ["model.create", "model.delete", "model.update"]

    update = rows.filter(has_text="model.update")
    more = update.get_by_role("button", name="+1 more")
    more.click()
    chips = update.locator(".chips .badge").all_inner_texts()
    assert len(chips) == 7
    assert any(chip.startswith("rpm_limit") for chip in chips)

    # a time range after everything: nothing
    page.fill("#audit-since", "2999-01-01T00:00")
    page.dispatch_event("#audit-since", "change")
    page.locator(".empty-row").wait_for()
