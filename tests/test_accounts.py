"""Users, passwords and API tokens."""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from modelreg.accounts import AccountService
from modelreg.actor import SYSTEM, Actor
from modelreg.db.engine import Database
from modelreg.db.models import ApiToken, AuditLog, User
from modelreg.errors import AccessDeniedError, UnknownModelError, ValidationFailedError
from modelreg.settings import Settings
from tests.fixtures.db import FAST_HASHER


async def test_password_login(accounts: AccountService, user_a: Actor) -> None:
    assert await accounts.authenticate_password("alice", "alice-password") == user_a
    assert await accounts.authenticate_password("alice", "wrong-password") is None
    assert await accounts.authenticate_password("nobody", "alice-password") is None


async def test_password_is_stored_as_argon2_hash(db: Database, accounts: AccountService) -> None:
    await accounts.create_user(SYSTEM, "carol", "carol-password")
    async with db.session(SYSTEM) as session:
        stored = await session.scalar(select(User.password_hash).where(User.username == "carol"))
    assert stored is not None
    assert stored.startswith("$argon2id$")
    assert "carol-password" not in stored


async def test_disabled_user_cannot_log_in_and_tokens_stop_working(
    accounts: AccountService, admin_actor: Actor, user_a: Actor
) -> None:
    token, _ = await accounts.create_token(user_a, user_a.id)
    assert await accounts.resolve_token(token) == user_a  # now cached
    await accounts.update_user(admin_actor, "alice", is_active=False)
    assert await accounts.authenticate_password("alice", "alice-password") is None
    assert await accounts.resolve_token(token) is None
    assert await accounts.get_actor(user_a.id) is None  # type: ignore[arg-type]


async def test_role_change_takes_effect_for_cached_tokens(
    accounts: AccountService, admin_actor: Actor, user_a: Actor
) -> None:
    token, _ = await accounts.create_token(admin_actor, "alice")
    assert (await accounts.resolve_token(token)).role == "user"  # type: ignore[union-attr]
    await accounts.update_user(admin_actor, "alice", role="admin")
    assert (await accounts.resolve_token(token)).role == "admin"  # type: ignore[union-attr]


async def test_user_creation_rules(
    accounts: AccountService, admin_actor: Actor, user_a: Actor
) -> None:
    with pytest.raises(AccessDeniedError):
        await accounts.create_user(user_a, "mallory", "mallory-password")
    cases = [
        (("alice", "long-enough-pw"), "username"),  # taken
        (("ALICE", "long-enough-pw"), "username"),  # taken, other case
        (("bad name", "long-enough-pw"), "username"),
        (("x" * 65, "long-enough-pw"), "username"),
        (("dave", "short"), "password"),
    ]
    for (name, password), field in cases:
        with pytest.raises(ValidationFailedError) as info:
            await accounts.create_user(admin_actor, name, password)
        assert info.value.field == field
    with pytest.raises(ValidationFailedError) as info:
        await accounts.create_user(admin_actor, "erin", "long-enough-pw", role="root")
    assert info.value.field == "role"
    assert [u.username for u in await accounts.list_users(admin_actor)] == ["admin", "alice"]
    with pytest.raises(AccessDeniedError):
        await accounts.list_users(user_a)


async def test_token_lifecycle(db: Database, accounts: AccountService, user_a: Actor) -> None:
    token, public = await accounts.create_token(user_a, user_a.id, name="laptop")
    assert token.startswith("mr-")
    assert len(token) >= 40
    assert public.prefix == token[:10]
    assert await accounts.resolve_token(token) == user_a
    async with db.session(SYSTEM) as session:
        stored = (await session.scalars(select(ApiToken))).one()
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in repr(stored.__dict__)

    assert [t.name for t in await accounts.list_tokens(user_a)] == ["laptop"]
    await accounts.revoke_token(user_a, public.id)
    assert await accounts.resolve_token(token) is None  # the cache entry went with it
    assert (await accounts.list_tokens(user_a))[0].revoked_at is not None


async def test_tokens_of_others(accounts: AccountService, user_a: Actor, user_b: Actor) -> None:
    with pytest.raises(ValidationFailedError):
        await accounts.create_token(user_a, "bob")
    _, bobs = await accounts.create_token(user_b, "bob")
    with pytest.raises(ValidationFailedError):
        await accounts.revoke_token(user_a, bobs.id)
    with pytest.raises(ValidationFailedError):
        await accounts.list_tokens(user_a, "bob")


async def test_expired_and_malformed_tokens(accounts: AccountService, user_a: Actor) -> None:
    token, _ = await accounts.create_token(
        user_a, user_a.id, expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    assert await accounts.resolve_token(token) is None
    assert await accounts.resolve_token("mr-" + "x" * 43) is None
    assert await accounts.resolve_token("Bearer nonsense") is None


async def test_set_default_model_must_be_visible(
    accounts: AccountService, registry: object, user_a: Actor, user_b: Actor
) -> None:
    from modelreg.registry.service import ModelManagerService
    from tests.registry.conftest import model_input

    assert isinstance(registry, ModelManagerService)
    bobs = await registry.create_model(user_b, model_input("bobs"))
    with pytest.raises(UnknownModelError):
        await accounts.set_default_model(user_a, bobs.id)
    mine = await registry.create_model(user_a, model_input("mine"))
    await accounts.set_default_model(user_a, mine.id)
    assert (await accounts.get_user(user_a, user_a.id)).default_model_id == mine.id  # type: ignore[arg-type]


async def test_bootstrap_admin_with_generated_password(
    db: Database, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    accounts = AccountService(db, settings, password_hasher=FAST_HASHER)
    password = await accounts.bootstrap_admin()
    assert password is not None
    assert len(password) >= 12
    actor = await accounts.authenticate_password("admin", password)
    assert actor is not None
    assert actor.role == "admin"
    assert await accounts.bootstrap_admin() is None  # only on the very first start
    assert password not in caplog.text


async def test_bootstrap_admin_with_configured_password(db: Database, settings: Settings) -> None:
    configured = settings.model_copy(update={"admin_password": SecretStr("configured-pw-123")})
    accounts = AccountService(db, configured, password_hasher=FAST_HASHER)
    assert await accounts.bootstrap_admin() is None
    assert await accounts.authenticate_password("admin", "configured-pw-123") is not None


async def test_user_and_token_changes_are_audited(
    db: Database, accounts: AccountService, admin_actor: Actor
) -> None:
    await accounts.create_user(admin_actor, "frank", "frank-password")
    token, public = await accounts.create_token(admin_actor, "frank")
    await accounts.revoke_token(admin_actor, public.id)
    await accounts.update_user(admin_actor, "frank", password="frank-password-2")
    async with db.session(SYSTEM) as session:
        rows = list(await session.scalars(select(AuditLog).order_by(AuditLog.id)))
    actions = [r.action for r in rows if r.actor_id == admin_actor.id]
    assert actions == ["user.create", "token.create", "token.revoke", "user.update"]
    dumped = repr([(r.before, r.after) for r in rows])
    assert "frank-password" not in dumped
    assert token not in dumped


async def test_audit_log_is_for_admins(
    db: Database, accounts: AccountService, admin_actor: Actor, user_a: Actor
) -> None:
    from modelreg.audit import list_audit

    entries = await list_audit(db, admin_actor, limit=10)
    assert entries[0].action == "user.create"  # newest first
    with pytest.raises(AccessDeniedError):
        await list_audit(db, user_a)


async def test_own_password_change_ends_own_sessions_only(
    accounts: AccountService, user_a: Actor, user_b: Actor
) -> None:
    """Under the user's own row policies (PostgreSQL) too: their sessions end, others' stay."""
    first = await accounts.sessions.start(user_a)
    second = await accounts.sessions.start(user_a)
    bobs = await accounts.sessions.start(user_b)
    assert await accounts.session_actor(first) == user_a
    await accounts.change_own_password(user_a, "alice-password", "alice-password-2")
    assert await accounts.session_actor(first) is None
    assert await accounts.session_actor(second) is None
    assert await accounts.session_actor(bobs) == user_b
