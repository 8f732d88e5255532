"""The page's Markdown renderer (static/markdown.js), run in the browser it is written for."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from modelreg.simulators import Script
from tests.fixtures.server import LiveServer
from tests.web.conftest import (
    Browser,
    User,
    add_model,
    choose_model,
    send,
    sim_model,
    wait_for_answers,
)

pytestmark = pytest.mark.browser

RENDER = """async (sources) => {
  const { renderMarkdown } = await import('/static/markdown.js');
  return sources.map((source) => renderMarkdown(source));
}"""

HOSTILE = [
    "<img src=x onerror=window.__xss=1>",
    "<script>window.__xss=1</script>",
    "[click](javascript:window.__xss=1)",
    '[x](https://example.com/"onmouseover="window.__xss=1)',
    "```\n</code></pre><img src=x onerror=window.__xss=1>\n```",
    "`<b>inline</b>`",
    "**<i>bold</i>**",
    "<a href='javascript:window.__xss=1'>a</a>",
    "\u0000 0 \u0000",
]


def test_the_renderer_escapes_everything_it_does_not_create(web: Browser) -> None:
    page = web.page()
    page.goto("/login")
    outputs: list[str] = page.evaluate(RENDER, HOSTILE)
    for source, html in zip(HOSTILE, outputs, strict=True):
        assert "<img" not in html, (source, html)
        assert "<script" not in html, (source, html)
        assert "<i>" not in html, (source, html)
        assert 'href="javascript' not in html, (source, html)
        assert '"onmouseover' not in html, (source, html)

    # and inserting all of it into the page runs nothing
    page.evaluate(
        "html => { const d = document.createElement('div'); d.innerHTML = html;"
        " document.body.append(d); }",
        "".join(outputs),
    )
    assert page.evaluate("window.__xss") is None


def test_the_supported_constructs_render(web: Browser) -> None:
    page = web.page()
    page.goto("/login")
    source = (
        "# Title\n\nSome **bold**, *italic* and `code`.\n\n"
        "- one\n- two\n\n1. first\n2. second\n\n"
        "```python\nprint('hi')\n```\n\n[docs](https://example.com/a_b?x=1&y=2)"
    )
    [html] = page.evaluate(RENDER, [source])
    assert "<h1>Title</h1>" in html
    assert "<strong>bold</strong>" in html
    assert "<em>italic</em>" in html
    assert "<code>code</code>" in html
    assert "<ul>\n<li>one</li>\n<li>two</li>\n</ul>" in html
    assert "<ol>\n<li>first</li>\n<li>second</li>\n</ol>" in html
    assert '<pre data-lang="python"><code class="hljs">' in html
    assert '<span class="hljs-built_in">print</span>' in html  # highlighted
    assert '<a href="https://example.com/a_b?x=1&amp;y=2"' in html
    assert 'rel="noopener noreferrer nofollow"' in html
    # an unclosed fence (still streaming) is already a code block
    [partial] = page.evaluate(RENDER, ["```js\nconst a = 1;"])
    assert '<pre data-lang="js"><code class="hljs">' in partial
    assert '<span class="hljs-keyword">const</span>' in partial


TABLE_AND_NESTING = """| model | cost |
|---|---:|
| a | 1 |
| b | 2 |

1. first step
   - a detail under it
   - another
2. second step

```python
def f():
    return 1
```"""


def test_tables_nested_lists_and_highlighted_code_render_in_the_chat(
    web: Browser, make_user: Callable[..., User], live_server: LiveServer, openai_sim: Any
) -> None:
    user = make_user("markdown")
    add_model(user, live_server, **sim_model(openai_sim, "Markdowner"))
    # streamed in pieces, the table and the fence split across chunks
    pieces = [TABLE_AND_NESTING[i : i + 17] for i in range(0, len(TABLE_AND_NESTING), 17)]
    openai_sim.enqueue(Script(chunks=pieces, chunk_delay=0.01))
    page = web.login(user)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.wait_for_selector("#model-button:not([disabled])")
    choose_model(page, "Markdowner")
    send(page, "show me")
    wait_for_answers(page, 1)
    body = page.locator("[data-testid=assistant-message] .msg-body")
    assert body.locator("table th").all_inner_texts() == ["model", "cost"]
    assert body.locator("table tbody tr").count() == 2
    # the bullets are a list inside the first numbered item, not a list of their own
    assert body.locator("ol > li").count() == 2
    assert body.locator("ol > li:first-child > ul > li").all_inner_texts() == [
        "a detail under it",
        "another",
    ]
    assert body.locator(":scope > ul").count() == 0
    assert body.locator("pre code .hljs-keyword").first.inner_text() == "def"

    body.locator(".code-block").get_by_role("button", name="Copy").click()
    assert page.evaluate("navigator.clipboard.readText()") == "def f():\n    return 1"
    page.locator("[data-testid=assistant-message] .msg-meta").get_by_role(
        "button", name="Copy"
    ).click()
    assert page.evaluate("navigator.clipboard.readText()") == TABLE_AND_NESTING


def test_a_hostile_answer_renders_as_text_in_the_chat(
    web: Browser, make_user: Callable[..., User], live_server: LiveServer, openai_sim: Any
) -> None:
    user = make_user("hostile")
    add_model(user, live_server, **sim_model(openai_sim, "Hostile"))
    answer = "<img src=x onerror=window.__xss=1> and [link](javascript:window.__xss=1)"
    openai_sim.enqueue(Script(chunks=[answer[:20], answer[20:]], chunk_delay=0.05))
    page = web.login(user)
    page.wait_for_selector("#model-button:not([disabled])")
    choose_model(page, "Hostile")
    send(page, "<b>not bold</b>")
    wait_for_answers(page, 1)
    body = page.locator("[data-testid=assistant-message] .msg-body")
    assert body.inner_text() == answer
    assert body.locator("img, a").count() == 0
    assert page.locator(".msg-user").inner_text() == "<b>not bold</b>"
    assert page.evaluate("window.__xss") is None
