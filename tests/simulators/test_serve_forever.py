"""`serve_forever` (behind `modelreg simulate`) in its own process, scripted through the
control API the way browser tests and users drive it."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Iterator

import anthropic
import httpx
import pytest

LAUNCH = (
    "from modelreg.simulators import serve_forever; "
    "serve_forever('anthropic', '127.0.0.1', 0, 'sk-ant-process-0000')"
)


@pytest.fixture
def simulator_process() -> Iterator[tuple[subprocess.Popen[str], str]]:
    process = subprocess.Popen(
        [sys.executable, "-c", LAUNCH], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        found = re.search(r"base URL (http://127\.0\.0\.1:\d+)", banner)
        assert found, f"no base URL in {banner!r}"
        yield process, found.group(1)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()


def test_out_of_process_simulator_is_scripted_over_http(simulator_process):
    process, base_url = simulator_process
    with anthropic.Anthropic(
        base_url=base_url, api_key="sk-ant-process-0000", max_retries=0
    ) as client:
        queued = httpx.post(f"{base_url}/__sim/enqueue", json={"text": "scripted", "repeat": 2})
        first = client.messages.create(
            model="claude-sonnet-4-6", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
        )
        recorded = httpx.get(f"{base_url}/__sim/requests").json()["requests"]

        assert queued.json() == {"queued": 2}
        assert first.content[0].text == "scripted"
        assert recorded[0]["path"] == "/v1/messages"
        assert "sk-ant-process-0000" not in str(recorded)

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
