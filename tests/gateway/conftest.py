"""Every gateway test runs twice: against what `modelreg serve` runs (the raw ASGI fast path in
front of the app) and against the FastAPI routes alone (`gateway_fast_path=False`). After
each test we check which one answered, so the fast path can neither silently stop answering
(and the route hide it) nor answer where it should not."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.fixtures.server import LiveServer

_SERVERS: dict[str, LiveServer] = {}


@pytest.fixture(scope="session", params=["fast_path", "routed"])
def gateway_path(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def _gateway_server(
    gateway_path: str, live_server_factory: Callable[..., LiveServer]
) -> LiveServer:
    if gateway_path not in _SERVERS:
        _SERVERS[gateway_path] = live_server_factory(gateway_fast_path=gateway_path == "fast_path")
    return _SERVERS[gateway_path]


@pytest.fixture
def live_server(_gateway_server: LiveServer) -> Iterator[LiveServer]:
    server = _gateway_server
    fast_before = server.asgi.answered
    routed_before = server.app.state.routed_passthroughs
    yield server
    fast = server.asgi.answered - fast_before
    routed = server.app.state.routed_passthroughs - routed_before
    if server.asgi.enabled:
        # a pass-through call with a token never reaches the route while the fast path is on
        assert routed == 0, f"{routed} pass-through calls were answered by the route"
    else:
        assert fast == 0, f"the disabled fast path answered {fast} requests"
