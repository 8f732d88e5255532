"""Every visible interactive element has an accessible name, on every page, at desktop and
phone width: buttons that shrink to icons on a phone keep the name their text gave them."""

from __future__ import annotations

from typing import Any

import pytest

from tests.web.conftest import DESKTOP, PHONE, Browser, User

# the accessible name as a screen reader computes it for these elements, in the order that
# matters here: aria-labelledby, aria-label, <label for>, rendered text, title, placeholder
_UNNAMED = """() => {
  const visible = (el) => {
    const box = el.getBoundingClientRect();
    return box.width > 0 && box.height > 0 && getComputedStyle(el).visibility !== "hidden";
  };
  const named = (el) => {
    const by = el.getAttribute("aria-labelledby");
    if (by && by.split(/\\s+/).some((id) => document.getElementById(id)?.textContent.trim()))
      return true;
    if (el.getAttribute("aria-label")?.trim()) return true;
    if (el.labels && [...el.labels].some((l) => l.innerText.trim())) return true;
    if (el.innerText && el.innerText.trim()) return true;
    if (el.getAttribute("title")?.trim()) return true;
    return Boolean(el.getAttribute("placeholder")?.trim());
  };
  const sel = "button, a[href], input:not([type=hidden]), select, textarea, [role=button]";
  return [...document.querySelectorAll(sel)]
    .filter((el) => visible(el) && !named(el))
    .map((el) => el.outerHTML.slice(0, 160));
}"""


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/models",
        "/account",
        "/users",
        "/audit",
        "/experiments",
        "/compare",
        "/knowledge",
        "/analytics",
        "/usage",
    ],
)
def test_every_interactive_element_has_an_accessible_name(
    web: Browser, admin: User, viewport: dict[str, int], path: str
) -> None:
    page: Any = web.login(admin, viewport)
    page.goto(path)
    page.wait_for_load_state("networkidle")
    assert page.evaluate(_UNNAMED) == []


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
@pytest.mark.parametrize(
    ("path", "opener"),
    [("/models", "Add model"), ("/users", "Add user"), ("/experiments", "New experiment")],
)
def test_the_add_dialogs_name_every_control(
    web: Browser, admin: User, viewport: dict[str, int], path: str, opener: str
) -> None:
    page: Any = web.login(admin, viewport)
    page.goto(path)
    page.get_by_role("button", name=opener).click()
    page.locator("dialog[open]").wait_for()
    assert page.evaluate(_UNNAMED) == []
