"""Retry, Regenerate with paging, Edit, conversation search and image attachment on the chat
page, at desktop and phone width, against the real server and the provider simulators."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from modelreg.simulators import Script
from tests.fixtures.server import LiveServer
from tests.web.conftest import (
    DESKTOP,
    PHONE,
    Browser,
    User,
    add_model,
    choose_model,
    send,
    sim_model,
    wait_for_answers,
)
from tests.web.test_accessible_names import _UNNAMED

pytestmark = pytest.mark.browser
VIEWPORTS = pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def _open(web: Browser, user: User, model: str, viewport: dict[str, int]) -> Any:
    page = web.login(user, viewport=viewport)
    page.wait_for_selector("#model-button:not([disabled])")
    choose_model(page, model)
    return page


def _last_answer(page: Any) -> Any:
    return page.locator("[data-testid=assistant-message] .msg-body").last


def _wait_text(page: Any, text: str) -> None:
    page.wait_for_function(
        """t => {
          const b = [...document.querySelectorAll('[data-testid=assistant-message] .msg-body')];
          const idle = document.getElementById('composer').getAttribute('aria-busy') !== 'true';
          return b.length > 0 && b[b.length - 1].textContent.trim() === t && idle;
        }""",
        arg=text,
    )


def _reload(page: Any, answers: int) -> None:
    page.reload()
    page.wait_for_function(
        "n => document.querySelectorAll('[data-testid=assistant-message]').length === n",
        arg=answers,
    )


def _user_texts(sim: Any) -> list[str]:
    messages = sim.requests[-1].json["messages"]
    return [m["content"] if isinstance(m["content"], str) else m["content"][0]["text"]
            for m in messages if m["role"] == "user"]  # fmt: skip


def _no_unnamed(page: Any) -> None:
    assert page.evaluate(_UNNAMED) == []


@VIEWPORTS
def test_retry_after_an_error_leaves_one_turn_on_screen_server_and_model(
    web: Browser, make_user: Callable[..., User], live_server: LiveServer, openai_sim: Any,
    viewport: dict[str, int],
) -> None:  # fmt: skip
    user = make_user("retrier")
    add_model(user, live_server, **sim_model(openai_sim, "Flaky"))
    openai_sim.enqueue(Script(text="fine"))
    page = _open(web, user, "Flaky", viewport)
    send(page, "first")
    _wait_text(page, "fine")
    openai_sim.enqueue(Script(status=400, error_message="refused for now"))
    send(page, "second")
    page.locator(".msg-error").wait_for()
    openai_sim.enqueue(Script(text="recovered"))
    page.locator(".msg-error").get_by_role("button", name="Retry").click()
    _wait_text(page, "recovered")
    # the model saw "second" once, after the first turn
    assert _user_texts(openai_sim) == ["first", "second"]
    for _ in range(2):  # on screen, and after a reload the same
        assert page.locator(".msg-user .msg-body").all_inner_texts() == ["first", "second"]
        assert page.locator(".msg-error").count() == 0
        assert page.locator("[data-testid=assistant-message]").count() == 2
        _reload(page, 2)


@VIEWPORTS
def test_regenerate_keeps_the_old_answer_to_page_back_to(
    web: Browser, make_user: Callable[..., User], live_server: LiveServer, openai_sim: Any,
    viewport: dict[str, int],
) -> None:  # fmt: skip
    user = make_user("regen")
    add_model(user, live_server, **sim_model(openai_sim, "Regen"))
    openai_sim.enqueue(Script(text="first take"), Script(text="second take"))
    page = _open(web, user, "Regen", viewport)
    send(page, "write a line")
    _wait_text(page, "first take")
    page.locator("[data-testid=answer-actions]").get_by_role("button", name="Regenerate").click()
    _wait_text(page, "second take")
    count = page.locator("[data-testid=answer-count]")
    count.wait_for()
    assert count.inner_text() == "2 / 2"
    _no_unnamed(page)
    page.get_by_role("button", name="Previous answer").click()
    _wait_text(page, "first take")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=answer-count]')?.textContent === '1 / 2'"
    )
    assert page.locator("[data-testid=assistant-message]").count() == 1
    # the choice is kept, and the next turn's history has the selected answer
    _reload(page, 1)
    _wait_text(page, "first take")
    assert page.locator("[data-testid=answer-count]").inner_text() == "1 / 2"
    send(page, "and another")
    wait_for_answers(page, 2)
    sent = openai_sim.requests[-1].json["messages"]
    assert [m["content"] for m in sent if m["role"] == "assistant"] == ["first take"]


@VIEWPORTS
def test_edit_a_sent_message_replaces_what_followed(
    web: Browser, make_user: Callable[..., User], live_server: LiveServer, openai_sim: Any,
    viewport: dict[str, int],
) -> None:  # fmt: skip
    user = make_user("editor")
    add_model(user, live_server, **sim_model(openai_sim, "Editor"))
    openai_sim.enqueue(Script(text="a1"), Script(text="a2"), Script(text="a1 again"))
    page = _open(web, user, "Editor", viewport)
    send(page, "q1")
    _wait_text(page, "a1")
    send(page, "q2")
    _wait_text(page, "a2")
    page.get_by_role("button", name="Edit message").first.click()
    box = page.get_by_role("textbox", name="Edited message")
    box.fill("q1, better")
    page.get_by_role("button", name="Save and send").click()
    _wait_text(page, "a1 again")
    assert _user_texts(openai_sim) == ["q1, better"]
    for _ in range(2):
        assert page.locator(".msg-user .msg-body").all_inner_texts() == ["q1, better"]
        assert page.locator("[data-testid=assistant-message] .msg-body").all_inner_texts() == [
            "a1 again"
        ]
        _reload(page, 1)


@VIEWPORTS
def test_search_conversations_filters_the_list(
    web: Browser, make_user: Callable[..., User], live_server: LiveServer, openai_sim: Any,
    viewport: dict[str, int],
) -> None:  # fmt: skip
    user = make_user("searcher")
    model = add_model(user, live_server, **sim_model(openai_sim, "Finder"))
    with user.http(live_server) as http:
        for text in ("Flamingo facts", "Gnu habits", "more about FLAMINGOS"):
            http.post("/api/chat", json={"model_id": model["id"], "message": text})
    page = web.login(user, viewport=viewport)
    if viewport is PHONE:
        page.get_by_role("button", name="Open menu").click()
    box = page.get_by_role("searchbox", name="Search conversations")
    page.wait_for_selector("#conv-list .conv-link")
    box.fill("flamingo")
    page.wait_for_function("() => document.querySelectorAll('#conv-list .conv-link').length === 2")
    titles = page.locator("#conv-list .conv-link").all_inner_texts()
    assert sorted(titles) == ["Flamingo facts", "more about FLAMINGOS"]
    box.fill("")
    page.wait_for_function("() => document.querySelectorAll('#conv-list .conv-link').length === 3")


@VIEWPORTS
def test_attach_an_image_for_a_vision_model_only(
    web: Browser, make_user: Callable[..., User], live_server: LiveServer, openai_sim: Any,
    viewport: dict[str, int], tmp_path: Path,
) -> None:  # fmt: skip
    user = make_user("looker")
    add_model(user, live_server, **sim_model(openai_sim, "Blind"))
    add_model(user, live_server, **sim_model(openai_sim, "Seer", supports_vision=True))
    image = tmp_path / "dot.png"
    image.write_bytes(PNG)
    page = _open(web, user, "Blind", viewport)
    attach = page.get_by_role("button", name="Attach image")
    assert attach.is_disabled()
    assert "does not accept images" in (attach.get_attribute("title") or "")
    choose_model(page, "Seer")
    assert attach.is_enabled()
    page.set_input_files("[data-testid=image-input]", str(image))
    page.get_by_role("button", name="Remove dot.png").wait_for()
    page.wait_for_function(
        "() => document.querySelector('.composer-image img')?.naturalWidth === 1"
    )
    openai_sim.enqueue(Script(text="a tiny dot"))
    send(page, "what is it?")
    _wait_text(page, "a tiny dot")
    content = openai_sim.requests[-1].json["messages"][-1]["content"]
    assert (
        content[1]["image_url"]["url"] == "data:image/png;base64," + base64.b64encode(PNG).decode()
    )
    _no_unnamed(page)
    _reload(page, 1)
    shown = page.get_by_role("img", name="Attached image 1")
    shown.wait_for()
    page.wait_for_function(
        "() => document.querySelector('.msg-image')?.complete"
        " && document.querySelector('.msg-image').naturalWidth === 1"
    )


@VIEWPORTS
def test_conversation_settings_and_export(
    web: Browser, make_user: Callable[..., User], live_server: LiveServer, openai_sim: Any,
    viewport: dict[str, int], tmp_path: Path,
) -> None:  # fmt: skip
    user = make_user("tuner")
    add_model(user, live_server, **sim_model(openai_sim, "Tuned", max_output_tokens=100))
    openai_sim.enqueue(Script(text="hello"), Script(text="bonjour"))
    page = _open(web, user, "Tuned", viewport)
    send(page, "hi")
    _wait_text(page, "hello")
    page.get_by_role("button", name="Conversation settings").click()
    dialog = page.locator("[data-testid=settings-dialog]")
    dialog.get_by_label("System prompt").fill("Answer in French.")
    dialog.get_by_label("Max tokens").fill("500")
    dialog.get_by_role("button", name="Save").click()
    error = dialog.locator("#settings-max_tokens ~ .field-error")
    error.wait_for()
    assert "at most 100 tokens" in error.inner_text()
    _no_unnamed(page)
    dialog.get_by_label("Max tokens").fill("50")
    dialog.get_by_role("button", name="Save").click()
    dialog.wait_for(state="hidden")
    send(page, "again")
    _wait_text(page, "bonjour")
    sent = openai_sim.requests[-1].json
    assert sent["messages"][0] == {"role": "system", "content": "Answer in French."}
    assert sent.get("max_completion_tokens", sent.get("max_tokens")) == 50

    # export: in the settings dialog (on a desktop also in the top bar)
    page.get_by_role("button", name="Conversation settings").click()
    with page.expect_download() as download:
        dialog.get_by_role("link", name="Export as Markdown").click()
    saved = tmp_path / "export.md"
    download.value.save_as(saved)
    text = saved.read_text()
    assert text.startswith("# hi\n")
    assert "## Assistant (Tuned)\n\nbonjour" in text
