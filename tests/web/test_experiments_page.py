"""The Experiments page in a real browser: create an experiment in the dialog, start it,
send traffic through the gateway, read the results with their intervals and the verdict
wording, pause and stop it; at phone width nothing overflows the screen sideways."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from modelreg.simulators import Script
from tests.fixtures.server import LiveServer
from tests.web.conftest import PHONE, Browser, User, add_model, sim_model

pytestmark = pytest.mark.browser


def test_create_start_read_results_and_stop(
    web: Browser, make_user: Callable[..., User], live_server: LiveServer, openai_sim: Any
) -> None:
    user = make_user("experimenter")
    tag = uuid.uuid4().hex[:6]
    first = add_model(user, live_server, **sim_model(openai_sim, f"big-{tag}"))
    second = add_model(user, live_server, **sim_model(openai_sim, f"small-{tag}"))
    name = f"which-{tag}"

    page = web.login(user)
    page.goto("/experiments")
    page.get_by_role("button", name="New experiment").click()
    page.locator("dialog[open]").wait_for()
    page.get_by_label("Name (used like a model name)").fill(name)
    page.get_by_label("Model of arm 1").select_option(first["id"])
    page.get_by_label("Model of arm 2").select_option(second["id"])
    page.get_by_label("Weight of arm 2").fill("3")
    page.get_by_role("button", name="Create experiment").click()
    row = page.locator("[data-testid=experiment-row]", has_text=name)
    row.wait_for()
    assert "draft" in row.inner_text()
    assert "75.0 %" in row.inner_text()

    row.get_by_role("button", name=f"Start {name}").click()
    row.filter(has_text="running").wait_for()  # this one: the page lists others too

    openai_sim.enqueue(Script(text="ok", usage=(10, 4), repeat=6))
    with user.http(live_server) as http:
        for i in range(6):
            answer = http.post("/v1/chat/completions", json={
                "model": name, "user": f"u{i}", "messages": [{"role": "user", "content": "hi"}],
            })  # fmt: skip
            assert answer.status_code == 200, answer.text
    live_server.run(live_server.services.usage.flush())

    row.get_by_role("button", name=f"Results of {name}").click()
    results = page.locator("#experiment-results")
    results.wait_for()
    assert page.locator("#results-title").inner_text() == f"Results: {name}"
    assert page.locator("#results-verdict").inner_text().startswith("No verdict yet")
    assert "always-valid" in page.locator("#results-method").inner_text()
    arm_rows = page.locator("#results-arms tr")
    assert arm_rows.count() == 2
    total = sum(int(r.split(" ")[0]) for r in arm_rows.locator("td:nth-child(2)").all_inner_texts())
    assert total == 6
    assert page.locator("#results-comparisons tr").count() == 1

    row.get_by_role("button", name=f"Pause {name}").click()
    row.filter(has_text="paused").wait_for()  # this one: the page lists others too
    page.locator("[data-testid=experiment-row]", has_text=name).get_by_role(
        "button", name=f"Stop {name}"
    ).click()
    row.filter(has_text="stopped").wait_for()  # this one: the page lists others too
    assert page.get_by_role("button", name=f"Start {name}").count() == 0


def test_bad_input_is_shown_and_the_page_fits_a_phone(
    web: Browser, make_user: Callable[..., User], live_server: LiveServer, openai_sim: Any
) -> None:
    user = make_user("phone")
    tag = uuid.uuid4().hex[:6]
    add_model(user, live_server, **sim_model(openai_sim, f"one-{tag}"))
    add_model(user, live_server, **sim_model(openai_sim, f"two-{tag}"))
    page = web.login(user, PHONE)
    page.goto("/experiments")
    page.get_by_role("button", name="New experiment").click()
    page.locator("dialog[open]").wait_for()
    page.get_by_label("Name (used like a model name)").fill(f"zero-{tag}")
    page.get_by_label("Weight of arm 1").fill("0")
    page.get_by_label("Weight of arm 2").fill("0")
    page.get_by_role("button", name="Create experiment").click()
    error = page.locator("#experiment-form-error")
    error.wait_for()
    assert "weight" in error.inner_text()
    page.keyboard.press("Escape")
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"]
