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


def test_a_slower_answer_to_an_older_filter_does_not_overwrite_the_newer_one(
    web: Browser,
    admin: User,
    make_user: Callable[..., User],
    live_server: LiveServer,
    openai_sim: Any,
) -> None:
    author = make_user("overtaken")
    add_model(author, live_server, **sim_model(openai_sim, "Overtaken model"))
    page = web.login(admin)
    held: list[Any] = []

    def hold_model_filter(route: Any) -> None:
        # the answer to "model.*" is kept back until the newer "user.*" one has been shown
        if "action=model" in route.request.url and not held:
            held.append(route)
        else:
            route.continue_()

    page.route("**/api/audit?*", hold_model_filter)
    page.goto("/audit")
    rows = page.locator("[data-testid=audit-row]")
    rows.first.wait_for()
    page.select_option("#audit-action", "model")
    page.select_option("#audit-action", "user")
    only_users = (
        "() => { const cells = [...document.querySelectorAll("
        "'[data-testid=audit-row] td:nth-child(3)')];"
        " return cells.length > 0 && cells.every((td) => td.textContent.startsWith('user.')); }"
    )
    page.wait_for_function(only_users)
    assert len(held) == 1
    with page.expect_response(lambda r: "action=model" in r.url):
        held[0].continue_()
    page.evaluate("() => new Promise((done) => setTimeout(done, 100))")  # its handler ran
    assert page.evaluate(only_users)
    assert page.locator("#audit-action").input_value() == "user"
