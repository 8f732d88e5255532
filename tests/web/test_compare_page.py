"""The compare page in Chromium against a server of its own (so the arena draws only this
module's models) and the OpenAI simulator set to slow streams: both columns stream at once,
the arena hides the names until the vote, and the leaderboard shows the vote."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from modelreg.simulators import Script
from tests.fixtures.server import DEFAULT_PASSWORD, LiveServer
from tests.web.conftest import DESKTOP, PHONE, Browser, User, add_model, sim_model

pytestmark = pytest.mark.browser

CHUNKS = ["one ", "two ", "three ", "four ", "five ", "six"]
# long enough that both columns are seen mid-stream together even when one upstream call
# starts late on a loaded machine (0.15 s left a 0.75 s window that CI once missed)
CHUNK_DELAY = 0.4

BOTH_STREAMING = """() => {
  const cols = [...document.querySelectorAll('.compare-column .column-body')];
  return cols.length === 2 && cols.every(c => c.textContent.includes('one')
                                          && !c.textContent.includes('six'));
}"""
BOTH_DONE = """() => {
  const cols = [...document.querySelectorAll('.compare-column .column-body')];
  return cols.length === 2 && cols.every(c => c.textContent.endsWith('six'));
}"""


@pytest.fixture(scope="module")
def own_server(live_server_factory: Any) -> LiveServer:
    server: LiveServer = live_server_factory()
    return server


@pytest.fixture
def web_own(browser: Any, own_server: LiveServer) -> Iterator[Browser]:
    helper = Browser(own_server, browser)
    yield helper
    helper.close()
    assert not helper.page_errors, f"uncaught errors in the page: {helper.page_errors}"


def _user_with_two_models(server: LiveServer, sim: Any) -> tuple[User, list[dict[str, Any]]]:
    name = f"cmp-{uuid.uuid4().hex[:8]}"
    user = User(name, DEFAULT_PASSWORD, server.create_user(name, DEFAULT_PASSWORD))
    models = [
        add_model(user, server, **sim_model(sim, f"{label}-{name}", model_id=f"up-{label}-{name}"))
        for label in ("Left", "Right")
    ]
    sim.enqueue(
        *(
            Script(chunks=[f"{m['name'][:1]}:{c}" if i == 0 else c for i, c in enumerate(CHUNKS)],
                   chunk_delay=CHUNK_DELAY, match={"model": m["model_id"]})
            for m in models
        )
    )  # fmt: skip
    return user, models


def test_compare_streams_both_columns_side_by_side(
    web_own: Browser, own_server: LiveServer, openai_sim: Any
) -> None:
    user, models = _user_with_two_models(own_server, openai_sim)
    page = web_own.login(user, DESKTOP)
    page.goto("/compare")
    for model in models:
        page.get_by_label(model["name"], exact=True).check()
    page.get_by_label("Prompt").fill("Count to six")
    page.get_by_role("button", name="Send").click()

    page.wait_for_function(BOTH_STREAMING)  # both have text, neither has finished
    page.wait_for_function(BOTH_DONE)
    heads = page.locator(".compare-column .column-name").all_inner_texts()
    assert heads == [m["name"] for m in models]
    bodies = page.locator(".compare-column .column-body").all_inner_texts()
    assert bodies == [f"{m['name'][:1]}:" + "".join(CHUNKS) for m in models]
    boxes = [c.bounding_box() for c in page.locator(".compare-column").all()]
    assert boxes[0]["y"] == boxes[1]["y"]  # side by side on a desktop
    assert boxes[0]["x"] < boxes[1]["x"]


def test_arena_streams_blind_columns_and_a_vote_reveals_the_names(
    web_own: Browser, own_server: LiveServer, openai_sim: Any
) -> None:
    user, models = _user_with_two_models(own_server, openai_sim)
    names = {m["name"] for m in models}
    page = web_own.login(user, PHONE)
    page.goto("/compare")
    page.get_by_role("button", name="Blind arena").click()
    page.get_by_label("Prompt").fill("Count to six")
    page.get_by_role("button", name="Send").click()

    page.wait_for_function(BOTH_STREAMING)
    heads = page.locator(".compare-column .column-name").all_inner_texts()
    assert heads == ["Model A", "Model B"]
    shown = page.locator("#compare-columns").inner_html
    assert not any(name in shown() for name in names)  # hidden while streaming
    page.wait_for_function(BOTH_DONE)
    boxes = [c.bounding_box() for c in page.locator(".compare-column").all()]
    assert boxes[1]["y"] >= boxes[0]["y"] + boxes[0]["height"]  # stacked on a phone
    assert not any(name in shown() for name in names)  # hidden until the vote

    page.get_by_role("button", name="Vote for Model A").click()
    reveal = page.locator("#reveal")
    reveal.wait_for()
    page.wait_for_function("() => document.getElementById('reveal').textContent.length > 0")
    text = reveal.inner_text()
    assert all(name in text for name in names)
    heads = page.locator(".compare-column .column-name").all_inner_texts()
    assert {h.split(": ", 1)[1] for h in heads} == names
    assert page.get_by_role("button", name="Vote for Model B").is_disabled()

    page.get_by_label("Scope").select_option("mine")
    page.wait_for_function("() => document.querySelectorAll('#board-body tr').length === 2")
    rows = page.locator("#board-body tr").all_inner_texts()
    assert {r.split("\t")[1] for r in rows} == names
