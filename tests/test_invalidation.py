"""Cache invalidation across processes (modelreg.invalidation).

A "process" here is what a worker, a replica or a CLI run has of its own: a Database (engine
and pool) on the shared database, a registry and accounts service with their caches, and a
cache poller. Two of them on the same SQLite file or PostgreSQL database stand for two
workers. Then the same against a running server: a CLI run and a second process change the
database, the server's caches follow without waiting for their TTL (300 s / 60 s).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from typer.testing import CliRunner

from modelreg.accounts import AccountService
from modelreg.actor import SYSTEM, Actor
from modelreg.cli import app as cli_app
from modelreg.crypto import KeyRing
from modelreg.db.engine import Database
from modelreg.errors import UnknownModelError
from modelreg.invalidation import ACCOUNTS, MODELS, CachePoller, read_generations
from modelreg.registry.schemas import ModelCreate, ModelUpdate
from modelreg.registry.service import ModelManagerService
from modelreg.settings import Settings
from tests.fixtures.db import FAST_HASHER, run_sync
from tests.fixtures.server import LiveServer

# generous: the pollers tick every 50 ms here (1 s on the live server), a loaded CI machine
# may still be slow
DEADLINE = 20.0


@dataclass
class Process:
    db: Database
    registry: ModelManagerService
    accounts: AccountService
    poller: CachePoller


def make_process(settings: Settings, interval: float = 0.05) -> Process:
    db = Database.from_settings(settings)
    registry = ModelManagerService(db, KeyRing.from_settings(settings), settings)
    accounts = AccountService(db, settings, password_hasher=FAST_HASHER)
    poller = CachePoller(
        db, {MODELS: registry.invalidate, ACCOUNTS: accounts.invalidate}, interval=interval
    )
    return Process(db, registry, accounts, poller)


@pytest.fixture
async def two_processes(settings: Settings) -> AsyncIterator[tuple[Process, Process]]:
    first, second = make_process(settings), make_process(settings)
    try:
        yield first, second
    finally:
        for process in (first, second):
            await process.poller.stop()
            await process.db.dispose()


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {DEADLINE:g} s: {what}")
        await asyncio.sleep(0.02)


def model(name: str | None = None, **overrides: Any) -> ModelCreate:
    values: dict[str, Any] = {
        "name": name or f"m-{uuid.uuid4().hex[:8]}",
        "provider": "openai",
        "base_url": "http://127.0.0.1:9/v1",
        "model_id": "gpt-4o-mini",
        "api_key": "sk-test-cache-invalidation",
        "is_global": True,
    }
    values.update(overrides)
    return ModelCreate(**values)


async def refuses(registry: ModelManagerService, actor: Actor, name: str) -> bool:
    try:
        await registry.resolve(actor, name)
    except UnknownModelError:
        return True
    return False


# --- two processes on one database ----------------------------------------------------------


async def test_a_model_disabled_in_one_process_is_refused_by_the_other_after_one_poll(
    two_processes: tuple[Process, Process],
) -> None:
    writer, reader = two_processes
    created = await writer.registry.create_model(SYSTEM, model())
    await reader.poller.poll()  # the first reading: its baseline
    assert (await reader.registry.resolve(SYSTEM, created.name)).id == str(created.id)

    await writer.registry.update_model(SYSTEM, created.id, ModelUpdate(enabled=False))
    # still served from the reader's cache: what the poll has to fix
    assert (await reader.registry.resolve(SYSTEM, created.name)).id == str(created.id)

    assert await reader.poller.poll() == [MODELS]
    assert await refuses(reader.registry, SYSTEM, created.name)


async def test_a_deleted_model_disappears_from_the_other_process(
    two_processes: tuple[Process, Process], user_a: Actor
) -> None:
    writer, reader = two_processes
    own = await writer.registry.create_model(user_a, model(is_global=False))
    await reader.poller.start()
    assert (await reader.registry.resolve(user_a, own.name)).id == str(own.id)
    assert own.id in {m.id for m in await reader.registry.list_models(user_a)}

    await writer.registry.delete_model(user_a, own.id)

    async def gone() -> bool:
        listed = {m.id for m in await reader.registry.list_models(user_a)}
        return own.id not in listed and await refuses(reader.registry, user_a, own.name)

    await eventually(gone, "the deleted model is gone from the other process")


async def test_a_new_model_and_a_new_system_default_reach_the_other_process(
    two_processes: tuple[Process, Process], admin_actor: Actor
) -> None:
    writer, reader = two_processes
    first = await writer.registry.create_model(admin_actor, model("aaa-first"))
    await reader.poller.start()
    assert [m.name for m in await reader.registry.list_models(SYSTEM)] == ["aaa-first"]
    default = await reader.registry.get_default_model(admin_actor)
    assert default is not None
    assert default.id == str(first.id)

    second = await writer.registry.create_model(admin_actor, model("zzz-second"))
    await writer.registry.set_system_default(admin_actor, second.id)

    async def caught_up() -> bool:
        names = [m.name for m in await reader.registry.list_models(SYSTEM)]
        current = await reader.registry.get_default_model(admin_actor)
        return (
            names == ["aaa-first", "zzz-second"]
            and current is not None
            and (current.id == str(second.id))
        )

    await eventually(caught_up, "the other process lists the new model and its new default")


async def test_a_token_revoked_in_one_process_is_refused_by_the_other(
    two_processes: tuple[Process, Process], user_a: Actor
) -> None:
    writer, reader = two_processes
    token, public = await writer.accounts.create_token(user_a, user_a.username, "ci")
    await reader.poller.start()
    assert await reader.accounts.resolve_token(token) == user_a

    await writer.accounts.revoke_token(user_a, public.id)

    async def refused() -> bool:
        return await reader.accounts.resolve_token(token) is None

    await eventually(refused, "the revoked token is refused by the other process")


async def test_a_disabled_or_demoted_user_takes_effect_in_the_other_process(
    two_processes: tuple[Process, Process], admin_actor: Actor
) -> None:
    writer, reader = two_processes
    await writer.accounts.create_user(admin_actor, "ops", "ops-password", role="admin")
    ops_token, _ = await writer.accounts.create_token(admin_actor, "ops")
    await writer.accounts.create_user(admin_actor, "carol", "carol-password")
    carol_token, _ = await writer.accounts.create_token(admin_actor, "carol")
    await reader.poller.start()
    ops = await reader.accounts.resolve_token(ops_token)
    assert ops is not None
    assert ops.is_admin
    assert await reader.accounts.resolve_token(carol_token) is not None

    await writer.accounts.update_user(admin_actor, "ops", role="user")
    await writer.accounts.update_user(admin_actor, "carol", is_active=False)

    async def applied() -> bool:
        demoted = await reader.accounts.resolve_token(ops_token)
        return (
            demoted is not None
            and not demoted.is_admin
            and await reader.accounts.resolve_token(carol_token) is None
        )

    await eventually(applied, "the demotion and the disabling reach the other process")


async def test_a_deleted_user_loses_tokens_and_models_in_the_other_process(
    two_processes: tuple[Process, Process], admin_actor: Actor, user_b: Actor
) -> None:
    writer, reader = two_processes
    token, _ = await writer.accounts.create_token(user_b, user_b.username)
    own = await writer.registry.create_model(user_b, model(is_global=False))
    await reader.poller.start()
    assert await reader.accounts.resolve_token(token) == user_b
    assert own.id in {m.id for m in await reader.registry.list_models(SYSTEM)}

    await writer.accounts.delete_user(admin_actor, user_b.username)

    async def gone() -> bool:
        listed = {m.id for m in await reader.registry.list_models(SYSTEM)}
        return await reader.accounts.resolve_token(token) is None and own.id not in listed

    await eventually(gone, "the deleted user's token and model are gone in the other process")


async def test_reads_do_not_change_the_generation(
    two_processes: tuple[Process, Process], user_a: Actor
) -> None:
    writer, reader = two_processes
    created = await writer.registry.create_model(SYSTEM, model())
    token, _ = await writer.accounts.create_token(user_a, user_a.username)
    await reader.poller.poll()
    before = await read_generations(reader.db, (MODELS, ACCOUNTS))

    # reads, logins, token use: nothing another process has to drop its caches for
    await writer.registry.list_models(user_a)
    await writer.registry.resolve(user_a, created.name)
    await writer.accounts.resolve_token(token)
    await writer.accounts.authenticate_password(user_a.username, "alice-password")

    assert await read_generations(reader.db, (MODELS, ACCOUNTS)) == before
    assert await reader.poller.poll() == []
    await writer.registry.update_model(SYSTEM, created.id, ModelUpdate(description="x"))
    assert await reader.poller.poll() == [MODELS]


async def test_the_first_reading_clears_what_was_cached_before_the_poller_started(
    two_processes: tuple[Process, Process],
) -> None:
    writer, reader = two_processes
    created = await writer.registry.create_model(SYSTEM, model())
    await reader.registry.resolve(SYSTEM, created.name)
    await writer.registry.delete_model(SYSTEM, created.id)

    await reader.poller.start()  # its baseline already includes the delete

    assert await refuses(reader.registry, SYSTEM, created.name)


async def test_interval_zero_turns_polling_off(settings: Settings) -> None:
    process = make_process(settings, interval=0)
    try:
        await process.poller.start()
        assert not process.poller.running
    finally:
        await process.db.dispose()


# --- a running server, and a CLI run or another process beside it --------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server(request: pytest.FixtureRequest) -> LiveServer:
    name = "live_server" if request.param == "sqlite" else "live_server_pg"
    live: LiveServer = request.getfixturevalue(name)
    return live


@pytest.fixture
def cli_env(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment of a CLI run on the server's host: its data dir and database."""
    for name in ("LLM_PROVIDER", "OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    settings = server.services.settings
    assert settings.encryption_key is not None
    return {
        "MODELREG_DATA_DIR": str(settings.data_dir),
        "MODELREG_DATABASE_URL": settings.resolved_database_url,
        "MODELREG_ENCRYPTION_KEY": settings.encryption_key.get_secret_value(),
        "MODELREG_CACHE_POLL_INTERVAL": str(settings.cache_poll_interval),
    }


def wait_for(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {DEADLINE:g} s: {what}")
        time.sleep(0.05)


def test_a_cli_models_remove_reaches_the_running_server(
    server: LiveServer, cli_env: dict[str, str]
) -> None:
    assert server.services.settings.model_cache_ttl >= 60  # so the TTL cannot be the reason
    name = f"cli-{uuid.uuid4().hex[:8]}"
    with server.client(server.admin_token) as http:
        created = http.post(
            "/api/models",
            json={
                "name": name,
                "provider": "openai",
                "base_url": "http://127.0.0.1:9/v1",
                "model_id": "gpt-4o-mini",
                "is_global": True,
            },
        )
        assert created.status_code == 201, created.text

        def listed() -> bool:
            answer = http.get("/v1/models")
            assert answer.status_code == 200
            return name in {m["id"] for m in answer.json()["data"]}

        assert listed()  # the server now has it cached, for the list and for resolving
        config = server.run(server.services.registry.resolve(SYSTEM, name))
        assert config.name == name

        result = CliRunner().invoke(cli_app, ["models", "remove", name], env=cli_env)
        assert result.exit_code == 0, result.stderr
        assert "within ~1 s" in result.stderr

        wait_for(lambda: not listed(), "the server's /v1/models drops the removed model")
        # the listing may have been re-read before the poller dropped the resolved config
        # (an earlier generation bump): both must follow within the poll interval
        wait_for(
            lambda: server.run(refuses(server.services.registry, SYSTEM, name)),
            "the server refuses to resolve the removed model",
        )


def test_a_token_revoked_by_another_process_is_refused_by_the_running_server(
    server: LiveServer,
) -> None:
    assert server.services.settings.token_cache_ttl >= 30  # so the TTL cannot be the reason
    token = server.create_user()
    with server.client(token) as http:
        assert http.get("/api/models").status_code == 200  # cached by the server now

        async def revoke_elsewhere() -> None:
            process = make_process(server.services.settings)
            try:
                actor = await process.accounts.resolve_token(token)
                assert actor is not None
                (mine,) = await process.accounts.list_tokens(actor)
                await process.accounts.revoke_token(actor, mine.id)
            finally:
                await process.db.dispose()

        run_sync(revoke_elsewhere)  # its own event loop and engine: another process
        wait_for(
            lambda: http.get("/api/models").status_code == 401,
            "the server refuses the token revoked elsewhere",
        )
