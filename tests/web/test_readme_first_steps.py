"""The README's *Quick start* and *First steps*, followed as written, in a fresh directory: the
real `modelreg` CLI and server processes (the data dir is the default `./.modelreg` of the
working directory), the real simulators, Chromium for the web steps, and the README's own
SDK snippets. Only the ports differ (free ones instead of 8000 and 9101), and everything
stays on loopback.

The shell commands and Python snippets are read from README.md itself, so when the README
changes this test follows it, and when the product stops matching the README it fails."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.web.conftest import choose_model, send, wait_for_answers

pytestmark = [pytest.mark.browser, pytest.mark.slow]

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
MODELREG = Path(sys.executable).with_name("modelreg")
PASSWORD_LINE = re.compile(r"created user 'admin' with password: (\S+)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


def _blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def _commands(block: str) -> list[tuple[list[str], bool]]:
    """The block's `.venv/bin/modelreg` commands: (argv, run in the background)."""
    joined = block.replace("\\\n", " ")
    found = []
    for line in joined.splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line.startswith(".venv/bin/modelreg"):
            continue
        background = line.endswith("&")
        found.append((shlex.split(line.rstrip("&")), background))
    return found


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MODELREG_")}
    for name in ("LLM_PROVIDER", "OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        clean.pop(name, None)
    return clean | {"PYTHONUNBUFFERED": "1"}


@contextlib.contextmanager
def _process(argv: list[str], cwd: Path, env: dict[str, str], log: Path) -> Iterator[Path]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    try:
        yield log
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_for(url: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code < 500:
                return
        assert time.monotonic() < deadline, f"{url} never answered:\n{log.read_text()[-2000:]}"
        time.sleep(0.2)


def _cli(argv: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        [str(MODELREG), *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, (argv, done.stdout, done.stderr)
    return done.stdout


def test_the_readme_first_steps_end_with_a_chat_answer(
    browser: Any, tmp_path: Path, env: dict[str, str]
) -> None:
    port, sim_port = _free_port(), _free_port()
    env = env | {"MODELREG_PORT": str(port)}  # "Another port: MODELREG_PORT=8080 make run"
    base = f"http://127.0.0.1:{port}"

    # Quick start: `make run` = `modelreg db upgrade` then `modelreg serve`, in the project dir
    assert "make run     # creates .venv, installs, migrates" in _section("Quick start")
    _cli(["db", "upgrade"], tmp_path, env)
    with _process([str(MODELREG), "serve"], tmp_path, env, tmp_path / "serve.log") as log:
        _wait_for(f"{base}/healthz", log)
        printed = PASSWORD_LINE.search(log.read_text())
        assert printed, f"no admin password printed:\n{log.read_text()[-2000:]}"
        password = printed.group(1)
        assert (tmp_path / ".modelreg" / "modelreg.db").exists()  # the data dir of the README

        # "No API key at hand?": the simulator and `models add`, as written (port aside)
        steps = _section("First steps")
        (block,) = [b for b in _blocks(steps, "bash") if "modelreg simulate" in b]
        commands = _commands(block)
        assert [argv[1] for argv, _ in commands] == ["simulate", "models"]
        with contextlib.ExitStack() as stack:
            for argv, background in commands:
                argv = [str(MODELREG), *(a.replace("9101", str(sim_port)) for a in argv[1:])]
                if background:
                    sim_log = tmp_path / "simulate.log"
                    stack.enter_context(_process(argv, tmp_path, env, sim_log))
                    _wait_for(f"http://127.0.0.1:{sim_port}/v1/models", sim_log)
                else:
                    _cli(argv[1:], tmp_path, env)
            _web_steps(browser, base, password, sim_port)
            _sdk_steps(tmp_path, env, port)


def _web_steps(browser: Any, base: str, password: str, sim_port: int) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=base)
    context.set_default_timeout(15_000)
    errors: list[str] = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        # 1. Log in: open the printed URL and sign in as admin
        page.goto("/")
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_selector("[data-testid=current-user]")

        # 2. Add a model: Models → Add model, a template, the key, Company-wide, Test, Save
        page.get_by_role("link", name="Models").click()
        page.click("#add-model")
        page.click("[data-template=openai]")
        page.fill("#f-name", "From the UI")
        page.fill("#f-base_url", f"http://127.0.0.1:{sim_port}/v1")  # the simulator
        page.fill("#f-api_key", "sk-anything")
        page.check("#f-is_global")
        page.click("#test-connection")
        page.locator("#test-result.ok").wait_for()
        page.click("#save-model")
        page.wait_for_selector("#model-dialog", state="hidden")

        # 3. Chat: pick the model (the one `models add` made) and write
        page.get_by_role("link", name="Chat").click()
        page.wait_for_selector("#model-button:not([disabled])")
        choose_model(page, "sim-gpt")
        send(page, "Hello from the README")
        wait_for_answers(page, 1)
        answer = page.locator("[data-testid=assistant-message]").first
        assert answer.inner_text().strip()
        assert "sim-gpt" in answer.inner_text()  # the model badge
    finally:
        context.close()
    assert errors == []


def _sdk_steps(cwd: Path, env: dict[str, str], port: int) -> None:
    section = README[README.index("### Use the official SDKs against the gateway") :]
    (export,) = [b for b in _blocks(section, "bash") if "tokens create" in b]
    ((argv, _),) = _commands(export.split("$(", 1)[1].rstrip(")\n"))
    token = _cli(argv[1:], cwd, env).strip()
    assert token.startswith("mr-")
    snippets = _blocks(section, "python")[:2]
    assert "from openai import OpenAI" in snippets[0]
    assert "from anthropic import Anthropic" in snippets[1]
    for snippet in snippets:
        printed = io.StringIO()
        code = snippet.replace("127.0.0.1:8000", f"127.0.0.1:{port}")
        saved = os.environ.get("MODELREG_TOKEN")
        os.environ["MODELREG_TOKEN"] = token
        try:
            with contextlib.redirect_stdout(printed):
                exec(compile(code, "README.md", "exec"), {})  # noqa: S102 - the README's own code
        finally:
            if saved is None:
                os.environ.pop("MODELREG_TOKEN", None)
            else:
                os.environ["MODELREG_TOKEN"] = saved
        assert printed.getvalue().strip(), snippet
