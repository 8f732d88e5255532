"""Every page at desktop and phone width, light and dark: saved for a human to look at, and
checked for the layout faults a person would notice first (sideways scrolling on a phone).

Screenshots go to test-artifacts/web/. With MODELREG_UPDATE_SCREENSHOTS=1 the README's
screenshots in docs/screenshots/ are refreshed as well.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from modelreg.simulators import Script
from tests.fixtures.server import DEFAULT_PASSWORD, LiveServer
from tests.web.conftest import (
    ARTIFACTS,
    DESKTOP,
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

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

ANSWER = [
    "Here are three ways to compare models side by side:\n\n",
    "1. **Same conversation** — switch the model between messages; ",
    "every answer keeps its badge.\n",
    "2. **Usage page** — tokens and cost per model.\n",
    "3. **Gateway** — point the `openai` SDK at `/v1`.\n\n",
    "```python\nfrom openai import OpenAI\n\n",
    'client = OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="mr-...")\n',
    'client.chat.completions.create(model="GPT-4o mini", messages=[...])\n```\n',
]


def no_sideways_scroll(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"))


@pytest.fixture
def showroom(
    live_server_factory: Callable[..., LiveServer], openai_sim: Any, anthropic_sim: Any
) -> LiveServer:
    """A fresh server with a few plausible models and users, for presentable screenshots."""
    server = live_server_factory()
    admin = User("admin", server.admin_password, server.admin_token)
    add_model(admin, server, **sim_model(
        openai_sim, "GPT-4o mini", is_global=True, context_length=128_000, supports_vision=True,
        description="Fast and cheap; the default for everyone",
        price_per_input_token="0.00000015", price_per_output_token="0.0000006",
    ))  # fmt: skip
    add_model(admin, server, **sim_model(
        anthropic_sim, "Claude Sonnet 4.5", is_global=True, context_length=200_000,
        supports_vision=True, price_per_input_token="0.000003", price_per_output_token="0.000015",
    ))  # fmt: skip
    disabled = add_model(admin, server, **sim_model(
        openai_sim, "Llama 3.3 70B", is_global=True, context_length=131_072,
        price_per_input_token="0.00000059", price_per_output_token="0.00000079",
    ))  # fmt: skip
    with admin.http(server) as http:
        http.patch(f"/api/models/{disabled['id']}", json={"enabled": False}).raise_for_status()
    add_model(admin, server, **sim_model(
        openai_sim, "My GPT-4o", model_id="gpt-4o", context_length=128_000,
        price_per_input_token="0.0000025", price_per_output_token="0.00001",
    ))  # fmt: skip
    dana = User("dana", DEFAULT_PASSWORD, server.create_user("dana"))
    add_model(dana, server, **sim_model(openai_sim, "Dana's GPT-4o", model_id="gpt-4o"))
    with dana.http(server) as http:
        http.post("/api/tokens", json={"name": "laptop"}).raise_for_status()
    return server


def test_every_page_at_desktop_and_phone_width(
    browser: Any, showroom: LiveServer, openai_sim: Any, anthropic_sim: Any
) -> None:
    web = Browser(showroom, browser)
    admin = User("admin", showroom.admin_password, showroom.admin_token)
    try:
        login = web.page()
        login.goto("/login")
        screenshot(login, "login-desktop")

        page = web.login(admin)
        page.wait_for_selector("#model-button:not([disabled])")
        screenshot(page, "chat-empty-desktop")
        openai_sim.enqueue(Script(chunks=ANSWER, chunk_delay=0.02))
        anthropic_sim.enqueue(Script(text="Same question, second opinion: **use both**."))
        choose_model(page, "GPT-4o mini")
        send(page, "How do I compare two models?")
        wait_for_answers(page, 1)
        choose_model(page, "Claude Sonnet 4.5")
        send(page, "Anything to add?")
        wait_for_answers(page, 2)
        # a regenerated answer: the pager shows "2 / 2" under it
        anthropic_sim.enqueue(Script(text="Regenerated: **use both**, and compare the costs."))
        page.locator("[data-testid=answer-actions] >> nth=1").get_by_role(
            "button", name="Regenerate"
        ).click()
        page.wait_for_selector("[data-testid=answer-count]")
        page.click("#model-button")
        page.wait_for_timeout(200)  # let the popover's entry animation finish
        screenshot(page, "chat-model-picker-desktop")
        page.keyboard.press("Escape")
        chat_url = page.url
        pages = {
            "chat": chat_url,
            "models": "/models",
            "account": "/account",
            "users": "/users",
            "audit": "/audit",
        }

        for scheme in ("light", "dark"):
            desktop = web.login(admin, DESKTOP, color_scheme=scheme)
            phone = web.login(admin, PHONE, color_scheme=scheme)
            for name, url in pages.items():
                for view, label in ((desktop, "desktop"), (phone, "phone")):
                    view.goto(url)
                    view.wait_for_selector(".loading-row, .skeleton-line", state="detached")
                    if name == "chat":
                        view.wait_for_selector("[data-testid=assistant-message] >> nth=1")
                    screenshot(view, f"{name}-{label}-{scheme}")
                assert no_sideways_scroll(phone), f"{name} scrolls sideways on a phone"

        phone = web.login(admin, PHONE)
        phone.click(".nav-toggle")
        phone.wait_for_timeout(250)
        screenshot(phone, "navigation-phone")
        phone.goto("/models")
        phone.click("#add-model")
        phone.click("[data-template=anthropic]")
        screenshot(phone, "add-model-phone")
        assert no_sideways_scroll(phone)

        desktop = web.login(admin)
        desktop.goto("/models")
        desktop.click("#add-model")
        desktop.click("[data-template=openai]")
        desktop.fill("#f-api_key", "sk-not-the-right-key")
        desktop.fill("#f-base_url", openai_sim.base_url)
        desktop.click("#test-connection")
        desktop.locator("#test-result.fail").wait_for()
        screenshot(desktop, "add-model-desktop")
    finally:
        web.close()
    assert not web.page_errors, web.page_errors
    produced = sorted(p.name for p in ARTIFACTS.glob("*.png"))
    assert "chat-phone-dark.png" in produced
    assert "models-desktop-light.png" in produced

    if os.environ.get("MODELREG_UPDATE_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        for name in ("chat-desktop-light", "models-desktop-light", "add-model-desktop",
                     "chat-phone-dark", "account-desktop-light", "users-desktop-light",
                     "users-phone-dark"):  # fmt: skip
            shutil.copyfile(ARTIFACTS / f"{name}.png", DOCS / f"{name}.png")
