"""Adversarial checks from the security review: secrets in upstream errors, the SSRF guard of
unsaved connection tests, user A against user B, hostile bodies, and the pages' headers.

No test here opens a socket to anything but loopback or resolves a real name: names are
answered by stub resolvers and `socket_watch` refuses (and records) any other connect.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiohttp import web

from modelreg.client.transport import HttpTransport
from tests.api._helpers import assert_error, create_model, model_payload, unique
from tests.fixtures.network import SocketWatch, StubResolver
from tests.fixtures.server import LiveServer

ECHOED_KEY = "sk-echo-SECRET-0123456789abcdefWXYZ"


class _Upstream:
    """A loopback OpenAI-ish upstream that answers 401 and echoes the caller's key, as some
    providers do in their error message, and counts the requests it got."""

    def __init__(self) -> None:
        self.hits = 0
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        self.hits += 1
        sent = request.headers.get("Authorization", "") or request.headers.get("x-api-key", "")
        key = sent.removeprefix("Bearer ")
        message = f"Incorrect API key provided: {key}. Header was {sent!r}."
        return web.json_response(
            {"error": {"message": message, "type": "invalid_request_error", "code": "bad_key"}},
            status=401,
        )

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def upstream() -> AsyncIterator[_Upstream]:
    server = _Upstream()
    await server.start()
    yield server
    await server.stop()


# --- secrets in upstream errors ---------------------------------------------------------


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_a_key_echoed_by_the_upstream_never_reaches_the_caller(
    live_server: LiveServer,
    upstream: _Upstream,
    provider: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("DEBUG")
    token = live_server.create_user()
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=live_server.url, headers=headers, timeout=30) as http:
        body = model_payload(
            provider=provider,
            base_url=f"http://127.0.0.1:{upstream.port}" + ("/v1" if provider == "openai" else ""),
            api_key=ECHOED_KEY,
        )
        created = await http.post("/api/models", json=body)
        assert created.status_code == 201, created.text
        model = created.json()
        messages = [{"role": "user", "content": "hi"}]
        answers = [
            await http.post("/api/models/test-connection", json={"model_id": model["id"]}),
            await http.post("/api/chat", json={"model_id": model["id"], "message": "hi"}),
            await http.post(
                "/api/chat", json={"model_id": model["id"], "message": "hi", "stream": True}
            ),
            await http.post(
                "/v1/chat/completions", json={"model": model["name"], "messages": messages}
            ),
            await http.post(
                "/v1/chat/completions",
                json={"model": model["name"], "messages": messages, "stream": True},
            ),
            await http.post(
                "/v1/messages",
                json={"model": model["name"], "max_tokens": 5, "messages": messages},
            ),
            await http.post(
                "/v1/messages",
                json={
                    "model": model["name"],
                    "max_tokens": 5,
                    "messages": messages,
                    "stream": True,
                },
            ),
            await http.post(
                "/api/models/test-connection",
                json={**body, "name": unique("draft")},
            ),
        ]
        assert upstream.hits >= len(answers)
        for answer in answers:
            assert ECHOED_KEY not in answer.text, (answer.request.url, answer.text)
            assert ECHOED_KEY[8:-4] not in answer.text, (answer.request.url, answer.text)
        conversations = await http.get("/api/conversations")
        for conv in conversations.json():
            detail = await http.get(f"/api/conversations/{conv['id']}")
            assert ECHOED_KEY[8:-4] not in detail.text
    assert ECHOED_KEY[8:-4] not in caplog.text


# --- SSRF: unsaved configurations -------------------------------------------------------


def _save_time_dns(host: str) -> list[str]:
    # at save / test time the name looks public (never contacted: the transport's own
    # resolver, a stub, answers at connect time)
    if host == "rebind.test":
        return ["8.8.8.8"]
    raise AssertionError(f"unexpected lookup of {host!r}")


async def test_a_draft_claiming_to_be_global_gets_no_private_network_access(
    live_server_factory: Any, upstream: _Upstream, socket_watch: SocketWatch
) -> None:
    """A user's unsaved config with "is_global": true must still go through the guarded
    connection pool: here the name rebinds to loopback between the check and the connect."""
    server: LiveServer = live_server_factory(
        allow_private_base_urls=False, url_resolver=_save_time_dns
    )
    server.services.client.transport = HttpTransport(
        resolver=StubResolver({"rebind.test": "127.0.0.1"})
    )
    token = server.create_user()
    draft = model_payload(base_url=f"http://rebind.test:{upstream.port}/v1", is_global=True)
    async with httpx.AsyncClient(
        base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as http:
        answer = await http.post("/api/models/test-connection", json=draft)
    assert answer.status_code in (200, 403, 422), answer.text
    if answer.status_code == 200:
        assert answer.json()["ok"] is False, answer.json()
    assert upstream.hits == 0
    assert socket_watch.refused == []


# --- user A against user B --------------------------------------------------------------


def test_another_users_model_is_unknown_on_every_gateway_and_chat_path(
    live_server: LiveServer, openai_sim: Any
) -> None:
    alice, bob = live_server.create_user(), live_server.create_user()
    with live_server.client(bob) as http:
        bobs = create_model(http, openai_sim)
    messages = [{"role": "user", "content": "hi"}]
    with live_server.client(alice) as http:
        for ref in (bobs["id"], bobs["name"]):
            chat = http.post("/v1/chat/completions", json={"model": ref, "messages": messages})
            assert chat.status_code == 404, chat.text
            anth = http.post(
                "/v1/messages", json={"model": ref, "max_tokens": 5, "messages": messages}
            )
            assert anth.status_code == 404, anth.text
            emb = http.post("/v1/embeddings", json={"model": ref, "input": "x"})
            assert emb.status_code == 404, emb.text
        listed = http.get("/v1/models").json()["data"]
        assert bobs["id"] not in str(listed)
        assert bobs["name"] not in str(listed)
        assert_error(
            http.post("/api/chat", json={"model_id": bobs["id"], "message": "hi"}),
            404,
            "not_found",
        )
        tested = http.post("/api/models/test-connection", json={"model_id": bobs["id"]})
        assert tested.status_code == 404, tested.text
        default = http.patch("/api/users/me", json={"default_model_id": bobs["id"]})
        assert default.status_code == 404, default.text
        # a fallback chain into Bob's model (and so Bob's key) is refused
        mine = http.post("/api/models", json=model_payload(fallback_model_ids=[bobs["id"]]))
        assert_error(mine, 422, "validation_error", field="fallback_model_ids")
        own = create_model(http, openai_sim)
        patched = http.patch(f"/api/models/{own['id']}", json={"fallback_model_ids": [bobs["id"]]})
        assert_error(patched, 422, "validation_error", field="fallback_model_ids")
        conv = http.post("/api/conversations", json={"llm_model_id": bobs["id"]})
        assert conv.status_code == 404, conv.text
        alices_conv = http.post("/api/conversations", json={"title": "alice's"}).json()
        switched = http.patch(
            f"/api/conversations/{alices_conv['id']}", json={"llm_model_id": bobs["name"]}
        )
        assert switched.status_code == 404, switched.text
        for path in ("/api/users", "/api/audit"):
            assert http.get(path).status_code == 403, path
        made = http.post(
            "/api/users", json={"username": unique("x"), "password": "p" * 12, "role": "admin"}
        )
        assert made.status_code == 403, made.text
    with live_server.client(bob) as http:
        bob_conv = http.post("/api/conversations", json={"title": "bob's"}).json()
    with live_server.client(alice) as http:
        stolen = http.post("/api/chat", json={"conversation_id": bob_conv["id"], "message": "x"})
        assert stolen.status_code == 404, stolen.text
        for method in ("GET", "PATCH", "DELETE"):
            kwargs: dict[str, Any] = {"json": {"title": "mine"}} if method == "PATCH" else {}
            answer = http.request(method, f"/api/conversations/{bob_conv['id']}", **kwargs)
            assert answer.status_code == 404, (method, answer.text)


# --- hostile bodies ---------------------------------------------------------------------

_HOSTILE_BODIES = {
    "deeply nested JSON": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "deeply nested array": b"[" * 100_000 + b"]" * 100_000,
    "invalid UTF-8": b'{"name": "\xff\xfe\xfa", "message": "\xc3\x28"}',
}
_POST_PATHS = [
    "/api/models",
    "/api/models/test-connection",
    "/api/models/from-template",
    "/api/chat",
    "/api/conversations",
    "/api/tokens",
    "/v1/chat/completions",
    "/v1/messages",
    "/v1/embeddings",
]


@pytest.mark.parametrize("kind", sorted(_HOSTILE_BODIES))
def test_hostile_bodies_get_a_4xx_everywhere(live_server: LiveServer, kind: str) -> None:
    with live_server.client(live_server.create_user()) as http:
        for path in _POST_PATHS:
            answer = http.post(
                path,
                content=_HOSTILE_BODIES[kind],
                headers={"Content-Type": "application/json"},
            )
            assert 400 <= answer.status_code < 500, (path, answer.status_code, answer.text[:300])


# --- pages ------------------------------------------------------------------------------


def test_pages_send_a_content_security_policy_and_nosniff(live_server: LiveServer) -> None:
    with live_server.client() as http:
        page = http.get("/login")
    csp = page.headers.get("content-security-policy", "")
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "object-src 'none'" in csp
    assert "'unsafe-inline'" not in csp.split("script-src", 1)[-1].split(";", 1)[0]
    assert page.headers.get("x-content-type-options") == "nosniff"
