"""Prometheus metrics: HTTP requests and latency, upstream calls, errors, tokens and cost.

Each `Metrics` owns its own `CollectorRegistry` instead of the process-global one, so several
apps in one process (the test suite) do not collide. The HTTP middleware
(api/metrics_middleware.py) labels requests by route *template*, never the raw path.

Recording API for the chat and gateway code:

- `observe_upstream(model, provider, seconds, ttft_seconds=None)` after each upstream call
- `record_usage(model, input_tokens, output_tokens, cost)` when usage is known
- `record_upstream_error(model, provider, error_type)` when an upstream call fails
- `record_limiter_failure(mode)` for each rate-limiter operation Redis could not serve
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from decimal import Decimal
from math import inf
from typing import Final

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE: Final = CONTENT_TYPE_LATEST

# HTTP latency of our own handlers; streaming answers count until the last byte is sent
_HTTP_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
# upstream (LLM) latency is seconds to minutes
_UPSTREAM_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300)


class _Histogram:
    """Observations per bucket (not cumulative), their sum and count."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    def buckets(self) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip((*self.bounds, inf), self.counts, strict=True):
            running += count
            out.append(("+Inf" if bound == inf else repr(float(bound)), running))
        return out


class Metrics:
    """The counters and histograms, kept as plain numbers on the event loop and turned into
    Prometheus families when /metrics is scraped. prometheus_client's own metric objects take
    a lock per update: six updates per gateway request cost ~11 us, ~4 % of a request."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._http_requests: dict[tuple[str, str, str], int] = {}
        self._http_latency: dict[tuple[str, str], _Histogram] = {}
        self._upstream_latency: dict[tuple[str, str], _Histogram] = {}
        self._upstream_ttft: dict[tuple[str, str], _Histogram] = {}
        self._upstream_errors: dict[tuple[str, str, str], int] = {}
        self._tokens: dict[tuple[str, str], int] = {}
        self._cost: dict[str, float] = {}
        self._limiter_failures: dict[str, int] = {}
        self._http_keys: dict[tuple[str, str, int], tuple[tuple[str, str, str], _Histogram]] = {}
        self.registry.register(_Collector(self))

    # --- recording ------------------------------------------------------------------

    def observe_http(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        known = self._http_keys.get(key)
        if known is None:
            histogram = self._http_latency.get((method, route))
            if histogram is None:
                histogram = self._http_latency[(method, route)] = _Histogram(_HTTP_BUCKETS)
            known = self._http_keys[key] = ((method, route, str(status)), histogram)
        counter_key, histogram = known
        self._http_requests[counter_key] = self._http_requests.get(counter_key, 0) + 1
        histogram.observe(seconds)

    def observe_upstream(
        self, model: str, provider: str, seconds: float, ttft_seconds: float | None = None
    ) -> None:
        key = (model, provider)
        latency = self._upstream_latency.get(key)
        if latency is None:
            latency = self._upstream_latency[key] = _Histogram(_UPSTREAM_BUCKETS)
        latency.observe(seconds)
        if ttft_seconds is not None:
            ttft = self._upstream_ttft.get(key)
            if ttft is None:
                ttft = self._upstream_ttft[key] = _Histogram(_UPSTREAM_BUCKETS)
            ttft.observe(ttft_seconds)

    def record_upstream_error(self, model: str, provider: str, error_type: str) -> None:
        key = (model, provider, error_type)
        self._upstream_errors[key] = self._upstream_errors.get(key, 0) + 1

    def record_limiter_failure(self, mode: str) -> None:
        self._limiter_failures[mode] = self._limiter_failures.get(mode, 0) + 1

    def record_usage(
        self, model: str, input_tokens: int, output_tokens: int, cost: Decimal | float
    ) -> None:
        tokens = self._tokens
        if input_tokens:
            key = (model, "input")
            tokens[key] = tokens.get(key, 0) + input_tokens
        if output_tokens:
            key = (model, "output")
            tokens[key] = tokens.get(key, 0) + output_tokens
        if cost:
            self._cost[model] = self._cost.get(model, 0.0) + float(cost)

    # --- exposition -----------------------------------------------------------------

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _Collector:
    """Hands the numbers to prometheus_client's exposition, as the metric objects did."""

    def __init__(self, metrics: Metrics) -> None:
        self._m = metrics

    def describe(self) -> list[Metric]:
        return []  # names are known only when collected; nothing to check ahead

    def collect(self) -> Iterator[Metric]:
        m = self._m
        # list(...) copies each dict in one step: a scrape never sees one change halfway
        requests = CounterMetricFamily(
            "modelreg_http_requests", "HTTP requests handled", labels=["method", "route", "status"]
        )
        for labels, value in list(m._http_requests.items()):
            requests.add_metric(list(labels), value)
        yield requests
        yield _histograms(
            "modelreg_http_request_duration_seconds",
            "Time from request start to the last response byte",
            ["method", "route"],
            m._http_latency,
        )
        yield _histograms(
            "modelreg_upstream_duration_seconds",
            "Duration of upstream provider calls",
            ["model", "provider"],
            m._upstream_latency,
        )
        yield _histograms(
            "modelreg_upstream_ttft_seconds",
            "Time to first token of streamed upstream calls",
            ["model", "provider"],
            m._upstream_ttft,
        )
        errors = CounterMetricFamily(
            "modelreg_upstream_errors",
            "Failed upstream provider calls",
            labels=["model", "provider", "error"],
        )
        for labels, value in list(m._upstream_errors.items()):
            errors.add_metric(list(labels), value)
        yield errors
        tokens = CounterMetricFamily(
            "modelreg_tokens",
            "Tokens processed, by model and direction (input/output)",
            labels=["model", "direction"],
        )
        for pair, count in list(m._tokens.items()):
            tokens.add_metric(list(pair), count)
        yield tokens
        cost = CounterMetricFamily(
            "modelreg_cost", "Cost in the models' price currency, by model", labels=["model"]
        )
        for model, total in list(m._cost.items()):
            cost.add_metric([model], total)
        yield cost
        limiter = CounterMetricFamily(
            "modelreg_rate_limiter_failures",
            "Rate-limiter operations Redis could not serve, by mode (fail_open/fail_closed)",
            labels=["mode"],
        )
        for mode, count in list(m._limiter_failures.items()):
            limiter.add_metric([mode], count)
        yield limiter


def _histograms(
    name: str, doc: str, labels: list[str], series: dict[tuple[str, str], _Histogram]
) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, doc, labels=labels)
    for key, histogram in list(series.items()):
        family.add_metric(list(key), histogram.buckets(), histogram.sum)
    return family
