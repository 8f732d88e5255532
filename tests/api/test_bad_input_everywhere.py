"""Bad input on every endpoint that takes a body: a clear 4xx in the shape of the API it was
sent to (ours, OpenAI's, Anthropic's), and no rows written (conversations, messages, usage
events, audit rows, models, users, tokens are counted before and after).

test_bad_input.py covers the model registry's own validation in depth; this module is the
breadth: every body-taking operation, every kind of bad input."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from modelreg.actor import SYSTEM
from modelreg.db.models import (
    ApiToken,
    AuditLog,
    Conversation,
    LLMModel,
    Message,
    UsageEvent,
    User,
)
from modelreg.simulators import SimulatorServer
from tests.fixtures.server import LiveServer
from tests.gateway.helpers import create_model, unique

SMALL_CAP = 4096
_TABLES = (User, ApiToken, LLMModel, Conversation, Message, UsageEvent, AuditLog)
_JSON = {"content-type": "application/json"}

# every operation with a JSON body; {conv} and {model} are filled in with real ids
OPERATIONS = [
    ("POST", "/api/models"),
    ("PATCH", "/api/models/{model}"),
    ("POST", "/api/models/from-template"),
    ("POST", "/api/models/test-connection"),
    ("POST", "/api/users"),
    ("PATCH", "/api/users/me"),
    ("POST", "/api/tokens"),
    ("POST", "/api/chat"),
    ("POST", "/api/conversations"),
    ("PATCH", "/api/conversations/{conv}"),
    ("POST", "/v1/chat/completions"),
    ("POST", "/v1/embeddings"),
    ("POST", "/v1/messages"),
]


def assert_shaped_error(answer: httpx.Response, path: str, status: int | None = None) -> str:
    """A 4xx in the path's API shape; returns the error message."""
    assert 400 <= answer.status_code < 500, (path, answer.status_code, answer.text[:300])
    if status is not None:
        assert answer.status_code == status, (path, answer.text[:300])
    assert answer.headers["content-type"].startswith("application/json"), path
    body = answer.json()
    if path == "/v1/messages":
        assert body["type"] == "error", body
        assert body["error"]["type"], body
        message: str = body["error"]["message"]
    elif path.startswith("/v1/"):
        assert set(body["error"]) >= {"message", "type", "param", "code"}, body
        message = body["error"]["message"]
    else:
        assert set(body["error"]) == {"type", "message", "field"}, body
        message = body["error"]["message"]
    assert message, body
    return message


@pytest.fixture(scope="module")
def counts(live_server: LiveServer) -> Callable[[], dict[str, int]]:
    def count() -> dict[str, int]:
        async def read() -> dict[str, int]:
            await live_server.services.usage.flush()  # usage is written in batches
            async with live_server.services.db.session(SYSTEM) as session:
                return {
                    t.__tablename__: (
                        await session.execute(select(func.count()).select_from(t))
                    ).scalar_one()
                    for t in _TABLES
                }

        return live_server.run(read())

    return count


@pytest.fixture
def unchanged(counts: Callable[[], dict[str, int]]) -> Iterator[None]:
    """The test writes nothing: every table has as many rows after as before.
    (The live server is shared: run with other tests in parallel threads this could see their
    rows, but pytest runs tests of one process one at a time.)"""
    before = counts()
    yield
    assert counts() == before


@pytest.fixture(scope="module")
def actor(live_server: LiveServer, _openai_sim_server: SimulatorServer) -> dict[str, Any]:
    """A user with a working model, a disabled one, one without a key, and a conversation."""
    token = live_server.create_user()
    sim = _openai_sim_server
    working = create_model(live_server, token, sim)
    disabled = create_model(live_server, token, sim, enabled=False)
    keyless = create_model(live_server, token, sim, api_key=None)
    with live_server.client(token) as http:
        conv = http.post("/api/conversations", json={"title": "kept"}).json()
    return {"token": token, "working": working, "disabled": disabled, "keyless": keyless,
            "conv": conv["id"]}  # fmt: skip


def _path(template: str, actor: dict[str, Any]) -> str:
    return template.format(conv=actor["conv"], model=actor["working"]["id"])


# --- malformed bodies, every operation ------------------------------------------------------

_MALFORMED = {
    "truncated JSON": b'{"model": "x", "messages": [',
    "invalid UTF-8": b'{"model": "\xff\xfe", "message": "\xc3\x28", "name": "\xff"}',
    "empty body": b"",
    "not JSON at all": b"hello",
    "a JSON array": b'[{"model": "x"}]',
    "a JSON string": b'"model"',
    "JSON null": b"null",
    "NaN": b'{"temperature": NaN}',
    "a lone surrogate": b'{"model": "\\ud800", "message": "\\ud800", "title": "\\udfff"}',
}


@pytest.mark.parametrize("kind", sorted(_MALFORMED))
@pytest.mark.parametrize(("method", "template"), OPERATIONS)
def test_malformed_bodies_are_4xx_in_the_apis_shape(
    live_server: LiveServer,
    actor: dict[str, Any],
    unchanged: None,
    method: str,
    template: str,
    kind: str,
) -> None:
    path = _path(template, actor)
    with live_server.client(actor["token"]) as http:
        answer = http.request(method, path, content=_MALFORMED[kind], headers=_JSON)
    assert_shaped_error(answer, template)


@pytest.mark.parametrize(("method", "template"), OPERATIONS)
def test_chunked_malformed_body_is_4xx_in_the_apis_shape(
    live_server: LiveServer, actor: dict[str, Any], unchanged: None, method: str, template: str
) -> None:
    # no Content-Length: /v1/chat/completions then takes the route, not the fast path
    def chunks() -> Iterator[bytes]:
        yield b'{"model": "'
        yield b'\xff"'

    with live_server.client(actor["token"]) as http:
        answer = http.request(method, _path(template, actor), content=chunks(), headers=_JSON)
    assert_shaped_error(answer, template, 400)


# --- wrong types and unknown fields ---------------------------------------------------------

# path -> (body, the field the error must name)
_WRONG_TYPES: dict[str, tuple[dict[str, Any], str]] = {
    "/api/chat": ({"message": 42}, "message"),
    "/api/conversations": ({"title": ["a"]}, "title"),
    "/api/conversations/{conv}": ({"title": {"a": 1}}, "title"),
    "/api/tokens": ({"name": "t", "expires_at": "soon"}, "expires_at"),
    "/v1/chat/completions": ({"model": "m", "messages": "Hello"}, "messages"),
    "/v1/embeddings": ({"model": "m", "input": 42}, "input"),
    "/v1/messages": ({"model": "m", "max_tokens": "many", "messages": []}, "max_tokens"),
}


@pytest.mark.parametrize("template", sorted(_WRONG_TYPES))
def test_wrong_types_are_4xx_naming_the_field(
    live_server: LiveServer, actor: dict[str, Any], unchanged: None, template: str
) -> None:
    method = "PATCH" if template.endswith("{conv}") else "POST"
    with live_server.client(actor["token"]) as http:
        body, field = _WRONG_TYPES[template]
        answer = http.request(method, _path(template, actor), json=body)
    message = assert_shaped_error(answer, template)
    assert field in message, message


@pytest.mark.parametrize(
    ("method", "template", "body"),
    [
        ("POST", "/api/chat", {"message": "hi", "modle_id": "typo"}),
        ("POST", "/api/conversations", {"title": "x", "model": "typo"}),
        ("PATCH", "/api/conversations/{conv}", {"name": "typo"}),
        ("PATCH", "/api/users/me", {"role": "admin"}),
        ("POST", "/api/tokens", {"name": "t", "user_id": "someone-else"}),
    ],
)
def test_unknown_fields_are_refused_where_strictness_matters(
    live_server: LiveServer,
    actor: dict[str, Any],
    unchanged: None,
    method: str,
    template: str,
    body: dict[str, Any],
) -> None:
    # a typo in our API must not silently do something else (a chat with the default model,
    # a conversation without one); the /v1 APIs accept unknown fields by design (forwarded)
    with live_server.client(actor["token"]) as http:
        answer = http.request(method, _path(template, actor), json=body)
    assert_shaped_error(answer, template, 422)


# --- unknown, disabled and keyless models ---------------------------------------------------


def _model_body(template: str, name: str) -> dict[str, Any]:
    hello = [{"role": "user", "content": "Hello"}]
    bodies: dict[str, dict[str, Any]] = {
        "/api/chat": {"model_id": name, "message": "Hello"},
        "/v1/chat/completions": {"model": name, "messages": hello},
        "/v1/embeddings": {"model": name, "input": "Hello"},
        "/v1/messages": {"model": name, "max_tokens": 16, "messages": hello},
    }
    return bodies[template]


@pytest.mark.parametrize(
    ("which", "status"), [("unknown", 404), ("disabled", 404), ("keyless", None)]
)
@pytest.mark.parametrize(
    "template", ["/api/chat", "/v1/chat/completions", "/v1/embeddings", "/v1/messages"]
)
@pytest.mark.parametrize("stream", [False, True])
def test_unusable_models_are_4xx_and_write_nothing(
    live_server: LiveServer,
    actor: dict[str, Any],
    unchanged: None,
    template: str,
    which: str,
    status: int | None,
    stream: bool,
) -> None:
    if stream and template == "/v1/embeddings":
        pytest.skip("embeddings do not stream")
    name = unique("no-such-model") if which == "unknown" else actor[which]["name"]
    body = _model_body(template, name)
    if stream:
        body["stream"] = True
    with live_server.client(actor["token"]) as http:
        answer = http.post(template, json=body)
    message = assert_shaped_error(answer, template, status)
    assert name in message, message
    assert "sk-" not in answer.text


def test_unusable_model_in_an_existing_conversation_adds_no_message(
    live_server: LiveServer, actor: dict[str, Any], unchanged: None
) -> None:
    with live_server.client(actor["token"]) as http:
        for which in ("disabled", "keyless"):
            answer = http.post(
                "/api/chat",
                json={
                    "conversation_id": actor["conv"],
                    "model_id": actor[which]["id"],
                    "message": "Hello",
                },
            )
            assert_shaped_error(answer, "/api/chat")
        assert http.get(f"/api/conversations/{actor['conv']}").json()["messages"] == []


# --- huge bodies ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_body_server(
    live_server_factory: Any, _openai_sim_server: SimulatorServer
) -> tuple[LiveServer, dict[str, Any]]:
    server: LiveServer = live_server_factory(max_request_bytes=SMALL_CAP)
    model = create_model(server, server.admin_token, _openai_sim_server)
    with server.client(server.admin_token) as http:
        conv = http.post("/api/conversations", json={}).json()["id"]
    return server, {"conv": conv, "working": model}


@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize(("method", "template"), OPERATIONS)
def test_oversized_bodies_are_413_in_the_apis_shape(
    small_body_server: tuple[LiveServer, dict[str, Any]],
    method: str,
    template: str,
    chunked: bool,
) -> None:
    server, things = small_body_server
    big = b'{"message": "' + b"x" * (SMALL_CAP * 2) + b'"}'
    # chunked: no Content-Length, so the cap counts the body as it arrives
    content: bytes | Iterator[bytes] = iter([big[:1000], big[1000:]]) if chunked else big
    with server.client(server.admin_token) as http:
        answer = http.request(method, _path(template, things), content=content, headers=_JSON)
    assert_shaped_error(answer, template, 413)


@pytest.mark.parametrize("expires_at", [8.9e-305, 0, 4102444800, "1970-01-01T00:00:00Z"])
def test_a_token_expiry_is_a_future_rfc3339_time(
    live_server: LiveServer, actor: dict[str, Any], unchanged: None, expires_at: Any
) -> None:
    # a number would be read as a Unix time (1970 for small ones): an already dead token
    with live_server.client(actor["token"]) as http:
        answer = http.post("/api/tokens", json={"name": "t", "expires_at": expires_at})
    assert_shaped_error(answer, "/api/tokens", 422)
    assert answer.json()["error"]["field"] == "expires_at"
