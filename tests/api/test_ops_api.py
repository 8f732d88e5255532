"""/healthz, /readyz and /metrics."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from prometheus_client.parser import text_string_to_metric_families

from modelreg.db.engine import Database
from modelreg.metrics import Metrics
from tests.api._helpers import create_model
from tests.fixtures.server import LiveServer


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_health_and_readiness(live_server: LiveServer) -> None:
    with live_server.client() as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        assert http.get("/readyz").json() == {"status": "ok", "database": "ok", "redis": "off"}


def test_readiness_fails_when_the_database_is_gone(
    live_server_factory: Callable[..., LiveServer],
) -> None:
    server = live_server_factory()
    server.run(server.services.db.dispose())
    # swap in an engine on a file in a directory that does not exist: every connect fails
    server.services.db.engine = Database("sqlite+aiosqlite:////nonexistent/dir/x.db").engine
    with server.client() as http:
        answer = http.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["error"]["type"] == "not_ready"
    server.stop()


def test_metrics_count_requests_by_route_template(live_server: LiveServer) -> None:
    token = live_server.create_user()
    with live_server.client(token) as http:
        model = create_model(http)
        for _ in range(3):
            assert http.get(f"/api/models/{model['id']}").status_code == 200
        http.get("/no/such/path")
    with live_server.client(live_server.admin_token) as http:
        text = http.get("/metrics")
    assert text.headers["content-type"].startswith("text/plain")
    samples = _samples(text.text)
    key = (
        "modelreg_http_requests_total",
        (("method", "GET"), ("route", "/api/models/{model_id}"), ("status", "200")),
    )
    assert samples[key] >= 3
    assert model["id"] not in text.text  # raw paths never become labels
    unmatched = [k for k in samples if ("route", "unmatched") in k[1]]
    assert unmatched
    assert any(name == "modelreg_http_request_duration_seconds_bucket" for name, _ in samples)


def test_metrics_expose_upstream_latency_errors_tokens_and_cost() -> None:
    metrics = Metrics()
    metrics.observe_upstream("gpt", "openai", 0.4, ttft_seconds=0.1)
    metrics.record_upstream_error("gpt", "openai", "RateLimitError")
    metrics.record_usage("gpt", 100, 20, Decimal("0.0014"))
    metrics.record_usage("gpt", 1, 0, Decimal(0))
    samples = _samples(metrics.render().decode())
    assert samples[("modelreg_tokens_total", (("direction", "input"), ("model", "gpt")))] == 101
    assert samples[("modelreg_tokens_total", (("direction", "output"), ("model", "gpt")))] == 20
    assert samples[("modelreg_cost_total", (("model", "gpt"),))] == 0.0014
    errors = (("error", "RateLimitError"), ("model", "gpt"), ("provider", "openai"))
    assert samples[("modelreg_upstream_errors_total", errors)] == 1
    count = ("modelreg_upstream_duration_seconds_count", (("model", "gpt"), ("provider", "openai")))
    assert samples[count] == 1
    ttft = ("modelreg_upstream_ttft_seconds_count", (("model", "gpt"), ("provider", "openai")))
    assert samples[ttft] == 1


def test_histogram_buckets_are_cumulative_and_inclusive() -> None:
    metrics = Metrics()
    for seconds in (0.001, 0.0011, 0.3, 99.0):  # a bound itself, just above, mid, past all
        metrics.observe_http("GET", "/x", 200, seconds)
    samples = _samples(metrics.render().decode())

    def bucket(le: str) -> float:
        name = "modelreg_http_request_duration_seconds_bucket"
        return samples[(name, (("le", le), ("method", "GET"), ("route", "/x")))]

    assert bucket("0.001") == 1
    assert bucket("0.0025") == 2
    assert bucket("0.5") == 3
    assert bucket("10.0") == 3
    assert bucket("+Inf") == 4
    labels = (("method", "GET"), ("route", "/x"))
    assert samples[("modelreg_http_request_duration_seconds_count", labels)] == 4
    assert samples[("modelreg_http_request_duration_seconds_sum", labels)] == pytest.approx(99.3021)
    requests = ("modelreg_http_requests_total", (*labels[:1], labels[1], ("status", "200")))
    assert samples[requests] == 4


def test_metrics_need_an_admin_or_the_scrapers_token(
    live_server_factory: Callable[..., LiveServer],
) -> None:
    server = live_server_factory(metrics_token="scrape-secret-0123456789")
    user = server.create_user()
    with server.client() as anonymous:
        assert anonymous.get("/metrics").status_code == 401
        scraped = anonymous.get(
            "/metrics", headers={"Authorization": "Bearer scrape-secret-0123456789"}
        )
        assert scraped.status_code == 200
        assert "modelreg_http_requests_total" in scraped.text
        wrong = anonymous.get("/metrics", headers={"Authorization": "Bearer scrape-secret-x"})
        assert wrong.status_code == 401
    with server.client(user) as http:
        assert http.get("/metrics").status_code == 403
    with server.client(server.admin_token) as http:
        assert http.get("/metrics").status_code == 200
    server.stop()


def test_every_answer_says_nosniff(live_server: LiveServer) -> None:
    with live_server.client(live_server.admin_token) as http:
        for path in ("/healthz", "/api/models", "/no/such/path"):
            assert http.get(path).headers["x-content-type-options"] == "nosniff"


def test_access_log_writes_one_line_per_sample(
    live_server_factory: Callable[..., LiveServer], caplog: pytest.LogCaptureFixture
) -> None:
    server = live_server_factory(access_log_sample=3)
    caplog.set_level("INFO", logger="modelreg.access")
    with server.client() as http:
        for _ in range(6):
            http.get("/healthz")
    lines = [r for r in caplog.records if r.name == "modelreg.access"]
    assert len(lines) == 2
    assert "GET /healthz 200" in lines[0].getMessage()
    server.stop()


def test_interactive_api_docs_are_off_unless_enabled(
    live_server: LiveServer, live_server_factory: Callable[..., LiveServer]
) -> None:
    """/docs and /redoc pull scripts from a CDN without integrity pinning: opt-in only."""
    with live_server.client() as http:
        assert http.get("/docs").status_code == 404
        assert http.get("/redoc").status_code == 404
        assert http.get("/openapi.json").status_code == 200
    enabled = live_server_factory(api_docs=True)
    with enabled.client() as http:
        assert http.get("/docs").status_code == 200
        assert http.get("/redoc").status_code == 200
    enabled.stop()
