"""No usage lost: every call a client saw succeed has its usage row, after SIGKILLs of
`modelreg serve` under load and after a database outage longer than the recorder's retries.

Real processes and real HTTP on loopback: `modelreg serve` as a subprocess, an OpenAI
simulator upstream in this process, clients in threads (streamed and whole answers). A client
"saw a success" when it read a whole 200 answer (non-stream) or `data: [DONE]` (stream).
Before the usage journal, the rows still waiting in the recorder's 0.1 s batch died with the
process, and a batch that failed for about 3 s was dropped.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from modelreg.crypto import generate_key
from modelreg.simulators import SimulatorServer
from tests.fixtures.db import fresh_pg_database, pg_admin, pg_admin_on, run_sync

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="flock and SIGKILL"),
]

MODELREG = Path(sys.executable).with_name("modelreg")
MODEL = "durable-sim"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(data_dir: Path, database_url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELREG_")}
    for name in ("LLM_PROVIDER", "OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        env.pop(name, None)
    env |= {
        "MODELREG_DATA_DIR": str(data_dir),
        "MODELREG_LOG_LEVEL": "WARNING",
        "MODELREG_ADMIN_PASSWORD": "durability-admin-password",
        "MODELREG_ALLOW_PRIVATE_BASE_URLS": "true",
        "MODELREG_ACCESS_LOG_SAMPLE": "0",
    }
    if database_url is not None:
        env |= {
            "MODELREG_DATABASE_URL": database_url,
            "MODELREG_ENCRYPTION_KEY": generate_key(),
            "MODELREG_SESSION_SECRET": uuid.uuid4().hex,
        }
    return env


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(MODELREG), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@contextmanager
def _serve(env: dict[str, str], log: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`modelreg serve` until healthy; on exit SIGINT (a clean stop) unless already dead."""
    port = _free_port()
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, str(MODELREG), "serve", "--port", str(port)],
            env=env, stdout=out, stderr=out, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "not healthy within 90 s"
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        yield proc, base
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def _setup(env: dict[str, str], sim: SimulatorServer) -> str:
    """Register the simulator as a model and make a token (with a server running, so the
    admin exists); returns the token."""
    _cli(env, "models", "add", MODEL, "--provider", "openai", "--base-url", sim.base_url,
         "--model-id", "gpt-4o-mini", "--api-key", sim.api_key or "")  # fmt: skip
    out = _cli(env, "tokens", "create", "admin")
    return out.strip().splitlines()[-1]


@dataclass
class Load:
    """Client threads calling the gateway until stopped; counts what the clients saw."""

    base: str
    token: str
    threads: int = 8
    successes: int = 0
    failures: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _workers: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for n in range(self.threads):
            worker = threading.Thread(target=self._loop, args=(n % 2 == 0,), daemon=True)
            worker.start()
            self._workers.append(worker)

    def stop(self) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=30)

    def wait_for(self, successes: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.successes < successes:
            assert time.monotonic() < deadline, (self.successes, self.failures)
            time.sleep(0.002)

    def _loop(self, stream: bool) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.base, headers=headers, timeout=30) as http:
            while not self._stop.is_set():
                try:
                    ok = self._stream(http) if stream else self._whole(http)
                except httpx.HTTPError:
                    ok = False
                with self._lock:
                    if ok:
                        self.successes += 1
                    else:
                        self.failures += 1
                if not ok:
                    time.sleep(0.01)

    @staticmethod
    def _body(stream: bool) -> dict[str, object]:
        body: dict[str, object] = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
        if stream:
            body |= {"stream": True, "stream_options": {"include_usage": True}}
        return body

    def _whole(self, http: httpx.Client) -> bool:
        answer = http.post("/v1/chat/completions", json=self._body(False))
        return answer.status_code == 200 and bool(answer.json().get("choices"))

    def _stream(self, http: httpx.Client) -> bool:
        with http.stream("POST", "/v1/chat/completions", json=self._body(True)) as answer:
            if answer.status_code != 200:
                return False
            for line in answer.iter_lines():
                if line.strip() == "data: [DONE]":
                    return True  # what an SDK takes as the end: it reads no further
        return False


def _sqlite_ok_rows(data_dir: Path) -> int:
    with sqlite3.connect(data_dir / "modelreg.db") as conn:
        (count,) = conn.execute(
            "SELECT count(*) FROM usage_events WHERE status = 'ok' AND model_name = ?", (MODEL,)
        ).fetchone()
    return int(count)


def _wait_until_model_answers(base: str, token: str) -> None:
    deadline = time.monotonic() + 20
    while True:
        answer = httpx.post(
            f"{base}/v1/chat/completions",
            headers={"Authorization": f"Bearer {token}"},
            json=Load._body(False),
            timeout=10,
        )
        if answer.status_code == 200:
            return
        assert time.monotonic() < deadline, answer.text
        time.sleep(0.2)


def test_no_usage_is_lost_to_sigkill_under_load(
    openai_sim: SimulatorServer, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    env = _env(data_dir)
    log = tmp_path / "serve.log"
    seen = 1  # the warm-up call
    with _serve(env, log) as (_, base):
        token = _setup(env, openai_sim)
        _wait_until_model_answers(base, token)
    for _kill in range(3):
        with _serve(env, log) as (proc, base):
            load = Load(base, token)
            load.start()
            load.wait_for(150)
            os.kill(proc.pid, signal.SIGKILL)  # right after responses arrived, mid-load
            proc.wait(timeout=10)
            load.stop()
            seen += load.successes
    with _serve(env, log):  # the start replays what the killed processes journaled
        pass
    stored = _sqlite_ok_rows(data_dir)
    assert stored >= seen, f"{seen - stored} of {seen} client-seen successes have no usage row"
    leftovers = [p.name for p in (data_dir / "usage-journal").iterdir()]
    assert leftovers == [], leftovers  # replayed and removed


def test_sigterm_under_load_ends_cleanly_and_loses_no_usage(
    openai_sim: SimulatorServer, tmp_path: Path
) -> None:
    """SIGTERM is how orchestrators stop a replica: the server finishes what it started and
    flushes the ledger; every call a client saw succeed has its row without any replay."""
    data_dir = tmp_path / "data"
    env = _env(data_dir)
    log = tmp_path / "serve.log"
    seen = 1
    with _serve(env, log) as (_, base):
        token = _setup(env, openai_sim)
        _wait_until_model_answers(base, token)
    with _serve(env, log) as (proc, base):
        load = Load(base, token)
        load.start()
        load.wait_for(150)
        proc.send_signal(signal.SIGTERM)
        # uvicorn re-raises the signal it handled once it has shut down cleanly
        assert proc.wait(timeout=30) in (0, -signal.SIGTERM), log.read_text()[-2000:]
        load.stop()
        seen += load.successes
    stored = _sqlite_ok_rows(data_dir)  # no replay needed: the stop flushed the ledger
    assert stored >= seen, f"{seen - stored} of {seen} client-seen successes have no usage row"


@contextmanager
def _pg_database(pg_available: bool) -> Iterator[str]:
    if not pg_available:
        pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432")
    template = f"modelreg_dur_tpl_{uuid.uuid4().hex[:12]}"
    from modelreg.db.migrate import upgrade_database
    from tests.fixtures.db import pg_url

    run_sync(lambda: pg_admin(f'CREATE DATABASE "{template}" TEMPLATE template0'))
    try:
        run_sync(lambda: upgrade_database(pg_url(template)))
        with fresh_pg_database(template) as name:
            yield name
    finally:
        run_sync(lambda: pg_admin(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)'))


def _block(name: str) -> None:
    """An outage of this test's own database: no new connections, the open ones cut."""
    run_sync(lambda: pg_admin(
        f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false',
        # our own random name, not input
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'",  # noqa: S608
    ))  # fmt: skip


def _unblock(name: str) -> None:
    run_sync(lambda: pg_admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))


def _pg_ok_rows(name: str) -> int:
    rows: list[int] = []

    async def count() -> None:
        import asyncpg

        conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{name}")
        try:
            rows.append(
                await conn.fetchval(
                    "SELECT count(*) FROM usage_events WHERE status = 'ok' AND model_name = $1",
                    MODEL,
                )
            )
        finally:
            await conn.close()

    run_sync(count)
    return rows[0]


def test_no_usage_is_lost_to_a_database_outage(
    openai_sim: SimulatorServer, tmp_path: Path, pg_available: bool
) -> None:
    with _pg_database(pg_available) as name:
        data_dir = tmp_path / "data"
        env = _env(data_dir, f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}")
        log = tmp_path / "serve.log"
        seen = 0
        with _serve(env, log) as (proc, base):
            token = _setup(env, openai_sim)
            _wait_until_model_answers(base, token)
            seen += 1
            load = Load(base, token, threads=4)
            load.start()
            try:
                load.wait_for(20)
                _block(name)
                # calls go on from the caches for longer than the old retries (about 3 s)
                time.sleep(8)
                _unblock(name)
                load.wait_for(load.successes + 20)
                # a second outage, and the process killed in the middle of it
                _block(name)
                time.sleep(3)
            finally:
                load.stop()
                seen += load.successes
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
                _unblock(name)
        assert load.successes > 40
        with _serve(env, log):
            pass
        stored = _pg_ok_rows(name)
        assert stored >= seen, f"{seen - stored} of {seen} client-seen successes have no row"
        run_sync(lambda: pg_admin_on(name, "SELECT 1"))  # the database is usable again
        details = json.dumps({"seen": seen, "stored": stored})
        assert stored <= seen + load.failures + 8, details  # no double counting by the replay
