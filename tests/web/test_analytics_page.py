"""The analytics and usage pages and the thumbs under chat answers, in Chromium against the
real server and the OpenAI simulator: charts and tables from real traffic, an empty period,
phone width and dark mode; rating an answer, and the rating after a reload."""

from __future__ import annotations

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
    screenshot,
    send,
    sim_model,
    wait_for_answers,
)

pytestmark = pytest.mark.browser


def _traffic(user: User, server: LiveServer, sim: Any, model: dict[str, Any], n: int) -> None:
    with user.http(server) as http:
        for i in range(n):
            sim.enqueue(Script(text="ok", usage=(10 + i, 5), first_byte_delay=0.01 * i))
            body = {"model": model["name"], "messages": [{"role": "user", "content": "x"}]}
            assert http.post("/v1/chat/completions", json=body).status_code == 200
    server.run(server.services.usage.flush)


def _no_horizontal_scroll(page: Any) -> bool:
    return bool(page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth + 1"))


@pytest.mark.parametrize(
    ("viewport", "scheme"), [(None, "light"), (PHONE, "dark")], ids=["desktop-light", "phone-dark"]
)
def test_the_analytics_page_draws_charts_and_tables(
    web: Browser,
    make_user: Callable[..., User],
    live_server: LiveServer,
    openai_sim: Any,
    viewport: dict[str, int] | None,
    scheme: str,
) -> None:
    user = make_user("analyst")
    model = add_model(user, live_server, **sim_model(openai_sim, "Charted model"))
    _traffic(user, live_server, openai_sim, model, 4)

    page = web.login(user, viewport, color_scheme=scheme)
    page.goto("/analytics")
    page.wait_for_selector("#an-charts[aria-busy=false]")
    charts = page.locator("figure.chart")
    assert charts.count() == 5  # requests and cost per day, latency and cost per model, latency
    assert page.get_by_role("img", name="Requests per day, by model").count() == 1
    assert page.locator(".chart-line").count() >= 1
    assert page.locator("#an-models tbody tr", has_text="Charted model").count() == 1
    row = page.locator("#an-models tbody tr", has_text="Charted model")
    assert row.locator("td").nth(1).inner_text() == "4"
    assert page.locator("#an-users").count() == 0  # a user has no per-user table
    assert _no_horizontal_scroll(page)
    screenshot(page, f"analytics-{scheme}")

    # a period without traffic: empty, well-labelled charts, no error
    page.fill("#an-from", "2020-01-01")
    page.fill("#an-to", "2020-01-31")
    page.get_by_role("button", name="Show").click()
    page.wait_for_function(
        "() => document.querySelectorAll('#an-models tbody tr td[colspan]').length === 1"
    )
    assert page.get_by_role("img", name="Requests per day, by model: No data in this period")
    assert page.locator(".chart-empty").count() == 5
    assert page.locator("#an-error").is_hidden()
    # from after to: the API's message, not a broken page
    page.fill("#an-from", "2020-02-01")
    page.get_by_role("button", name="Show").click()
    page.wait_for_selector("#an-error:not([hidden])")
    assert "from" in page.locator("#an-error").inner_text()


def test_the_usage_page_shows_spend_by_model_and_day(
    web: Browser, admin: User, live_server: LiveServer, openai_sim: Any
) -> None:
    model = add_model(admin, live_server, **sim_model(openai_sim, "Spent model"))
    _traffic(admin, live_server, openai_sim, model, 2)
    page = web.login(admin, PHONE)
    page.goto("/usage")
    page.wait_for_selector("#an-charts[aria-busy=false]")
    assert page.get_by_role("img", name="Spend per day").count() == 1
    assert page.locator("#an-models tbody tr", has_text="Spent model").count() == 1
    assert page.locator("#an-days tbody tr").count() >= 1
    assert page.locator("#budget-slot").is_visible()
    assert _no_horizontal_scroll(page)


def test_thumbs_under_an_answer_are_saved_and_shown_after_a_reload(
    web: Browser, make_user: Callable[..., User], live_server: LiveServer, openai_sim: Any
) -> None:
    user = make_user("rater")
    add_model(user, live_server, **sim_model(openai_sim, "Rated model"))
    page = web.login(user)
    page.wait_for_selector("#model-button:not([disabled])")
    choose_model(page, "Rated model")
    openai_sim.enqueue(Script(chunks=["A ", "fine ", "answer"]))
    send(page, "Rate me")
    wait_for_answers(page, 1)

    good = page.get_by_role("button", name="Good response")
    bad = page.get_by_role("button", name="Bad response")
    good.click()
    page.wait_for_selector("button[aria-label='Good response'][aria-pressed=true]")
    bad.click()
    page.wait_for_selector("button[aria-label='Bad response'][aria-pressed=true]")
    assert good.get_attribute("aria-pressed") == "false"
    page.get_by_role("textbox", name="Comment on this response").fill("Too short")
    page.get_by_role("button", name="Save comment").click()
    page.locator(".toast", has_text="comment saved").wait_for()

    page.reload()
    page.wait_for_selector("button[aria-label='Bad response'][aria-pressed=true]")
    box = page.get_by_role("textbox", name="Comment on this response")
    assert box.input_value() == "Too short"
    with user.http(live_server) as http:
        conversation = http.get("/api/conversations").json()[0]["id"]
        (stored,) = http.get(f"/api/conversations/{conversation}/feedback").json()
    assert (stored["rating"], stored["comment"]) == (-1, "Too short")

    # pressing the chosen thumb again takes the rating back
    page.get_by_role("button", name="Bad response").click()
    page.wait_for_selector("button[aria-label='Bad response'][aria-pressed=false]")
    with user.http(live_server) as http:
        assert http.get(f"/api/conversations/{conversation}/feedback").json() == []
