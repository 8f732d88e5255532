"""Knowledge in the browser: upload a document on the knowledge page, wait for "ready", ask
in the chat with the collection chosen, and open the citation's passage."""

from __future__ import annotations

from typing import Any

import pytest

from modelreg.simulators import Script
from tests.fixtures.server import LiveServer
from tests.knowledge.helpers import DIMENSIONS
from tests.web.conftest import PHONE, Browser, User, add_model, choose_model, send, sim_model

pytestmark = pytest.mark.browser

DOC = b"The capital of Freedonia is Fredville, founded by Rufus Firefly."


@pytest.mark.parametrize("viewport", [None, PHONE], ids=["desktop", "phone"])
def test_upload_wait_ready_ask_and_open_the_citation(
    web: Browser,
    live_server: LiveServer,
    make_user: Any,
    openai_sim: Any,
    tmp_path: Any,
    viewport: dict[str, int] | None,
) -> None:
    user: User = make_user("knowledge")
    chat = add_model(user, live_server, **sim_model(openai_sim, f"chat-{user.name}"))
    add_model(user, live_server, **sim_model(
        openai_sim, f"emb-{user.name}", kind="embedding", dimensions=DIMENSIONS,
        model_id="text-embedding-3-small", options={"dimensions": DIMENSIONS},
    ))  # fmt: skip
    page = web.login(user, viewport)
    page.goto("/knowledge")
    page.get_by_label("Collection name").fill("Atlas")
    page.get_by_role("button", name="Create collection").click()
    # the new collection is chosen; company collections made elsewhere may be listed too
    page.wait_for_function(
        """() => {
          const select = document.getElementById('collection-select');
          return select.selectedIndex >= 0 && select.options[select.selectedIndex].text === 'Atlas';
        }"""
    )
    doc = tmp_path / "freedonia.txt"
    doc.write_bytes(DOC)
    page.set_input_files("#upload-file", str(doc))
    page.get_by_role("button", name="Upload").click()
    page.locator("[data-testid=document-status]", has_text="ready").wait_for()

    page.goto("/")
    page.wait_for_selector("#model-button:not([disabled])")
    choose_model(page, chat["name"])
    page.locator("[data-testid=knowledge-summary]").click()
    page.get_by_label("Atlas", exact=True).check()
    page.locator("[data-testid=knowledge-summary]").click()
    openai_sim.enqueue(Script(text="It is Fredville [1]."))
    send(page, "What is the capital of Freedonia?")
    citation = page.locator("[data-testid=citation]").first
    citation.wait_for()
    citation.click()
    passage = page.locator("[data-testid=passage-text]")
    passage.wait_for()
    assert "Fredville" in passage.inner_text()
    context = "\n".join(
        m["content"] for m in openai_sim.requests[-1].json["messages"] if m["role"] == "system"
    )
    assert "The capital of Freedonia is Fredville" in context
    page.get_by_role("button", name="Close", exact=True).click()
