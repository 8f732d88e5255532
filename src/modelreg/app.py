"""The application factories: `create_app(settings)` (the FastAPI app) and
`create_asgi_app(settings)`, what uvicorn serves: the same app behind the gateway fast path
(api/fastpath.py), which sits outside FastAPI's own middleware stack so a gateway call does
not pay for it.

This is the top of the house: it imports api/ and web/, nothing below imports it. Nothing is
built at import time. `create_app` wires routers, middleware and error handlers; the lifespan
builds the services once per process with services.start_services, in this order:

1. `ensure_secrets` (encryption key and session secret, generated into the data dir on the
   embedded SQLite default)
2. migrations: on the embedded SQLite default always; on PostgreSQL only with
   `migrate=True` (operators run `modelreg db upgrade`, so replicas never race on DDL)
3. the database, the registry and the accounts; the first admin (its generated password is
   printed once); the old single-provider env models
4. the HTTP client, the rate limiter, the usage recorder and the chat service
5. the cache poller, which clears this process's caches when another process (worker,
   replica, CLI) changed models, tokens or users (modelreg.invalidation)
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from modelreg.api.bodylimit import BodySizeLimitMiddleware
from modelreg.api.errors import install_error_handlers
from modelreg.api.fastpath import GatewayFastPath
from modelreg.api.metrics_middleware import MetricsMiddleware
from modelreg.api.routes import (
    analytics,
    arena,
    audit,
    budgets,
    chat,
    collections,
    compare,
    conversation_extras,
    conversation_turns,
    conversations,
    experiments,
    feedback,
    gateway_anthropic,
    gateway_openai,
    health,
    models,
    personal_models,
    tokens,
    usage,
    users,
)
from modelreg.api.startup import startup_failure
from modelreg.metrics import Metrics
from modelreg.services import cache_poller, start_services, stop_services
from modelreg.settings import LegacySettings, Settings
from modelreg.web import routes as web_pages

__all__ = ["create_app", "create_asgi_app"]

log = logging.getLogger(__name__)

# health first: FastAPI prepares a router's routes when the first request is matched against
# them, so /healthz, the probe a start is judged by, pays only for its own three
_ROUTE_MODULES = (
    health,
    models,
    users,
    personal_models,
    tokens,
    audit,
    usage,
    budgets,
    analytics,
    chat,
    compare,
    arena,
    conversations,
    experiments,
    conversation_turns,
    conversation_extras,
    collections,
    feedback,
    gateway_openai,
    gateway_anthropic,
    web_pages,
)
_STATIC_DIR = Path(__file__).resolve().parent / "web" / "static"

Resolve = Callable[[str], Iterable[str]]

_OPENAPI_TAGS = [
    {"name": "models", "description": "The model registry"},
    {"name": "users", "description": "Users and roles (admin)"},
    {"name": "tokens", "description": "API tokens of the caller"},
    {"name": "audit", "description": "Audit log of every change (admin)"},
    {"name": "usage", "description": "Usage and cost per model, day or user"},
    {"name": "experiments", "description": "A/B experiments over models, and their results"},
    {"name": "budgets", "description": "Monthly cost budgets per user, model or company"},
    {"name": "analytics", "description": "Per-model latency, errors, cost and feedback"},
    {"name": "feedback", "description": "Thumbs up / down on chat answers and responses"},
    {"name": "operations", "description": "Health, readiness and metrics"},
    {"name": "knowledge", "description": "Document collections retrieved into chat"},
]


def create_app(
    settings: Settings | None = None,
    *,
    migrate: bool | None = None,
    legacy: LegacySettings | None = None,
    url_resolver: Resolve | None = None,
) -> FastAPI:
    """Build the app. `migrate`: None = only on the embedded SQLite default.
    `url_resolver` replaces DNS in the SSRF check of connection tests (tests only)."""
    return _build(settings, migrate=migrate, legacy=legacy, url_resolver=url_resolver)[0]


def create_asgi_app(
    settings: Settings | None = None,
    *,
    migrate: bool | None = None,
    legacy: LegacySettings | None = None,
    url_resolver: Resolve | None = None,
) -> GatewayFastPath:
    """What the server runs: `create_app`'s app (reachable as `.app`) behind the fast path
    for `POST /v1/chat/completions`."""
    settings = settings if settings is not None else Settings()
    app, metrics = _build(settings, migrate=migrate, legacy=legacy, url_resolver=url_resolver)
    return GatewayFastPath(
        app,
        metrics=metrics,
        max_bytes=settings.max_request_bytes,
        enabled=settings.gateway_fast_path,
    )


def _build(
    settings: Settings | None,
    *,
    migrate: bool | None,
    legacy: LegacySettings | None,
    url_resolver: Resolve | None,
) -> tuple[FastAPI, Metrics]:
    settings = settings if settings is not None else Settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            services = await start_services(settings, metrics, migrate=migrate, legacy=legacy)
        except Exception as exc:
            # the fast path reports this one line instead of the traceback (api/startup.py)
            app.state.startup_failure = startup_failure(exc, settings)
            raise
        app.state.services = services
        poller = cache_poller(services)
        await poller.start()
        app.state.cache_poller = poller
        _freeze_startup_objects()
        try:
            yield
        finally:
            await poller.stop()
            await stop_services(services)

    app = FastAPI(
        title="modelreg",
        version=_version(),
        summary="Self-hosted model registry and LLM gateway",
        lifespan=lifespan,
        openapi_tags=_OPENAPI_TAGS,
        docs_url="/docs" if settings.api_docs else None,
        redoc_url="/redoc" if settings.api_docs else None,
    )
    app.state.url_resolver = url_resolver
    app.state.routed_passthroughs = 0  # pass-through calls the route answered (tests)
    install_error_handlers(app)
    # the last added runs first: metrics see every answer, the 413s of the size cap included
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_request_bytes)
    app.add_middleware(
        MetricsMiddleware, metrics=metrics, access_log_sample=settings.access_log_sample
    )

    for module in _ROUTE_MODULES:
        app.include_router(module.router)
    if _STATIC_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=_STATIC_DIR), name="static")
    return app, metrics


_frozen = False


def _freeze_startup_objects() -> None:
    """Move everything built so far (modules, routes, services) out of the cyclic garbage
    collector's sight. They live as long as the process; without this every full collection
    walks them all again. And collect the youngest generation every 50,000 allocations
    instead of 700: a request allocates hundreds of objects, nearly all freed by reference
    counting, so the default made the collector run several times per request.
    Once per process: a process that builds many apps (the test suite) must not pin them all.
    `modelreg serve` switches the collector off for the imports (0.2 s of a start spent in
    300 collections that found next to nothing); it is switched on here."""
    global _frozen
    if not _frozen:
        _frozen = True
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 20, 10)
    gc.enable()


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("modelreg")
    except PackageNotFoundError:
        return "0.0.0"
