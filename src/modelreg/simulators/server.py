"""The simulator HTTP server: one aiohttp app per flavor, run in a background thread (for
tests) or in the foreground (`modelreg simulate PROVIDER --port P`).

Every request to a provider route is recorded, then authenticated the way that provider does
it, then routed to the flavor's wire module. A small control API under `/__sim/` lets another
process script the simulator: `POST /__sim/enqueue` (a Script as JSON, or a list of them),
`POST /__sim/reset`, `GET /__sim/requests`, `GET /__sim/stats`.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, replace
from types import TracebackType
from typing import Any

from aiohttp import web

from modelreg.simulators import (
    anthropic_wire,
    azure_wire,
    ollama_wire,
    openai_routes,
    openai_wire,
    tgi_wire,
)
from modelreg.simulators._common import json_response
from modelreg.simulators.script import RecordedRequest, Script
from modelreg.simulators.state import RECORD, SimContext, SimState, SimStats

__all__ = ["FLAVORS", "SimulatorServer", "serve_forever"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class _Flavor:
    add_routes: Callable[[web.Application, SimContext], None]
    check_auth: Callable[[web.Request, SimContext], web.StreamResponse | None]
    not_found: Callable[[web.Request], web.StreamResponse]
    base_path: str  # what a ModelConfig.base_url holds after host:port


def _openai_not_found(request: web.Request) -> web.StreamResponse:
    message = f"Invalid URL ({request.method} {request.path})"
    return json_response(openai_wire.openai_error(404, message, None), 404)


def _flavors() -> dict[str, _Flavor]:
    return {
        "openai": _Flavor(
            openai_routes.add_routes, openai_routes.check_auth, _openai_not_found, "/v1"
        ),
        "anthropic": _Flavor(
            anthropic_wire.add_routes, anthropic_wire.check_auth, anthropic_wire.not_found, ""
        ),
        "ollama": _Flavor(
            ollama_wire.add_routes, ollama_wire.check_auth, ollama_wire.not_found, ""
        ),
        "azure": _Flavor(azure_wire.add_routes, azure_wire.check_auth, azure_wire.not_found, ""),
        "tgi": _Flavor(tgi_wire.add_routes, tgi_wire.check_auth, tgi_wire.not_found, "/v1"),
    }


FLAVORS: tuple[str, ...] = tuple(_flavors())

_CTX = web.AppKey("sim_context", SimContext)
_OPEN_CONNECTIONS: web.AppKey[Callable[[], int]] = web.AppKey("sim_open_connections")


def build_app(ctx: SimContext, open_connections: Callable[[], int]) -> web.Application:
    flavor = _flavors()[ctx.flavor]

    @web.middleware
    async def record_and_authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/__sim/"):
            return await handler(request)
        record = await _record(request)
        ctx.state.record(record)
        request[RECORD] = record
        denied = flavor.check_auth(request, ctx)
        if denied is not None:
            return denied
        try:
            return await handler(request)
        except web.HTTPNotFound:
            return flavor.not_found(request)

    app = web.Application(middlewares=[record_and_authenticate])
    app[_CTX] = ctx
    app[_OPEN_CONNECTIONS] = open_connections
    flavor.add_routes(app, ctx)
    app.router.add_post("/__sim/enqueue", _control_enqueue)
    app.router.add_post("/__sim/reset", _control_reset)
    app.router.add_get("/__sim/requests", _control_requests)
    app.router.add_get("/__sim/stats", _control_stats)
    return app


async def _record(request: web.Request) -> RecordedRequest:
    raw = await request.read()
    try:
        parsed: Any = json.loads(raw) if raw else None
    except ValueError:
        parsed = None
    model = parsed.get("model") if isinstance(parsed, dict) else None
    model = request.match_info.get("deployment", model)
    return RecordedRequest(
        method=request.method,
        path=request.path,
        query=dict(request.query),
        headers={name.lower(): value for name, value in request.headers.items()},
        json=parsed,
        body=raw,
        model=model if isinstance(model, str) else None,
    )


async def _control_enqueue(request: web.Request) -> web.Response:
    ctx = request.app[_CTX]
    try:
        data = await request.json()
        items = data if isinstance(data, list) else [data]
        scripts = [Script.from_json(item) for item in items]
    except (ValueError, TypeError) as exc:
        return json_response({"error": f"invalid script: {exc}"}, 400)
    ctx.state.enqueue(*scripts)
    return json_response({"queued": ctx.state.pending})


async def _control_reset(request: web.Request) -> web.Response:
    request.app[_CTX].state.reset()
    return json_response({"reset": True})


async def _control_requests(request: web.Request) -> web.Response:
    records = request.app[_CTX].state.requests
    return json_response({"requests": [r.to_public_json() for r in records]})


async def _control_stats(request: web.Request) -> web.Response:
    stats = request.app[_CTX].state.snapshot(request.app[_OPEN_CONNECTIONS]())
    return json_response(asdict(stats))


class SimulatorServer:
    """A provider simulator on a real socket, served from a background thread.

    >>> sim = SimulatorServer(flavor="openai", api_key="sk-test").start()
    >>> sim.enqueue(Script(text="Hello"))       # the next chat answer
    >>> sim.base_url                            # http://127.0.0.1:PORT/v1
    >>> sim.stop()
    """

    def __init__(
        self,
        flavor: str = "openai",
        api_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        models: Sequence[str] | None = None,
        deployments: Sequence[str] | None = None,
    ) -> None:
        if flavor not in FLAVORS:
            raise ValueError(f"unknown simulator flavor {flavor!r}; choose from {FLAVORS}")
        self.flavor = flavor
        self.api_key = api_key  # a test credential; kept out of repr
        self.host = host
        self.port = port  # the bound port once started
        self._requested_port = port
        self._state = SimState()
        self._ctx = SimContext(
            flavor=flavor,
            state=self._state,
            api_key=api_key,
            models=tuple(models) if models is not None else None,
            deployments=tuple(deployments) if deployments is not None else None,
            closing=threading.Event(),
            stopping=asyncio.Event(),
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:  # never shows the API key
        return f"SimulatorServer({self.flavor!r}, {self.url})"

    # ---- lifecycle

    def start(self) -> SimulatorServer:
        if self._thread is not None:
            raise RuntimeError("simulator already started")
        # Fresh shutdown signals, so a stopped simulator can be started again.
        self._ctx = replace(self._ctx, closing=threading.Event(), stopping=asyncio.Event())
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._run, args=(ready, failure), name=f"sim-{self.flavor}", daemon=True
        )
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]
        return self

    def _run(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._open())
        except BaseException as exc:
            failure.append(exc)
            loop.close()
            ready.set()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            if self._runner is not None:
                loop.run_until_complete(self._runner.cleanup())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _open(self) -> None:
        # handler_cancellation: a handler is cancelled when its client goes away, which is how
        # a hung request or a slow stream notices (and counts) the disconnect.
        self._runner = web.AppRunner(
            build_app(self._ctx, self._open_connections),
            handler_cancellation=True,
            access_log=None,
            shutdown_timeout=1.0,
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._requested_port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    def stop(self) -> None:
        if self._thread is None or self._loop is None:
            return
        self._ctx.closing.set()
        self._loop.call_soon_threadsafe(self._ctx.stopping.set)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._thread = None

    def __enter__(self) -> SimulatorServer:
        return self.start() if self._thread is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ---- addresses

    @property
    def url(self) -> str:
        """The server root, http://host:port."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What a ModelConfig.base_url should hold for this flavor."""
        return self.url + _flavors()[self.flavor].base_path

    # ---- scripting and inspection

    def enqueue(self, *scripts: Script) -> None:
        """Queue answers (FIFO); with none queued the simulator echoes the last user turn."""
        self._state.enqueue(*scripts)

    @property
    def pending(self) -> int:
        return self._state.pending

    @property
    def requests(self) -> list[RecordedRequest]:
        return self._state.requests

    @property
    def stats(self) -> SimStats:
        return self._state.snapshot(open_connections=self._open_connections())

    def wait_for_stats(self, predicate: Callable[[SimStats], bool], timeout: float = 5.0) -> bool:
        """Wait until the counters satisfy `predicate` (the server notices a client leaving a
        moment after the client does). Returns False on timeout."""
        return self._state.wait_for(predicate, timeout)

    async def wait_for_stats_async(
        self, predicate: Callable[[SimStats], bool], within: float = 5.0
    ) -> bool:
        """`wait_for_stats` for async tests: waits in a worker thread, so the test's own event
        loop keeps running (a client's socket close may need it to)."""
        return await asyncio.to_thread(self._state.wait_for, predicate, within)

    def reset(self) -> None:
        """Forget queued scripts, recorded requests and counters."""
        self._state.reset()

    def _open_connections(self) -> int:
        runner = self._runner
        if runner is None or runner.server is None:
            return 0
        for _ in range(3):  # the loop thread may add or drop one while we count
            try:
                return len(runner.server.connections)
            except RuntimeError:
                continue
        return 0


def serve_forever(
    flavor: str,
    host: str,
    port: int,
    api_key: str | None,
    *,
    on_ready: Callable[[SimulatorServer], None] | None = None,
) -> None:
    """Run one simulator in the foreground until interrupted (Ctrl-C)."""
    server = SimulatorServer(flavor=flavor, api_key=api_key, host=host, port=port).start()
    try:
        if on_ready is not None:
            on_ready(server)
        else:
            print(
                f"modelreg {flavor} simulator listening; base URL {server.base_url} "
                f"(control API: {server.url}/__sim/)",
                flush=True,
            )
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
