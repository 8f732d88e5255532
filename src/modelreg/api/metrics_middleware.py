"""The HTTP side of the metrics: a pure ASGI middleware that times every answer by route
*template* (`/api/models/{model_id}`, never the raw path, to keep cardinality bounded), writes
the sampled access log and adds `nosniff`."""

from __future__ import annotations

import logging
import time
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelreg.metrics import Metrics

__all__ = ["NOSNIFF", "MetricsMiddleware"]


def _route_template(scope: Scope) -> str:
    """The matched route's path template (Starlette's router puts the route in the scope)."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else "unmatched"


NOSNIFF: Final = (b"x-content-type-options", b"nosniff")
access_log = logging.getLogger("modelreg.access")


class MetricsMiddleware:
    """Pure ASGI middleware (no BaseHTTPMiddleware: it would buffer streamed answers).

    Also writes the sampled access log (1 request in `access_log_sample`, 0 = none: a log line
    per request costs more than the rest of a gateway request) and adds `nosniff` to every
    answer, so a browser never guesses a JSON or text body to be HTML."""

    def __init__(self, app: ASGIApp, metrics: Metrics, access_log_sample: int = 0) -> None:
        self.app = app
        self.metrics = metrics
        self._sample = max(0, access_log_sample)
        self._seen = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = message.get("headers", ())
                # pages set it themselves: one header, not "nosniff, nosniff"
                if not any(name == NOSNIFF[0] for name, _ in headers):
                    message["headers"] = [*headers, NOSNIFF]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_template(scope)
            self.metrics.observe_http(scope["method"], route, status, elapsed)
            if self._sample:
                self._seen += 1
                if self._seen >= self._sample:
                    self._seen = 0
                    access_log.info(
                        "%s %s %d %.1fms (1 in %d requests logged)",
                        scope["method"],
                        route,
                        status,
                        elapsed * 1000,
                        self._sample,
                    )
