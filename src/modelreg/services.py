"""The per-process service container and its one builder, shared by the app and the CLI.

`open_store(settings)` builds what every command needs (the database, the registry, the
accounts); `start_services(...)` adds what serving needs (the upstream client, the rate
limiter, the usage recorder, the chat service). The app's lifespan calls `start_services`, the
CLI `open_store`; both build the same objects the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modelreg.accounts import AccountService
    from modelreg.budgets import BudgetService
    from modelreg.chat.service import ChatService
    from modelreg.chat.usage import UsageRecorder
    from modelreg.client import UnifiedLLMClient
    from modelreg.db.engine import Database
    from modelreg.experiments.service import ExperimentService
    from modelreg.invalidation import CachePoller
    from modelreg.knowledge.service import KnowledgeService
    from modelreg.metrics import Metrics
    from modelreg.ratelimit import RateLimiter
    from modelreg.registry.service import ModelManagerService
    from modelreg.settings import LegacySettings, Settings

__all__ = ["Services", "Store", "cache_poller", "open_store", "start_services", "stop_services"]


@dataclass(slots=True)
class Store:
    """What every command works on: settings, database, registry, accounts."""

    settings: Settings
    db: Database
    registry: ModelManagerService
    accounts: AccountService


@dataclass(slots=True)
class Services:
    settings: Settings
    db: Database
    registry: ModelManagerService
    accounts: AccountService
    client: UnifiedLLMClient
    limiter: RateLimiter
    usage: UsageRecorder
    chat: ChatService
    metrics: Metrics
    experiments: ExperimentService  # A/B experiments and their in-memory routing table
    budgets: BudgetService
    knowledge: KnowledgeService


async def open_store(settings: Settings, *, migrate: bool) -> Store:
    """The database (migrated first when `migrate`), the registry and the accounts.
    `settings` must already hold its secrets (bootstrap.ensure_secrets)."""
    from modelreg.accounts import AccountService
    from modelreg.crypto import KeyRing
    from modelreg.db.engine import Database
    from modelreg.db.migrate import upgrade_database
    from modelreg.registry.service import ModelManagerService

    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    if migrate:
        await upgrade_database(settings.resolved_database_url)
    db = Database.from_settings(settings)
    registry = ModelManagerService(db, KeyRing.from_settings(settings), settings)
    return Store(settings, db, registry, AccountService(db, settings))


async def start_services(
    settings: Settings,
    metrics: Metrics,
    *,
    migrate: bool | None,
    legacy: LegacySettings | None,
) -> Services:
    """Everything a serving process needs, in order: secrets, migrations (on the embedded
    SQLite default always; on PostgreSQL only when asked, so replicas never race on DDL), the
    store, the first admin, the env models, then the client, limiter, ledger (which first
    replays the usage journals that killed processes left) and chat."""
    from modelreg.bootstrap import ensure_secrets
    from modelreg.budgets import BudgetBook, BudgetService
    from modelreg.chat.service import ChatService
    from modelreg.chat.usage import UsageRecorder
    from modelreg.chat.usage_journal import UsageJournal
    from modelreg.client import UnifiedLLMClient
    from modelreg.client.resilience import RetryPolicy
    from modelreg.client.transport import HttpTransport
    from modelreg.knowledge.plugin import load_enhancer
    from modelreg.knowledge.service import KnowledgeService
    from modelreg.ratelimit import RateLimiter
    from modelreg.registry.access import may_reach_private
    from modelreg.registry.legacy import sync_env_models
    from modelreg.settings import LegacySettings

    settings = ensure_secrets(settings)
    store = await open_store(
        settings, migrate=migrate if migrate is not None else settings.is_sqlite
    )
    password = await store.accounts.bootstrap_admin()
    if password is not None:
        # shown once, on the console only (not through logging, which may be shipped off-host)
        print(
            f"\n  modelreg: created user 'admin' with password: {password}\n"
            "  (shown once; change it, or set MODELREG_ADMIN_PASSWORD before the first start)\n",
            flush=True,
        )
    await sync_env_models(store.registry, legacy if legacy is not None else LegacySettings())

    transport = HttpTransport(
        connect_timeout=settings.upstream_connect_timeout,
        read_timeout=settings.upstream_read_timeout,
        total_timeout=settings.upstream_total_timeout,
        limit=settings.upstream_max_connections,
    )
    client = UnifiedLLMClient(
        transport=transport,
        retry=RetryPolicy(max_retries=settings.max_retries),
        resolve_fallback=store.registry.find_config,
        allow_private=lambda model: may_reach_private(model.is_global, settings),
    )
    limiter = RateLimiter(settings, on_failure=metrics.record_limiter_failure)
    await limiter.ping()  # Redis down at start: warned now (the server starts anyway)
    journal = None
    if settings.usage_journal:
        journal = UsageJournal(
            settings.resolved_usage_journal_dir, fsync=settings.usage_journal_fsync
        )
    usage = UsageRecorder(store.db, journal=journal)
    await usage.start()
    # usage that processes killed before their rows were committed, written before serving
    await usage.recover()
    knowledge = KnowledgeService(store.db, store.registry, client, usage, limiter, settings)
    enhancer = load_enhancer(settings.context_enhancer) if settings.context_enhancer else None
    chat = ChatService(store.db, store.registry, client, usage, limiter, metrics,
                       enhancer=enhancer or knowledge.enhancer)  # fmt: skip
    experiments = await _experiments(store)
    # budgets: spend booked here counts at once, the check runs in the limiter's admission
    book = BudgetBook(store.db, interval=settings.budget_refresh_interval)
    usage.listener = book
    limiter.admission.append(book.check)
    await book.start()
    await knowledge.start()  # its indexer's calls pass the budget check too
    return Services(
        settings=settings,
        db=store.db,
        registry=store.registry,
        accounts=store.accounts,
        client=client,
        limiter=limiter,
        usage=usage,
        chat=chat,
        metrics=metrics,
        experiments=experiments,
        budgets=BudgetService(store.db, book),
        knowledge=knowledge,
    )


async def _experiments(store: Store) -> ExperimentService:
    """The experiments' service, its routing table loaded before the first request."""
    from modelreg.experiments.service import ExperimentService

    experiments = ExperimentService(store.db, store.registry)
    await experiments.reload()
    return experiments


def cache_poller(services: Services) -> CachePoller:
    """Clears this process's caches when another process (worker, replica, CLI) changed
    models, tokens or users."""
    from modelreg.invalidation import ACCOUNTS, EXPERIMENTS, MODELS, CachePoller

    return CachePoller(
        services.db,
        {
            MODELS: services.registry.invalidate,
            ACCOUNTS: services.accounts.invalidate,
            EXPERIMENTS: services.experiments.invalidate,
        },
        interval=services.settings.cache_poll_interval,
    )


async def stop_services(services: Services) -> None:
    await services.budgets.book.stop()
    await services.knowledge.stop()
    # usage first: it flushes queued rows into the database we close last
    await services.usage.stop()
    await services.accounts.token_use.drain()
    await services.client.aclose()
    await services.limiter.aclose()
    await services.db.dispose()
