"""The application factories: `create_app(settings)` (the FastAPI app) and
`create_asgi_app(settings)`, what uvicorn serves: the same app behind the gateway fast path
(api/fastpath.py), which sits outside FastAPI's own middleware stack so a gateway call does
not pay for it.

Nothing is built at import time. `create_app` wires routers, middleware and error handlers;
the lifespan builds the services once per process, in this order:

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
from modelreg.api.metrics import Metrics, MetricsMiddleware
from modelreg.api.routes import (
    audit,
    chat,
    conversations,
    gateway_anthropic,
    gateway_openai,
    health,
    models,
    tokens,
    usage,
    users,
)
from modelreg.api.services import Services
from modelreg.invalidation import ACCOUNTS, MODELS, CachePoller
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
    tokens,
    audit,
    usage,
    chat,
    conversations,
    gateway_openai,
    gateway_anthropic,
    web_pages,
)
_STATIC_DIR = Path(__file__).resolve().parent.parent / "web" / "static"

Resolve = Callable[[str], Iterable[str]]

_OPENAPI_TAGS = [
    {"name": "models", "description": "The model registry"},
    {"name": "users", "description": "Users and roles (admin)"},
    {"name": "tokens", "description": "API tokens of the caller"},
    {"name": "audit", "description": "Audit log of every change (admin)"},
    {"name": "usage", "description": "Usage and cost per model, day or user"},
    {"name": "operations", "description": "Health, readiness and metrics"},
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
    return GatewayFastPath(app, metrics=metrics, max_bytes=settings.max_request_bytes)


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
        services = await _start_services(settings, metrics, migrate=migrate, legacy=legacy)
        app.state.services = services
        poller = _cache_poller(services)
        await poller.start()
        app.state.cache_poller = poller
        _freeze_startup_objects()
        try:
            yield
        finally:
            await poller.stop()
            await _stop_services(services)

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


async def _start_services(
    settings: Settings,
    metrics: Metrics,
    *,
    migrate: bool | None,
    legacy: LegacySettings | None,
) -> Services:
    from modelreg.accounts import AccountService
    from modelreg.bootstrap import ensure_secrets
    from modelreg.chat.service import ChatService
    from modelreg.chat.usage import UsageRecorder
    from modelreg.client import UnifiedLLMClient
    from modelreg.crypto import KeyRing
    from modelreg.db.engine import Database
    from modelreg.db.migrate import upgrade_database
    from modelreg.ratelimit import RateLimiter
    from modelreg.registry.legacy import sync_env_models
    from modelreg.registry.service import ModelManagerService
    from modelreg.resilience import RetryPolicy
    from modelreg.transport import HttpTransport

    settings = ensure_secrets(settings)
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    if migrate if migrate is not None else settings.is_sqlite:
        await upgrade_database(settings.resolved_database_url)

    db = Database.from_settings(settings)
    registry = ModelManagerService(db, KeyRing.from_settings(settings), settings)
    accounts = AccountService(db, settings)
    password = await accounts.bootstrap_admin()
    if password is not None:
        # shown once, on the console only (not through logging, which may be shipped off-host)
        print(
            f"\n  modelreg: created user 'admin' with password: {password}\n"
            "  (shown once; change it, or set MODELREG_ADMIN_PASSWORD before the first start)\n",
            flush=True,
        )
    await sync_env_models(registry, legacy if legacy is not None else LegacySettings())

    transport = HttpTransport(
        connect_timeout=settings.upstream_connect_timeout,
        read_timeout=settings.upstream_read_timeout,
        total_timeout=settings.upstream_total_timeout,
    )
    allow_private_personal = settings.allow_private_base_urls
    client = UnifiedLLMClient(
        transport=transport,
        retry=RetryPolicy(max_retries=settings.max_retries),
        resolve_fallback=registry.find_config,
        # global models are an admin's choice (a local Ollama is legitimate)
        allow_private=lambda model: model.is_global or allow_private_personal,
    )
    limiter = RateLimiter(settings)
    usage = UsageRecorder(db)
    await usage.start()
    chat = ChatService(db, registry, client, usage, limiter, metrics)
    return Services(
        settings=settings,
        db=db,
        registry=registry,
        accounts=accounts,
        client=client,
        limiter=limiter,
        usage=usage,
        chat=chat,
        metrics=metrics,
    )


def _cache_poller(services: Services) -> CachePoller:
    return CachePoller(
        services.db,
        {MODELS: services.registry.invalidate, ACCOUNTS: services.accounts.invalidate},
        interval=services.settings.cache_poll_interval,
    )


async def _stop_services(services: Services) -> None:
    # usage first: it flushes queued rows into the database we close last
    await services.usage.stop()
    await services.client.aclose()
    await services.limiter.aclose()
    await services.db.dispose()


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("modelreg")
    except PackageNotFoundError:
        return "0.0.0"
