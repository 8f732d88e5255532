"""Prometheus metrics: HTTP requests and latency, upstream calls, errors, tokens and cost.

Each `Metrics` owns its own `CollectorRegistry` instead of the process-global one, so several
apps in one process (the test suite) do not collide. The HTTP middleware labels requests by
route *template* (`/api/models/{model_id}`), never the raw path, to keep cardinality bounded.

Recording API for the chat and gateway code:

- `observe_upstream(model, provider, seconds, ttft_seconds=None)` after each upstream call
- `record_usage(model, input_tokens, output_tokens, cost)` when usage is known
- `record_upstream_error(model, provider, error_type)` when an upstream call fails
"""

from __future__ import annotations

import logging
import time
from decimal import Decimal
from typing import Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CONTENT_TYPE", "NOSNIFF", "Metrics", "MetricsMiddleware"]

CONTENT_TYPE: Final = CONTENT_TYPE_LATEST

# HTTP latency of our own handlers; streaming answers count until the last byte is sent
_HTTP_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
# upstream (LLM) latency is seconds to minutes
_UPSTREAM_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.http_requests = Counter(
            "modelreg_http_requests",
            "HTTP requests handled",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.http_latency = Histogram(
            "modelreg_http_request_duration_seconds",
            "Time from request start to the last response byte",
            ["method", "route"],
            buckets=_HTTP_BUCKETS,
            registry=self.registry,
        )
        self.upstream_latency = Histogram(
            "modelreg_upstream_duration_seconds",
            "Duration of upstream provider calls",
            ["model", "provider"],
            buckets=_UPSTREAM_BUCKETS,
            registry=self.registry,
        )
        self.upstream_ttft = Histogram(
            "modelreg_upstream_ttft_seconds",
            "Time to first token of streamed upstream calls",
            ["model", "provider"],
            buckets=_UPSTREAM_BUCKETS,
            registry=self.registry,
        )
        self.upstream_errors = Counter(
            "modelreg_upstream_errors",
            "Failed upstream provider calls",
            ["model", "provider", "error"],
            registry=self.registry,
        )
        self.tokens = Counter(
            "modelreg_tokens",
            "Tokens processed, by model and direction (input/output)",
            ["model", "direction"],
            registry=self.registry,
        )
        self.cost = Counter(
            "modelreg_cost",
            "Cost in the models' price currency, by model",
            ["model"],
            registry=self.registry,
        )

        # `labels()` costs a lock and a few allocations per call; the labelled children are
        # kept here (as many as the registry keeps anyway: routes, statuses, models)
        self._http: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self._upstream: dict[tuple[str, str], Histogram] = {}
        self._ttft: dict[tuple[str, str], Histogram] = {}
        self._usage: dict[tuple[Counter, tuple[str, ...]], Counter] = {}

    # --- recording ------------------------------------------------------------------

    def observe_http(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._http.get(key)
        if children is None:
            children = (
                self.http_requests.labels(method, route, str(status)),
                self.http_latency.labels(method, route),
            )
            self._http[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def observe_upstream(
        self, model: str, provider: str, seconds: float, ttft_seconds: float | None = None
    ) -> None:
        key = (model, provider)
        latency = self._upstream.get(key)
        if latency is None:
            latency = self._upstream[key] = self.upstream_latency.labels(model, provider)
        latency.observe(seconds)
        if ttft_seconds is not None:
            ttft = self._ttft.get(key)
            if ttft is None:
                ttft = self._ttft[key] = self.upstream_ttft.labels(model, provider)
            ttft.observe(ttft_seconds)

    def record_upstream_error(self, model: str, provider: str, error_type: str) -> None:
        self.upstream_errors.labels(model, provider, error_type).inc()

    def record_usage(
        self, model: str, input_tokens: int, output_tokens: int, cost: Decimal | float
    ) -> None:
        if input_tokens:
            self._usage_child(self.tokens, model, "input").inc(input_tokens)
        if output_tokens:
            self._usage_child(self.tokens, model, "output").inc(output_tokens)
        if cost:
            self._usage_child(self.cost, model).inc(float(cost))

    def _usage_child(self, counter: Counter, *labels: str) -> Counter:
        key = (counter, labels)
        child = self._usage.get(key)
        if child is None:
            child = self._usage[key] = counter.labels(*labels)
        return child

    # --- exposition -----------------------------------------------------------------

    def render(self) -> bytes:
        return generate_latest(self.registry)


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
