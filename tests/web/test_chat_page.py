"""The chat page against the real server and the provider simulators."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
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

pytestmark = pytest.mark.browser

# Record every state the last answer's text goes through, as the page renders it.
RECORD_TEXT_STATES = """() => {
  window.__states = [];
  const messages = document.getElementById('messages');
  new MutationObserver(() => {
    const bodies = messages.querySelectorAll('[data-testid=assistant-message] .msg-body');
    const last = bodies[bodies.length - 1];
    if (last) window.__states.push(last.textContent);
  }).observe(messages, {subtree: true, childList: true, characterData: true});
}"""


def chat_requests(sim: Any) -> list[Any]:
    return [r for r in sim.requests if r.path.endswith(("/chat/completions", "/messages"))]


def answer_texts(page: Any) -> list[str]:
    texts: list[str] = page.locator("[data-testid=assistant-message] .msg-body").all_inner_texts()
    return texts


def badges(page: Any) -> list[str]:
    names: list[str] = page.locator("[data-testid=model-badge]").all_inner_texts()
    return [name.strip() for name in names]


def open_chat(web: Browser, user: User, model_name: str) -> Any:
    page = web.login(user)
    page.wait_for_selector("#model-button:not([disabled])")
    choose_model(page, model_name)
    return page


def test_streamed_answer_appears_incrementally(
    web: Browser, make_user: Callable[..., User], live_server: LiveServer, openai_sim: Any
) -> None:
    user = make_user("streamer")
    add_model(user, live_server, **sim_model(openai_sim, "Streamy"))
    chunks = ["The ", "quick ", "brown ", "fox ", "jumps ", "over ", "the ", "lazy ", "dog."]
    openai_sim.enqueue(Script(chunks=chunks, chunk_delay=0.15))
    page = open_chat(web, user, "Streamy")
    page.evaluate(RECORD_TEXT_STATES)

    send(page, "Tell me about the fox")
    # mid-stream: part of the answer is on screen, the rest is still to come
    page.wait_for_function(
        """() => {
          const body = document.querySelector('[data-testid=assistant-message] .msg-body');
          return body && body.textContent.includes('quick') && !body.textContent.includes('dog.');
        }"""
    )
    assert page.locator("#stop-button").is_visible()
    wait_for_answers(page, 1)

    final = "".join(chunks)
    assert answer_texts(page) == [final]
    states = [s for s in dict.fromkeys(page.evaluate("window.__states")) if s.strip()]
    partial = [s for s in states if s != final]
    assert len(partial) >= 3, states  # it grew in steps, not all at once
    assert all(final.startswith(s.strip()) for s in partial), states
    assert [len(s) for s in partial] == sorted(len(s) for s in partial)

    assert badges(page) == ["Streamy"]
    stats = page.locator(".msg-stats").inner_text()
    assert re.fullmatch(r"\d+ in\s+\d+ out\s+\$[0-9.e-]+\s+[0-9.]+ m?s", stats.strip()), stats
    assert not page.locator("#stop-button").is_visible()
    # the new conversation is in the list and in the address bar, and survives a reload
    assert re.search(r"\?c=[0-9a-f-]{36}$", page.url)
    assert page.locator(".conv-item[aria-current=true]").count() == 1
    page.reload()
    page.wait_for_selector("[data-testid=assistant-message]")
    assert answer_texts(page) == [final]
    assert badges(page) == ["Streamy"]


def test_switching_model_mid_conversation_shows_both_badges(
    web: Browser,
    make_user: Callable[..., User],
    live_server: LiveServer,
    openai_sim: Any,
    anthropic_sim: Any,
) -> None:
    user = make_user("switcher")
    add_model(user, live_server, **sim_model(openai_sim, "Model A"))
    second = add_model(user, live_server, **sim_model(anthropic_sim, "Model B"))
    openai_sim.enqueue(Script(text="Answer from A"))
    anthropic_sim.enqueue(Script(text="Answer from B"))

    page = open_chat(web, user, "Model A")
    send(page, "first question")
    wait_for_answers(page, 1)
    choose_model(page, "Model B")
    send(page, "second question")
    wait_for_answers(page, 2)

    assert badges(page) == ["Model A", "Model B"]
    assert answer_texts(page) == ["Answer from A", "Answer from B"]
    assert len(chat_requests(openai_sim)) == 1
    assert len(chat_requests(anthropic_sim)) == 1

    conversation_id = page.url.split("?c=")[1]
    with user.http(live_server) as http:
        stored = http.get(f"/api/conversations/{conversation_id}").json()
    assert stored["llm_model_id"] == second["id"]  # the choice is kept per conversation
    page.reload()
    page.wait_for_selector("[data-testid=model-badge] >> nth=1")
    assert badges(page) == ["Model A", "Model B"]
    assert "Model B" in page.locator("#model-button").inner_text()


def test_failing_upstream_shows_a_readable_error_and_retry_works(
    web: Browser, make_user: Callable[..., User], live_server: LiveServer, openai_sim: Any
) -> None:
    user = make_user("failing")
    add_model(user, live_server, **sim_model(openai_sim, "Flaky"))
    # more failures than the client's retries, so the error reaches the page
    openai_sim.enqueue(Script(status=500, error_message="the GPUs are on fire", repeat=10))
    page = open_chat(web, user, "Flaky")

    send(page, "hello?")
    error = page.locator(".msg-error")
    error.wait_for()
    assert error.get_attribute("role") == "alert"
    message = error.locator(".msg-error-text").inner_text()
    assert message
    assert "Traceback" not in message
    assert "{" not in message
    wait_for_answers(page, 1)

    openai_sim.reset()
    openai_sim.enqueue(Script(text="Back on my feet"))
    error.get_by_role("button", name="Retry").click()
    wait_for_answers(page, 1)
    page.wait_for_function(
        "() => document.querySelector('[data-testid=assistant-message] .msg-body')"
        ".textContent === 'Back on my feet'"
    )
    assert page.locator(".msg-error").count() == 0
    assert page.locator(".msg-user").all_inner_texts() == ["hello?"]


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_an_error_and_its_retry_button_show_above_the_composer(
    web: Browser,
    make_user: Callable[..., User],
    live_server: LiveServer,
    openai_sim: Any,
    viewport: dict[str, int],
) -> None:
    user = make_user("erred")
    add_model(user, live_server, **sim_model(openai_sim, "Erring"))
    page = web.login(user, viewport)
    page.wait_for_selector("#model-button:not([disabled])")
    choose_model(page, "Erring")
    openai_sim.enqueue(Script(text="first answer, long enough to need some room " * 30))
    send(page, "fill the screen")
    wait_for_answers(page, 1)
    openai_sim.enqueue(Script(status=500, error_message="the GPUs are on fire", repeat=10))
    send(page, "and now fail")
    page.locator(".msg-error").wait_for()
    # the whole error box, Retry included, is scrolled into view above the message box
    page.wait_for_function(
        """() => {
          const retry = document.querySelector('.msg-error button').getBoundingClientRect();
          const composer = document.getElementById('composer').getBoundingClientRect();
          return retry.bottom <= composer.top && retry.top >= 0;
        }""",
        timeout=5000,
    )
    openai_sim.reset()


def test_double_click_on_send_sends_once(
    web: Browser, make_user: Callable[..., User], live_server: LiveServer, openai_sim: Any
) -> None:
    user = make_user("clicker")
    add_model(user, live_server, **sim_model(openai_sim, "Once"))
    openai_sim.enqueue(Script(chunks=["only ", "once"], chunk_delay=0.1, repeat=3))
    page = open_chat(web, user, "Once")

    page.fill("#prompt", "click click")
    page.dblclick("#send-button")
    wait_for_answers(page, 1)
    page.press("#prompt", "Enter")  # an empty prompt sends nothing either

    assert page.locator(".msg-user").count() == 1
    assert len(chat_requests(openai_sim)) == 1
    conversation_id = page.url.split("?c=")[1]
    with user.http(live_server) as http:
        stored = http.get(f"/api/conversations/{conversation_id}").json()
    assert [m["role"] for m in stored["messages"]] == ["user", "assistant"]


def test_upstream_cut_mid_stream_keeps_the_text_and_shows_an_error(
    web: Browser, make_user: Callable[..., User], live_server: LiveServer, openai_sim: Any
) -> None:
    user = make_user("cut")
    add_model(user, live_server, **sim_model(openai_sim, "Cut"))
    chunks = ["Partial ", "answer ", "that ", "never ", "ends"]
    openai_sim.enqueue(Script(chunks=chunks, chunk_delay=0.05, cut_after=2))
    page = open_chat(web, user, "Cut")

    send(page, "go")
    page.locator(".msg-error").wait_for()
    wait_for_answers(page, 1)
    assert answer_texts(page)[0].startswith("Partial")
    assert page.locator(".msg-error button", has_text="Retry").is_visible()


def test_lost_connection_to_the_server_keeps_what_arrived(
    web: Browser, make_user: Callable[..., User], live_server: LiveServer, openai_sim: Any
) -> None:
    user = make_user("offline")
    add_model(user, live_server, **sim_model(openai_sim, "Gone"))
    page = open_chat(web, user, "Gone")

    def frame(event: str, data: dict[str, Any]) -> str:
        return f"event: {event}\ndata: {json.dumps(data)}\n\n"

    # the stream ends after two deltas: no done, no error event, as when a proxy drops it
    body = (
        frame("meta", {"model": {"id": None, "name": "Gone"}})
        + frame("text_delta", {"text": "Half of "})
        + frame("text_delta", {"text": "an answer"})
    )
    page.route(
        "**/api/chat",
        lambda route: route.fulfill(status=200, content_type="text/event-stream", body=body),
    )
    send(page, "are you there?")
    page.locator(".msg-error").wait_for()
    assert answer_texts(page) == ["Half of an answer"]
    assert "before the answer was complete" in page.locator(".msg-error").inner_text()
    assert page.locator("#send-button").is_enabled()


def test_a_server_out_of_reach_says_so_without_claiming_text_arrived(
    web: Browser, make_user: Callable[..., User], live_server: LiveServer, openai_sim: Any
) -> None:
    user = make_user("unreachable")
    add_model(user, live_server, **sim_model(openai_sim, "Unreached"))
    page = open_chat(web, user, "Unreached")
    page.route("**/api/chat", lambda route: route.abort("connectionrefused"))
    send(page, "anyone?")
    error = page.locator(".msg-error")
    error.wait_for()
    text = error.inner_text()
    assert "kept above" not in text
    assert "before the model answered" in text
    assert error.get_by_role("button", name="Retry").is_visible()


def test_stop_button_ends_the_answer_and_keeps_the_text(
    web: Browser, make_user: Callable[..., User], live_server: LiveServer, openai_sim: Any
) -> None:
    user = make_user("stopper")
    add_model(user, live_server, **sim_model(openai_sim, "Chatty"))
    chunks = [f"word{i} " for i in range(40)]
    openai_sim.enqueue(Script(chunks=chunks, chunk_delay=0.2))
    page = open_chat(web, user, "Chatty")

    send(page, "talk a lot")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=assistant-message] .msg-body')"
        ".textContent.includes('word2')"
    )
    page.click("#stop-button")
    page.locator(".msg-note", has_text="Stopped").wait_for()
    wait_for_answers(page, 1)
    text = answer_texts(page)[0]
    assert text.startswith("word0 word1 word2")
    assert "word39" not in text
    assert page.locator(".msg-error").count() == 0
    assert page.locator("#send-button").is_enabled()


def test_conversations_can_be_renamed_and_deleted(
    web: Browser, make_user: Callable[..., User], live_server: LiveServer, openai_sim: Any
) -> None:
    user = make_user("organiser")
    add_model(user, live_server, **sim_model(openai_sim, "Organised"))
    page = open_chat(web, user, "Organised")
    send(page, "something to keep")
    wait_for_answers(page, 1)

    item = page.locator(".conv-item[aria-current=true]")
    item.hover()
    item.get_by_role("button", name=re.compile("^Rename")).click()
    page.fill("#prompt-input", "Renamed <b>chat</b>")
    page.locator("#prompt-dialog").get_by_role("button", name="Save").click()
    page.locator(".conv-link", has_text="Renamed <b>chat</b>").wait_for()
    assert page.locator("#conv-title").inner_text() == "Renamed <b>chat</b>"

    # Enter in the dialog saves, as in any form (it used to press the first button: Cancel)
    page.locator(".conv-item[aria-current=true]").hover()
    page.locator(".conv-item[aria-current=true]").get_by_role(
        "button", name=re.compile("^Rename")
    ).click()
    page.fill("#prompt-input", "Renamed by Enter")
    page.press("#prompt-input", "Enter")
    page.locator(".conv-link", has_text="Renamed by Enter").wait_for()
    with user.http(live_server) as http:
        assert [c["title"] for c in http.get("/api/conversations").json()] == ["Renamed by Enter"]
    # Escape still cancels
    page.locator(".conv-item[aria-current=true]").hover()
    page.locator(".conv-item[aria-current=true]").get_by_role(
        "button", name=re.compile("^Rename")
    ).click()
    page.fill("#prompt-input", "Not this one")
    page.keyboard.press("Escape")
    page.locator("#prompt-dialog").wait_for(state="hidden")
    assert page.locator("#conv-title").inner_text() == "Renamed by Enter"

    page.locator(".conv-item[aria-current=true]").hover()
    page.locator(".conv-item[aria-current=true]").get_by_role(
        "button", name=re.compile("^Delete")
    ).click()
    page.click("#confirm-ok")
    page.locator(".conv-empty").wait_for()
    assert page.locator("[data-testid=assistant-message]").count() == 0
    with user.http(live_server) as http:
        assert http.get("/api/conversations").json() == []
