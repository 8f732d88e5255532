"""The simulator's mutable state: script queue, request log and counters.

The server's event loop runs in its own thread while tests enqueue and inspect from theirs,
so every access goes through one lock.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from aiohttp import web

from modelreg.simulators.script import RecordedRequest, Script

__all__ = ["RECORD", "SimContext", "SimState", "SimStats"]

# The request as recorded by the server middleware, for handlers to match scripts against.
RECORD = web.RequestKey("sim_record", RecordedRequest)


@dataclass(frozen=True, slots=True)
class SimStats:
    """A snapshot of the counters. `client_disconnects` counts responses the client abandoned
    before the simulator finished them (a closed stream, a timed-out hang)."""

    requests: int = 0
    streams_started: int = 0
    streams_completed: int = 0
    client_disconnects: int = 0
    open_connections: int = 0


class SimState:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._queue: list[Script] = []
        self._requests: list[RecordedRequest] = []
        self._stats = SimStats()

    def enqueue(self, *scripts: Script) -> None:
        with self._lock:
            for script in scripts:
                self._queue.extend([script] * script.repeat)

    def take(self, request: RecordedRequest, *, generation: bool) -> Script | None:
        """Pop the first queued script for this request. Generation endpoints (chat,
        embeddings) take any script that matches; others (model lists, info) only take a script
        whose `match` explicitly names them, so a queued answer is not eaten by a health check."""
        with self._lock:
            for position, script in enumerate(self._queue):
                if not generation and script.match is None:
                    continue
                if script.matches(request):
                    return self._queue.pop(position)
            return None

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)
            self._stats = replace(self._stats, requests=self._stats.requests + 1)
            self._changed.notify_all()

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def count(self, counter: str) -> None:
        with self._lock:
            value: int = getattr(self._stats, counter)
            self._stats = replace(self._stats, **{counter: value + 1})
            self._changed.notify_all()

    def snapshot(self, open_connections: int) -> SimStats:
        with self._lock:
            return replace(self._stats, open_connections=open_connections)

    def wait_for(self, predicate: Callable[[SimStats], bool], timeout: float) -> bool:
        """Block until `predicate(stats)` holds (True) or `timeout` seconds pass (False)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self._stats):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
            return True

    def reset(self) -> None:
        with self._lock:
            self._queue.clear()
            self._requests.clear()
            self._stats = SimStats()


@dataclass(frozen=True, slots=True)
class SimContext:
    """What every route handler of one simulator needs."""

    flavor: str
    state: SimState
    api_key: str | None
    # When set, requests naming any other model get the provider's "model not found" answer.
    models: tuple[str, ...] | None
    # Azure only: when set, other deployment names get 404 DeploymentNotFound.
    deployments: tuple[str, ...] | None
    # Set while the server shuts down, so handler cancellation then is not a client disconnect.
    closing: threading.Event
    # The same moment seen from the event loop (set through call_soon_threadsafe).
    stopping: asyncio.Event

    def knows_model(self, model: str | None) -> bool:
        return self.models is None or model in self.models
