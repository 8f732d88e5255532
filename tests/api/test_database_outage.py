"""The database unreachable and back (issue 14, item 8), over real HTTP: a PostgreSQL database
the test owns behind a TCP proxy the test cuts and restores (the shared server keeps running),
and a SQLite file whose directory is moved away. Every surface answers a 503 with Retry-After
in its own shape, never a traceback, and works again without a restart."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from modelreg.simulators import SimulatorServer
from tests.fixtures.db import pg_admin
from tests.fixtures.outage import TcpProxy
from tests.fixtures.server import LiveServer
from tests.gateway.helpers import create_model

Start = Callable[..., LiveServer]


@dataclass
class Outage:
    server: LiveServer
    cut: Callable[[], None]
    restore: Callable[[], None]


@contextlib.contextmanager
def _postgres_behind_proxy(start: Start, pg_available: bool) -> Iterator[Outage]:
    if not pg_available:
        pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432")
    from pydantic import SecretStr

    from modelreg.crypto import generate_key

    name = f"modelreg_outage_{uuid.uuid4().hex[:12]}"
    asyncio.run(pg_admin(f'CREATE DATABASE "{name}"'))
    proxy = TcpProxy(5432)
    try:
        server = start(
            database_url=f"postgresql+asyncpg://postgres@127.0.0.1:{proxy.port}/{name}",
            encryption_key=SecretStr(generate_key()),
        )
        yield Outage(server, proxy.cut, proxy.restore)
        server.stop()
    finally:
        proxy.close()
        asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextlib.contextmanager
def _sqlite_moved_away(start: Start, tmp_path: Path) -> Iterator[Outage]:
    folder = tmp_path / "db"
    folder.mkdir()
    server = start(database_url=f"sqlite+aiosqlite:///{folder / 'modelreg.db'}")

    def cut() -> None:
        folder.rename(tmp_path / "db-away")
        # open connections keep the moved file: drop them (the async pool and the SQLite
        # writer's), as a lost disk would
        server.run(server.services.db.dispose())

    def restore() -> None:
        (tmp_path / "db-away").rename(folder)

    yield Outage(server, cut, restore)
    server.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def outage(
    request: pytest.FixtureRequest, live_server_factory: Start, tmp_path: Path
) -> Iterator[Outage]:
    if request.param == "sqlite":
        with _sqlite_moved_away(live_server_factory, tmp_path) as sqlite:
            yield sqlite
    else:
        pg_available = request.getfixturevalue("pg_available")
        with _postgres_behind_proxy(live_server_factory, pg_available) as pg:
            yield pg


def _session_cookie(server: LiveServer, http: httpx.Client, name: str, password: str) -> None:
    page = http.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    signed_in = http.post(
        "/login", data={"username": name, "password": password, "csrf_token": token.group(1)}
    )
    assert signed_in.status_code == 303, signed_in.text


def _assert_503(answer: httpx.Response, what: str) -> None:
    assert answer.status_code == 503, (what, answer.status_code, answer.text[:500])
    assert int(answer.headers["retry-after"]) >= 1, what
    assert "Traceback" not in answer.text, what
    assert "sqlalchemy" not in answer.text.lower(), what


def test_a_database_outage_is_a_503_everywhere_and_recovers_without_restart(
    outage: Outage, openai_sim: SimulatorServer, caplog: pytest.LogCaptureFixture
) -> None:
    server = outage.server
    token = server.create_user("carol", password="carol-password-long")
    model = create_model(server, token, openai_sim)["name"]
    fresh_token = server.token_for("carol", "carol-password-long")  # not in the token cache
    chat = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    page = httpx.Client(base_url=server.url, headers={"accept": "text/html"}, timeout=30)
    _session_cookie(server, page, "carol", "carol-password-long")
    with server.client(token) as http:
        assert http.post("/api/chat", json={"model_id": model, "message": "hi"}).is_success

    outage.cut()
    with caplog.at_level(logging.WARNING):
        with server.client(token) as http:
            api = http.post("/api/chat", json={"model_id": model, "message": "hi"})
            streamed = http.post(
                "/api/chat", json={"model_id": model, "message": "hi", "stream": True}
            )
            listing = http.get("/api/conversations")
        with server.client(fresh_token) as http:
            openai = http.post("/v1/chat/completions", json=chat)
            anthropic = http.post("/v1/messages", json={**chat, "max_tokens": 16})
        html = page.get("/")
        with server.client() as http:
            ready = http.get("/readyz")
    for what, answer in [("api", api), ("stream", streamed), ("listing", listing)]:
        _assert_503(answer, what)
        assert answer.json()["error"]["type"] == "database_unavailable", what
    _assert_503(openai, "openai")
    assert openai.json()["error"]["type"] == "server_error"
    assert openai.json()["error"]["code"] == "database_unavailable"
    _assert_503(anthropic, "anthropic")
    assert anthropic.json()["error"]["type"] == "api_error"
    _assert_503(html, "page")
    assert html.headers["content-type"].startswith("text/html")
    assert ready.status_code == 503
    assert ready.json()["database"] == "down"
    # logged short, not a traceback per request
    assert not [r for r in caplog.records if r.name.startswith(("modelreg.api", "uvicorn"))]
    outage_lines = [r for r in caplog.records if r.name == "modelreg.db"]
    assert 1 <= len(outage_lines) <= 2, [r.getMessage() for r in outage_lines]
    assert all(r.exc_info is None for r in outage_lines)

    outage.restore()
    deadline = time.monotonic() + 20
    while True:
        with server.client(token) as http:
            again = http.post("/api/chat", json={"model_id": model, "message": "hi"})
        if again.status_code == 200:
            break
        _assert_503(again, "while reconnecting")
        assert time.monotonic() < deadline, "no recovery within 20 s"
        time.sleep(0.2)
    with server.client(fresh_token) as http:
        assert http.post("/v1/chat/completions", json=chat).status_code == 200
    assert page.get("/").status_code == 200
    with server.client() as http:
        assert http.get("/readyz").json()["database"] == "ok"
    page.close()


def test_login_during_a_database_outage_is_a_503_form(
    live_server_factory: Start, tmp_path: Path
) -> None:
    with _sqlite_moved_away(live_server_factory, tmp_path) as outage:
        with outage.server.client() as http:
            page = http.get("/login")
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert token is not None
            outage.cut()
            answer = http.post(
                "/login",
                data={"username": "admin", "password": "x", "csrf_token": token.group(1)},
            )
        outage.restore()
    _assert_503(answer, "login")
    assert "Sign-in is unavailable" in answer.text
