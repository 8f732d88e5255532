"""The budget banner and a stopped answer's numbers in the browser, against the real server
and the simulators: a user whose budget passes 80 % sees a warning, at 100 % that requests are
refused (and the chat says why); a stopped answer shows its estimated tokens and cost live and
after a reload."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from modelreg.simulators import Script
from tests.fixtures.server import LiveServer
from tests.web.conftest import (
    PHONE,
    Browser,
    User,
    add_model,
    choose_model,
    send,
    sim_model,
    wait_for_answers,
)

pytestmark = pytest.mark.browser

# sim_model's prices: 1e-6 per input token, 2e-6 per output token
ONE_ANSWER = (1000, 100)  # $0.0012


def open_chat(web: Browser, user: User, model: str, **kwargs: Any) -> Any:
    page = web.login(user, **kwargs)
    page.wait_for_selector("#model-button:not([disabled])")
    choose_model(page, model)
    return page


@pytest.mark.parametrize(("viewport", "scheme"), [(None, "light"), (PHONE, "dark")])
def test_the_banner_warns_at_80_percent_and_says_when_the_budget_is_used_up(
    web: Browser,
    make_user: Callable[..., User],
    live_server: LiveServer,
    openai_sim: Any,
    viewport: dict[str, int] | None,
    scheme: str,
) -> None:
    user = make_user("budgeted")
    add_model(user, live_server, **sim_model(openai_sim, "Metered"))
    with user.http(live_server) as http:
        answer = http.post("/api/budgets", json={"scope": "user", "limit_usd": "0.0014"})
        assert answer.status_code == 201, answer.text
    openai_sim.enqueue(
        Script(text="first", usage=ONE_ANSWER), Script(text="second", usage=ONE_ANSWER)
    )
    page = open_chat(web, user, "Metered", viewport=viewport, color_scheme=scheme)
    banner = page.locator("#budget-banner")
    assert banner.is_hidden()

    send(page, "one")
    wait_for_answers(page, 1)
    banner.wait_for(state="visible")
    assert "Your monthly budget is 85 % used" in banner.inner_text()
    assert page.get_by_role("status").filter(has_text="budget").count() == 1

    send(page, "two")
    wait_for_answers(page, 2)
    page.wait_for_function(
        "() => document.getElementById('budget-banner').dataset.state === 'exceeded'"
    )
    assert "Your monthly budget of $0.0014 is used up" in banner.inner_text()
    assert "used up" in banner.inner_text()

    send(page, "three")  # refused before any upstream call, and the chat says so
    page.locator(".msg-error", has_text="budget").wait_for()
    assert len(openai_sim.requests) == 2
    # the banner sits above the conversation, inside the page width
    box = banner.bounding_box()
    assert box is not None
    assert box["width"] <= page.viewport_size["width"]


def test_a_stopped_answer_shows_its_estimated_numbers_live_and_after_a_reload(
    web: Browser, make_user: Callable[..., User], live_server: LiveServer, openai_sim: Any
) -> None:
    user = make_user("stopper")
    add_model(user, live_server, **sim_model(openai_sim, "Chatty"))
    openai_sim.enqueue(Script(chunks=[f"word{i} " for i in range(60)], chunk_delay=0.1))
    page = open_chat(web, user, "Chatty")
    send(page, "talk a lot")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=assistant-message] .msg-body')"
        ".textContent.includes('word2')"
    )
    page.click("#stop-button")
    page.locator(".msg-note", has_text="Stopped").wait_for()
    stats = page.locator("[data-testid=assistant-message] .msg-stats")
    stats.locator(".estimated").wait_for()  # once the server has stored it (after the grace)
    live = stats.inner_text()
    tokens_in, tokens_out = (int(n) for n in re.findall(r"(\d+) (?:in|out)\b", live))
    assert tokens_in > 0
    assert tokens_out > 0
    assert re.search(r"\$0\.0*[1-9]", live), live  # a cost above zero

    page.reload()
    page.locator("[data-testid=assistant-message]").wait_for()
    stats.locator(".estimated").wait_for()
    assert stats.inner_text() == live
