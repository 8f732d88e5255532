"""Secret scan: models get recognisable credentials (`sk-SCANME-<random>` as the API key and an
extra auth header whose value needs JSON escaping), an upstream gives them back everywhere it
can (tests/api/echo_upstream.py), and the representative API and gateway flows run against
it: pass-through and translated /v1/chat/completions, /v1/messages, /v1/embeddings, /api/chat
(JSON and streams), connection tests (saved and draft), model listings, conversations, usage,
audit and metrics; normal answers, error statuses and error events mid-stream.

Then every response body and header, every log record, the process's stdout/stderr and the
database (SQLite: the file bytes with WAL; PostgreSQL: every table as text) are scanned for
the random part of each credential. The expected count of findings is zero.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest

from tests.api._helpers import model_payload, unique
from tests.api.echo_upstream import EchoUpstream
from tests.fixtures.server import LiveServer

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
async def echo() -> AsyncIterator[EchoUpstream]:
    server = EchoUpstream()
    await server.start()
    yield server
    await server.stop()


class Credentials:
    def __init__(self) -> None:
        self.key_core = uuid.uuid4().hex
        self.header_core = uuid.uuid4().hex
        self.api_key = f"sk-SCANME-{self.key_core}"
        # a quote and a backslash: its JSON-escaped form differs from the raw one
        self.header = f'xh-SCANME-{self.header_core}"q\\z'

    @property
    def needles(self) -> tuple[str, ...]:
        # the random parts: they find raw, escaped and partly masked copies alike
        return (self.key_core, self.header_core, self.key_core[:16], self.header_core[:16])

    def findings(self, where: str, text: str | bytes) -> list[str]:
        data = text if isinstance(text, bytes) else text.encode("utf-8", "replace")
        return [f"{where}: {n}" for n in self.needles if n.encode() in data]


def _flows(
    pass_through: dict[str, Any], translated: dict[str, Any], company: dict[str, Any]
) -> list[tuple[str, str, dict[str, Any] | None]]:
    """(method, path, json) of the calls to make, for an ordinary user."""
    flows: list[tuple[str, str, dict[str, Any] | None]] = []
    for model in (pass_through, translated, company):
        name = model["name"]
        # errors last: after a few the breaker opens and later calls never leave
        for mode in ("ok", "mode-event-error", "mode-401", "mode-500"):
            messages = [{"role": "user", "content": mode}]
            for stream in (False, True):
                flows += [
                    (
                        "POST",
                        "/v1/chat/completions",
                        {"model": name, "messages": messages, "stream": stream},
                    ),
                    (
                        "POST",
                        "/v1/messages",
                        {"model": name, "max_tokens": 20, "messages": messages, "stream": stream},
                    ),
                    (
                        "POST",
                        "/api/chat",
                        {"model_id": model["id"], "message": mode, "stream": stream},
                    ),
                ]
            flows.append(("POST", "/v1/embeddings", {"model": name, "input": mode}))
        flows += [
            ("POST", "/api/models/test-connection", {"model_id": model["id"]}),
            ("GET", f"/api/models/{model['id']}", None),
            ("GET", f"/v1/models/{name}", None),
        ]
    flows += [
        ("GET", "/api/models", None),
        ("GET", "/v1/models", None),
        ("GET", "/api/conversations", None),
        ("GET", "/api/usage", None),
        ("GET", "/api/users/me", None),
    ]
    return flows


async def _dump_database(server: LiveServer, data_dir: Path | None) -> list[tuple[str, bytes]]:
    url = server.services.settings.database_url
    if url.startswith("sqlite"):
        assert data_dir is not None
        return [(str(p), p.read_bytes()) for p in sorted(data_dir.glob("modelreg.db*"))]
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        tables = await conn.fetch(
            "SELECT schemaname, tablename FROM pg_tables"
            " WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        )
        dumped = []
        for table in tables:
            ident = f'"{table["schemaname"]}"."{table["tablename"]}"'
            rows = await conn.fetch(f"SELECT t::text AS row FROM {ident} t")  # noqa: S608
            dumped.append((ident, "\n".join(r["row"] for r in rows).encode()))
        return dumped
    finally:
        await conn.close()


def _label(answer: httpx.Response) -> str:
    """Which flow: the model, mode and stream of the request, and the status."""
    sent = answer.request.content
    body: dict[str, Any] = orjson.loads(sent) if sent.startswith(b"{") else {}
    mode = next((m for m in _MODES if m in sent.decode(errors="replace")), "ok")
    model = body.get("model") or body.get("model_id") or ""
    kind = _KINDS.get(str(model), "")
    stream = "stream" if body.get("stream") else ""
    return " ".join(x for x in (kind, mode, stream, f"-> {answer.status_code}") if x)


_MODES = ("mode-401", "mode-500", "mode-event-error")
_KINDS: dict[str, str] = {}  # model name or id -> which kind of model (for the report)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def scanned_server(
    request: pytest.FixtureRequest, live_server_factory: Callable[..., LiveServer]
) -> tuple[LiveServer, Path | None]:
    if request.param == "postgres":
        server: LiveServer = request.getfixturevalue("live_server_pg")
        return server, None
    server = live_server_factory(log_level="DEBUG", access_log_sample=100)
    return server, server.services.settings.data_dir


async def test_no_credential_is_found_anywhere(
    scanned_server: tuple[LiveServer, Path | None],
    echo: EchoUpstream,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level("DEBUG")
    server, data_dir = scanned_server
    creds = Credentials()
    secrets = {"api_key": creds.api_key, "auth_headers": {"X-Extra-Auth": creds.header}}
    user = server.create_user()
    responses: list[httpx.Response] = []
    async with (
        httpx.AsyncClient(base_url=server.url, timeout=30) as http,
    ):
        as_user = {"Authorization": f"Bearer {user}"}
        as_admin = {"Authorization": f"Bearer {server.admin_token}"}

        async def create(body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
            answer = await http.post("/api/models", json=body, headers=headers)
            responses.append(answer)
            assert answer.status_code == 201, answer.text
            made: dict[str, Any] = answer.json()
            return made

        pass_through = await create(
            model_payload(base_url=echo.openai_url, model_id="gpt-echo", **secrets), as_user
        )
        translated = await create(
            model_payload(
                provider="anthropic",
                base_url=echo.anthropic_url,
                model_id="claude-echo",
                **secrets,
            ),
            as_user,
        )
        company = await create(
            model_payload(base_url=echo.openai_url, model_id="gpt-echo", is_global=True, **secrets),
            as_admin,
        )
        for kind, made in (
            ("pass-through", pass_through),
            ("translated", translated),
            ("company", company),
        ):
            _KINDS[made["name"]] = _KINDS[made["id"]] = kind
        for method, path, body in _flows(pass_through, translated, company):
            responses.append(await http.request(method, path, json=body, headers=as_user))
        # unsaved configurations, failing and not; and a key change on a saved model
        for model_id in ("gpt-echo", "mode-401", "mode-500"):
            draft = model_payload(
                base_url=echo.openai_url, model_id=model_id, name=unique("draft"), **secrets
            )
            responses.append(
                await http.post("/api/models/test-connection", json=draft, headers=as_user)
            )
        responses.append(
            await http.patch(
                f"/api/models/{pass_through['id']}",
                json={"description": "rotated", **secrets},
                headers=as_user,
            )
        )
        listing = (await http.get("/api/conversations", headers=as_user)).json()
        for conv in listing:
            responses.append(await http.get(f"/api/conversations/{conv['id']}", headers=as_user))
        for path in ("/api/audit", "/metrics", "/api/usage?group_by=user", "/api/models"):
            responses.append(await http.get(path, headers=as_admin))

    assert echo.hits >= 50, echo.hits  # the upstream really was asked, and echoed
    statuses = {r.status_code for r in responses}
    assert {200, 502} <= statuses, statuses
    found: list[str] = []
    for answer in responses:
        where = f"{answer.request.method} {answer.request.url.path} {_label(answer)}"
        found += creds.findings(f"{where} body", answer.content)
        for name, value in answer.headers.multi_items():
            found += creds.findings(f"{where} header {name}", value)
    for record in caplog.records:
        found += creds.findings(f"log {record.name}", record.getMessage())
        if record.exc_text:
            found += creds.findings(f"log {record.name} traceback", record.exc_text)
    out, err = capfd.readouterr()
    found += creds.findings("stdout", out) + creds.findings("stderr", err)
    for where, data in await _dump_database(server, data_dir):
        found += creds.findings(f"database {where}", data)
    found = sorted(set(found))
    assert found == [], f"{len(found)} credentials found:\n" + "\n".join(found)
