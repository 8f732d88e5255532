"""The suite's own guardrails, checked by running pytest on the suite in a child process:

- a leaked socket or a coroutine never awaited fails the test that leaked it (no filter in
  pyproject.toml hides unraisable exceptions any more);
- a missing PostgreSQL, Redis or Chromium skips its tests locally but fails them under CI.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# one test per service, each reaching it through the suite's real fixtures
SERVICE_TESTS = [
    "tests/db/test_rls.py",
    "tests/api/test_ssrf_and_limits.py::test_replicas_sharing_redis_share_the_limit",
    "tests/web/test_csp.py",
]


def _pytest(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly",
         "-q", "-rA", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _dead_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # closed again: nothing listens there


def _env(*, ci: bool, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env |= {
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
        "MODELREG_TEST_PG_PORT": str(_dead_port()),
        "MODELREG_TEST_REDIS_PORT": str(_dead_port()),
        "MODELREG_CHROMIUM": str(tmp_path / "no-chromium"),
    }
    if ci:
        env["CI"] = "true"
    return env


def test_missing_services_fail_the_run_under_ci(tmp_path: Path) -> None:
    run = _pytest(*SERVICE_TESTS, env=_env(ci=True, tmp_path=tmp_path))
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    assert "skipped" not in out.splitlines()[-1], out
    assert "PostgreSQL is not reachable at 127.0.0.1:" in out
    assert "Redis is not reachable at 127.0.0.1:" in out
    assert f"Chromium not found at {tmp_path / 'no-chromium'}" in out
    assert "(required under CI=true)" in out


def test_missing_services_skip_with_the_reason_outside_ci(tmp_path: Path) -> None:
    run = _pytest(*SERVICE_TESTS, env=_env(ci=False, tmp_path=tmp_path))
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert " passed" not in out.splitlines()[-1], out  # nothing ran against a real service
    assert "SKIPPED" in out
    assert "PostgreSQL is not reachable" in out
    assert "Redis is not reachable" in out
    assert "Chromium not found" in out


LEAKS = """
    import gc
    import socket


    def test_a_socket_left_open() -> None:
        leaked = socket.socket()
        del leaked
        gc.collect()


    async def _work() -> None:
        pass


    def test_a_coroutine_never_awaited() -> None:
        _work()
        gc.collect()


    def test_clean() -> None:
        with socket.socket():
            pass
"""


def test_a_leak_fails_the_test_that_leaked(tmp_path: Path) -> None:
    (tmp_path / "test_leaks.py").write_text(textwrap.dedent(LEAKS))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    run = _pytest("-c", str(ROOT / "pyproject.toml"), "--rootdir", str(tmp_path),
                  str(tmp_path / "test_leaks.py"), env=env)  # fmt: skip
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    outcomes = {
        line.split("::")[-1].split(" ")[0]: line.split(" ")[0]
        for line in out.splitlines()
        if line.startswith(("PASSED ", "FAILED ", "ERROR "))
    }
    assert outcomes == {
        "test_a_socket_left_open": "FAILED",
        "test_a_coroutine_never_awaited": "FAILED",
        "test_clean": "PASSED",
    }, out
    assert "ResourceWarning: unclosed <socket.socket" in out
    assert "coroutine '_work' was never awaited" in out


def _script(name: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / name)],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_the_service_scripts_fail_under_ci_when_a_service_is_missing(tmp_path: Path) -> None:
    ci = _env(ci=True, tmp_path=tmp_path)
    services, browser = _script("ensure-services.sh", ci), _script("ensure-browser.sh", ci)
    assert services.returncode == 1, services
    assert "error: PostgreSQL is not reachable at 127.0.0.1:" in services.stderr
    assert "error: Redis is not reachable at 127.0.0.1:" in services.stderr
    assert browser.returncode == 1, browser
    assert f"error: Chromium not found at {tmp_path / 'no-chromium'}" in browser.stderr

    local = _env(ci=False, tmp_path=tmp_path)
    services, browser = _script("ensure-services.sh", local), _script("ensure-browser.sh", local)
    assert services.returncode == 0, services
    assert "PostgreSQL is not reachable" in services.stdout
    assert browser.returncode == 0, browser
    assert "the browser tests will skip" in browser.stdout
