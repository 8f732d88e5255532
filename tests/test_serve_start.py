"""`modelreg serve` as an operator runs it: a real process on the embedded SQLite default.

What a start loads is checked from the outside: Python's own `-X importtime` report (one
stderr line per import, written when the import finishes) for the serving process, and
/proc/PID/maps (the shared libraries a process has loaded) for uvicorn's supervisor."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from modelreg.bootstrap import needs_migration
from modelreg.settings import Settings

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc"),
]

MODELREG = Path(sys.executable).with_name("modelreg")
PASSWORD_LINE = "created user 'admin' with password:"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    base: str
    stdout: Path
    stderr: Path

    def imported(self) -> set[str]:
        """Top-level packages in the `-X importtime` report so far."""
        return {name.split(".")[0] for name in self.imported_modules()}

    def imported_modules(self) -> set[str]:
        """Every module in the `-X importtime` report so far, by its full name."""
        names = set()
        for line in self.stderr.read_text().splitlines():
            found = re.match(r"import time:\s+\d+ \|\s+\d+ \|\s*([\w.]+)$", line)
            if found:
                names.add(found.group(1))
        return names


@contextmanager
def serve(data_dir: Path, tmp_path: Path, *args: str, importtime: bool = False) -> Iterator[Server]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELREG_")}
    for name in ("LLM_PROVIDER", "OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        env.pop(name, None)
    env |= {"MODELREG_DATA_DIR": str(data_dir), "MODELREG_LOG_LEVEL": "WARNING"}
    flags = ["-X", "importtime"] if importtime else []
    stdout, stderr = tmp_path / f"serve-{port}.out", tmp_path / f"serve-{port}.err"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, *flags, str(MODELREG), "serve", "--port", str(port), *args],
            env=env,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
        )
    server = Server(proc, f"http://127.0.0.1:{port}", stdout, stderr)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, stderr.read_text()[-2000:]
            assert time.monotonic() < deadline, "not healthy within 90 s"
            try:
                if httpx.get(f"{server.base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        yield server
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _wait_for_import(server: Server, package: str) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if package in server.imported():
            return True
        time.sleep(0.05)
    return False


def test_first_and_second_start_of_the_embedded_default(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with serve(data_dir, tmp_path, importtime=True) as first:
        loaded = first.imported()
        # the migrations ran in a short-lived child; the server never loads Alembic
        assert (data_dir / "modelreg.db").exists()
        assert "alembic" not in loaded
        # the web UI's templates are compiled when a page is first asked for
        assert "jinja2" not in loaded
        page = httpx.get(f"{first.base}/login")
        assert page.status_code == 200
        assert "<form" in page.text
        assert _wait_for_import(first, "jinja2")
        assert "sqlalchemy" in loaded  # the report is read correctly
    assert (data_dir / "encryption.key").exists()
    out = first.stdout.read_text()
    assert out.count(PASSWORD_LINE) == 1, out

    assert not needs_migration(Settings(data_dir=data_dir))
    with serve(data_dir, tmp_path) as second:
        token_free = httpx.get(f"{second.base}/api/models")
        assert token_free.status_code == 401
        assert "server" not in token_free.headers  # no "server: uvicorn" naming the stack
        assert "date" in token_free.headers
    assert PASSWORD_LINE not in second.stdout.read_text()


def test_the_serving_process_imports_neither_the_simulators_nor_aiohttp(tmp_path: Path) -> None:
    with serve(tmp_path / "data", tmp_path, importtime=True) as server:
        # a request down each road: the fast path, the routed API, the gateway, a web page
        answers = [
            httpx.post(f"{server.base}/v1/chat/completions", json={"model": "m", "messages": []}),
            httpx.post(f"{server.base}/v1/messages", json={"model": "m", "messages": []}),
            httpx.get(f"{server.base}/api/models"),
            httpx.get(f"{server.base}/login"),
        ]
        assert [a.status_code for a in answers] == [401, 401, 401, 200]
        assert _wait_for_import(server, "jinja2")  # the report covers the requests' imports
        loaded = server.imported_modules()
    assert "modelreg.app" in loaded
    assert not {m for m in loaded if m.startswith(("aiohttp", "modelreg.simulators"))}


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _maps(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


def test_the_supervisor_of_several_workers_loads_no_database_code(tmp_path: Path) -> None:
    with serve(tmp_path / "data", tmp_path, "--workers", "2") as server:
        supervisor = _maps(server.proc.pid)
        workers = [p for p in _children(server.proc.pid) if "sqlalchemy" in _maps(p)]
        # shared libraries of SQLAlchemy's, cryptography's and aiohttp's compiled modules
        for package in ("sqlalchemy", "cryptography", "aiohttp"):
            assert f"/{package}/" not in supervisor, package
        assert len(workers) == 2
    assert server.stdout.read_text().count(PASSWORD_LINE) == 1
