"""The models page: add from a template with a connection test, edit, delete, visibility."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.fixtures.server import LiveServer
from tests.web.conftest import DESKTOP, Browser, User, add_model, screenshot, sim_model

pytestmark = pytest.mark.browser


def row(page: Any, name: str) -> Any:
    return page.locator("[data-testid=model-row]").filter(
        has=page.locator(".model-name").get_by_text(name, exact=True)
    )


def test_add_model_from_template_with_failing_then_passing_connection_test(
    web: Browser, make_user: Callable[..., User], live_server: LiveServer, openai_sim: Any
) -> None:
    user = make_user("adder")
    page = web.login(user)
    page.goto("/models")
    page.click("#add-model")
    page.wait_for_selector("[data-template=openai]")
    screenshot(page, "add-model-templates-desktop")
    labels = page.locator(".template-name").all_inner_texts()
    for expected in ("OpenAI", "Anthropic", "Azure", "Hugging Face", "Ollama", "vLLM",
                     "LM Studio", "Gemini", "Mistral", "Groq", "DeepSeek", "OpenRouter",
                     "Together", "Custom"):  # fmt: skip
        assert any(expected in label for label in labels), (expected, labels)

    page.click("[data-template=openai]")
    assert page.input_value("#f-model_id") == "gpt-4o-mini"
    assert page.input_value("#f-base_url") == "https://api.openai.com/v1"
    name = f"My GPT {uuid.uuid4().hex[:6]}"
    page.fill("#f-name", name)
    page.fill("#f-base_url", openai_sim.base_url)
    page.fill("#f-api_key", "sk-wrong-key")

    page.click("#test-connection")
    failed = page.locator("#test-result.fail")
    failed.wait_for()
    assert "Connection failed" in failed.inner_text()
    assert "401" in failed.inner_text() or "key" in failed.inner_text().lower()
    assert "sk-wrong-key" not in page.content()  # the key never comes back
    screenshot(page, "add-model-test-failed-desktop")

    page.fill("#f-api_key", openai_sim.api_key)
    page.click("#test-connection")
    ok = page.locator("#test-result.ok")
    ok.wait_for()
    assert "Connected" in ok.inner_text()
    assert " ms" in ok.inner_text()
    assert openai_sim.requests, "the test must have reached the simulator"

    page.click("#save-model")
    page.wait_for_selector("#model-dialog", state="hidden")
    saved = row(page, name)
    saved.wait_for()
    assert "0000" in saved.locator(".key-hint").inner_text()  # only the hint is shown
    with user.http(live_server) as http:
        mine = [m for m in http.get("/api/models").json() if m["name"] == name]
    assert len(mine) == 1
    assert mine[0]["has_api_key"]
    assert not mine[0]["is_global"]


def test_server_validation_errors_show_next_to_their_field(
    web: Browser, make_user: Callable[..., User]
) -> None:
    page = web.login(make_user("validator"))
    page.goto("/models")
    page.click("#add-model")
    page.click("[data-template=custom]")
    page.fill("#f-name", "With credentials in the URL")
    # passes the page's own check (http URL) but the server refuses credentials in URLs
    page.fill("#f-base_url", "https://user:secret@llm.invalid/v1")
    page.click("#save-model")
    error = page.locator("[data-error-for=base_url]")
    error.wait_for()
    assert "credentials" in error.inner_text()
    assert page.get_attribute("#f-base_url", "aria-invalid") == "true"
    assert page.locator("#model-dialog").is_visible()  # nothing saved, dialog stays

    page.fill("#f-name", "")
    page.click("#save-model")
    assert page.locator("[data-error-for=name]").inner_text() == "Give the model a name."


def test_edit_keeps_the_key_when_left_empty_and_delete_asks_first(
    web: Browser, make_user: Callable[..., User], live_server: LiveServer, openai_sim: Any
) -> None:
    user = make_user("editor")
    model = add_model(user, live_server, **sim_model(openai_sim, "Before rename"))
    page = web.login(user)
    page.goto("/models")
    row(page, "Before rename").locator("button[aria-label^='Edit']").click()

    key = page.locator("#f-api_key")
    assert key.input_value() == ""
    assert "0000" in (key.get_attribute("placeholder") or "")  # the hint, never the key
    page.fill("#f-name", "After rename")
    page.click("#save-model")
    row(page, "After rename").wait_for()
    with user.http(live_server) as http:
        after = http.get(f"/api/models/{model['id']}").json()
    assert after["name"] == "After rename"
    assert after["has_api_key"]
    assert after["api_key_hint"] == model["api_key_hint"]

    # cancelling the confirmation keeps the model
    row(page, "After rename").locator("button[aria-label^='Delete']").click()
    page.locator("#confirm-dialog").get_by_role("button", name="Cancel").click()
    assert row(page, "After rename").count() == 1

    row(page, "After rename").locator("button[aria-label^='Delete']").click()
    page.click("#confirm-ok")
    row(page, "After rename").wait_for(state="detached")
    with user.http(live_server) as http:
        assert http.get(f"/api/models/{model['id']}").status_code == 404


def test_admin_disables_a_global_model_and_it_leaves_the_chat_selector(
    web: Browser, admin: User, make_user: Callable[..., User], live_server: LiveServer,
    openai_sim: Any,
) -> None:  # fmt: skip
    name = f"Global {uuid.uuid4().hex[:6]}"
    model = add_model(admin, live_server, **sim_model(openai_sim, name, is_global=True))
    page = web.login(admin)
    page.goto("/models")
    page.fill("#model-filter", name)
    switch = row(page, name).get_by_role("switch")
    assert switch.is_checked()
    # the switch flips at the click, the PATCH answers later: wait for the answer
    with page.expect_response(lambda r: r.request.method == "PATCH" and model["id"] in r.url):
        switch.click(force=True)  # the input is visually hidden behind its track
    page.wait_for_function(
        "id => !document.querySelector(`tr[data-id='${id}'] input[role=switch]`).checked",
        arg=model["id"],
    )
    with admin.http(live_server) as http:
        assert http.get(f"/api/models/{model['id']}").json()["enabled"] is False

    member = web.login(make_user("viewer"))
    member.wait_for_selector("#model-button:not([disabled])")
    member.click("#model-button")
    assert member.locator(".model-option-name").get_by_text(name, exact=True).count() == 0
    # members see the global model in the table, without controls
    member.goto("/models")
    assert row(member, name).locator("input[role=switch]").count() == 0
    assert row(member, name).locator("button[aria-label^='Edit']").count() == 0


def test_a_user_never_sees_another_users_personal_model(
    web: Browser, make_user: Callable[..., User], live_server: LiveServer, openai_sim: Any
) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    secret_name = f"Alice private {uuid.uuid4().hex[:6]}"
    add_model(alice, live_server, **sim_model(openai_sim, secret_name))

    page = web.login(bob)
    page.wait_for_selector("#model-button:not([disabled])")
    page.click("#model-button")
    assert page.locator(".model-option-name").get_by_text(secret_name).count() == 0
    page.goto("/models")
    page.wait_for_selector("#models-body tr:not(.loading-row), #models-empty:not([hidden])")
    assert secret_name not in page.content()

    own = web.login(alice)
    own.goto("/models")
    row(own, secret_name).wait_for()


def test_html_in_a_model_name_renders_as_text(
    web: Browser, make_user: Callable[..., User], live_server: LiveServer, openai_sim: Any
) -> None:
    user = make_user("xss")
    name = "<img src=x onerror=window.__xss=1>"
    add_model(user, live_server, **sim_model(openai_sim, name, description="<b>bold?</b>"))
    page = web.login(user)
    page.goto("/models")
    cell = row(page, name)
    cell.wait_for()
    assert cell.locator(".model-name").inner_text() == name
    assert page.locator("#models-body img, #models-body b").count() == 0

    page.goto("/")
    page.wait_for_selector("#model-button:not([disabled])")
    page.click("#model-button")
    option = page.locator(".model-option-name").get_by_text(name, exact=True)
    assert option.count() == 1
    assert page.locator("#model-options img").count() == 0
    assert page.evaluate("window.__xss") is None


def test_an_empty_registry_says_so_rather_than_no_match(
    browser: Any, live_server_factory: Callable[..., LiveServer]
) -> None:
    server = live_server_factory()  # a registry of its own, with no model at all
    empty = Browser(server, browser)
    try:
        page = empty.login(User("admin", server.admin_password, server.admin_token))
        page.goto("/models")
        page.locator("#models-empty").wait_for()
        assert page.locator("#models-empty h2").inner_text() == "No models yet"
        page.fill("input[type=search]", "nothing like this")
        assert page.locator("#models-empty h2").inner_text() == "No models yet"
    finally:
        empty.close()
        server.stop()
    assert not empty.page_errors


@pytest.mark.parametrize("viewport", [{"width": 1440, "height": 900}, DESKTOP], ids=str)
def test_the_model_dialog_keeps_template_names_whole_and_its_buttons_in_view(
    web: Browser, admin: User, viewport: dict[str, int]
) -> None:
    page = web.login(admin, viewport)  # an admin's dialog is the longest (Company-wide box)
    page.goto("/models")
    page.click("#add-model")
    page.wait_for_selector("[data-template=openai]")
    cut = page.evaluate(
        """() => [...document.querySelectorAll('.template-name')]
             .filter((n) => n.scrollWidth > n.clientWidth + 1).map((n) => n.textContent)"""
    )
    assert cut == []
    page.click("[data-template=openai]")
    page.click("summary:has-text('Capabilities')")
    for field in ("#f-model_id", "#f-base_url", "#f-context_length"):
        page.fill(field, "" if field != "#f-context_length" else "many")
    page.click("#save-model")  # errors under the fields make the dialog longer still
    page.locator("[data-error-for=model_id]:not(:empty)").wait_for()
    for button in ("#save-model", "#test-connection"):
        inside = page.evaluate(
            """(sel) => {
                 const b = document.querySelector(sel).getBoundingClientRect();
                 const d = document.getElementById('model-dialog').getBoundingClientRect();
                 return b.top >= d.top && b.bottom <= d.bottom && b.bottom <= innerHeight;
               }""",
            button,
        )
        assert inside, f"{button} is out of view with the details open"


def test_the_dialog_sets_defaults_rate_limits_and_fallbacks(
    web: Browser, make_user: Callable[..., User], live_server: LiveServer, openai_sim: Any
) -> None:
    user = make_user("tuner")
    backup = add_model(user, live_server, **sim_model(openai_sim, "Backup model"))
    model = add_model(user, live_server, **sim_model(openai_sim, "Tuned model"))
    page = web.login(user)
    page.goto("/models")
    row(page, "Tuned model").locator("button[aria-label^='Edit']").click()
    page.click("summary:has-text('Defaults, rate limits')")
    page.fill("#f-default_temperature", "3")  # out of range: a clear error, nothing saved
    page.click("#save-model")
    error = page.locator("[data-error-for=default_temperature]")
    assert "0 to 2" in error.inner_text()
    page.fill("#f-default_temperature", "0.4")
    page.fill("#f-default_top_p", "0.9")
    page.fill("#f-rpm_limit", "12")
    page.fill("#f-tpm_limit", "3400")
    page.select_option("#f-fallback_model_ids", [backup["id"]])
    page.click("#save-model")
    page.locator("#model-dialog").wait_for(state="hidden")
    with user.http(live_server) as http:
        saved = http.get(f"/api/models/{model['id']}").json()
    assert (saved["default_temperature"], saved["default_top_p"]) == (0.4, 0.9)
    assert (saved["rpm_limit"], saved["tpm_limit"]) == (12, 3400)
    assert saved["fallback_model_ids"] == [backup["id"]]

    # reopened, the dialog shows them; clearing a limit removes it and keeps the rest
    row(page, "Tuned model").locator("button[aria-label^='Edit']").click()
    assert page.input_value("#f-rpm_limit") == "12"
    assert page.locator("#f-fallback_model_ids option:checked").all_inner_texts() == [
        "Backup model (OpenAI)"
    ]
    page.fill("#f-rpm_limit", "")
    page.click("#save-model")
    page.locator("#model-dialog").wait_for(state="hidden")
    with user.http(live_server) as http:
        saved = http.get(f"/api/models/{model['id']}").json()
    assert saved["rpm_limit"] is None
    assert saved["tpm_limit"] == 3400
    assert saved["fallback_model_ids"] == [backup["id"]]
