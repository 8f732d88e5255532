"""`POST /api/chat` is answered by the raw ASGI fast path (api/fastpath.py) for an API token
and for the UI's session, and what a client sees is what the FastAPI route answers: the same
statuses, error bodies, headers and events, side by side with a server whose fast path is off.
Whatever the fast path leaves to the route (a body the schema refuses, no credentials, a body
that is not JSON) is answered by the route."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from modelreg.api.auth import CSRF_COOKIE, CSRF_HEADER
from modelreg.simulators import Script, SimulatorServer
from tests.api._helpers import create_model
from tests.fixtures.server import DEFAULT_PASSWORD, LiveServer
from tests.web.test_routes import login_form

_SAME_HEADERS = ("content-type", "x-content-type-options", "cache-control", "x-accel-buffering")


@pytest.fixture(scope="module")
def routed(live_server_factory: Callable[..., LiveServer]) -> LiveServer:
    return live_server_factory(gateway_fast_path=False)


@contextmanager
def _answered_by_fast_path(server: LiveServer, expected: int) -> Iterator[None]:
    before = server.asgi.answered
    yield
    assert server.asgi.answered - before == expected


@contextmanager
def _signed_in(server: LiveServer, username: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, follow_redirects=False, timeout=30) as http:
        form = login_form(http)
        login = http.post(
            "/login", data={"username": username, "password": DEFAULT_PASSWORD, "csrf_token": form}
        )
        assert login.status_code == 303, login.text
        yield http


def _setup(server: LiveServer, sim: SimulatorServer) -> tuple[str, str, str]:
    username = f"fp-{uuid.uuid4().hex[:12]}"
    token = server.create_user(username)
    with server.client(token) as http:
        model = create_model(http, sim)["name"]
    return username, token, model


def _events(text: str) -> list[str]:
    return [line[len("event: ") :] for line in text.splitlines() if line.startswith("event: ")]


def _view(answer: httpx.Response) -> dict[str, Any]:
    """What must be equal on both servers (ids, timings and costs differ by nature)."""
    view: dict[str, Any] = {
        "status": answer.status_code,
        "headers": {name: answer.headers.get(name) for name in _SAME_HEADERS},
    }
    if answer.headers.get("content-type", "").startswith("text/event-stream"):
        view["events"] = _events(answer.text)
        view["text"] = "".join(
            json.loads(line[len("data: ") :])["text"]
            for line in answer.text.splitlines()
            if line.startswith('data: {"text"')
        )
    else:
        data = answer.json()
        view["keys"] = sorted(data)
        view["body"] = data.get("error") or {k: data.get(k) for k in ("content", "status", "usage")}
    return view


@pytest.mark.parametrize("stream", [False, True])
def test_a_token_turn_is_answered_by_the_fast_path_as_the_route_answers_it(
    live_server: LiveServer, routed: LiveServer, openai_sim: SimulatorServer, stream: bool
) -> None:
    views = []
    for server, fast in ((live_server, 1), (routed, 0)):
        _, token, model = _setup(server, openai_sim)
        openai_sim.enqueue(Script(text="Hello from the model"))
        with server.client(token) as http, _answered_by_fast_path(server, fast):
            answer = http.post(
                "/api/chat", json={"model_id": model, "message": "Hi", "stream": stream}
            )
        assert answer.status_code == 200, answer.text
        views.append(_view(answer))
    assert views[0] == views[1]
    assert "Hello from the model" in str(views[0])


def test_a_session_turn_is_answered_by_the_fast_path_and_needs_its_csrf_header(
    live_server: LiveServer, routed: LiveServer, openai_sim: SimulatorServer
) -> None:
    views = []
    for server, fast in ((live_server, 2), (routed, 0)):
        username, _, model = _setup(server, openai_sim)
        openai_sim.enqueue(Script(text="Hello via the session"))
        with _signed_in(server, username) as http, _answered_by_fast_path(server, fast):
            turn = {"model_id": model, "message": "Hi"}
            refused = http.post("/api/chat", json=turn)  # no CSRF header: 403
            csrf = {CSRF_HEADER: http.cookies[CSRF_COOKIE]}
            answer = http.post("/api/chat", json=turn, headers=csrf)
        assert answer.status_code == 200, answer.text
        views.append((_view(refused), _view(answer)))
    assert views[0] == views[1]
    assert views[0][0]["status"] == 403


@pytest.mark.parametrize(
    ("case", "fast"),
    [
        ("bad_token", 1),
        ("no_credentials", 0),
        ("unknown_field", 0),
        ("not_json", 0),
        ("form_body", 0),
        ("unknown_model", 1),
        ("someone_elses_conversation", 1),
    ],
)
def test_refusals_are_the_routes(
    live_server: LiveServer,
    routed: LiveServer,
    openai_sim: SimulatorServer,
    case: str,
    fast: int,
) -> None:
    views = []
    for server, expected in ((live_server, fast), (routed, 0)):
        _, token, model = _setup(server, openai_sim)
        headers = {"Authorization": f"Bearer {token}"}
        kwargs: dict[str, Any] = {"json": {"model_id": model, "message": "Hi"}}
        if case == "bad_token":
            headers = {"Authorization": "Bearer mr-not-a-token"}
        elif case == "no_credentials":
            headers = {}
        elif case == "unknown_field":
            kwargs = {"json": {"model_id": model, "message": "Hi", "colour": "red"}}
        elif case == "not_json":
            kwargs = {"content": b'{"message": ', "headers": {"content-type": "application/json"}}
        elif case == "form_body":
            kwargs = {"data": {"message": "Hi"}}
        elif case == "unknown_model":
            kwargs = {"json": {"model_id": "no-such-model", "message": "Hi"}}
        elif case == "someone_elses_conversation":
            other = server.create_user()
            openai_sim.enqueue(Script(text="theirs"))
            with server.client(other) as http:
                owned = create_model(http, openai_sim)["name"]
                theirs = http.post("/api/chat", json={"model_id": owned, "message": "Mine"})
            kwargs = {"json": {"conversation_id": theirs.json()["conversation_id"],
                               "message": "Let me in"}}  # fmt: skip
        with (
            httpx.Client(base_url=server.url, headers=headers, timeout=30) as http,
            _answered_by_fast_path(server, expected),
        ):
            answer = http.post("/api/chat", **kwargs)
        assert answer.status_code >= 400, answer.text
        views.append(_view(answer))
    assert views[0] == views[1]
