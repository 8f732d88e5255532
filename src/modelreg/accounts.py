"""Users, passwords and API tokens.

- Passwords: argon2id (argon2-cffi defaults, the current OWASP recommendation).
- API tokens: `mr-` + 32 random bytes (url-safe base64). Only the SHA-256 of a token is stored:
  a token has 256 bits of entropy, so a fast hash is enough and keeps `resolve_token` cheap.
  The token itself is shown once, when it is created.
- `resolve_token` sits on every API request, so it keeps an in-memory TTL cache of
  hash -> Actor, dropped on revocation and on any user change in this process. The same
  transaction writes a new cache generation (modelreg.invalidation), so other processes drop
  theirs within `cache_poll_interval` (1 s); `token_cache_ttl` only bounds staleness when
  polling is off or the database is unreachable. A cached token still stops working at its
  `expires_at`, to the second.
- Browser sessions: `sessions` (modelreg.sessions), rows in the database; a password change
  or disabling a user ends all of that user's sessions in the same transaction.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import secrets
import uuid
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from modelreg.actor import SYSTEM, Actor, Role
from modelreg.audit import write_audit
from modelreg.db.engine import Database
from modelreg.db.models import ApiToken, LLMModel, User
from modelreg.errors import AccessDeniedError, UnknownModelError, ValidationFailedError
from modelreg.invalidation import ACCOUNTS, MODELS, bump
from modelreg.registry.cache import TTLCache
from modelreg.sessions import SessionHolder, SessionStore, end_all_for
from modelreg.settings import Settings
from modelreg.token_use import TokenUseRecorder
from modelreg.user_lifecycle import (
    anonymise_usage,
    begin_account_change,
    guard_admin_change,
    revoke_all_tokens,
)

__all__ = ["TOKEN_PREFIX", "AccountService", "TokenPublic", "UserPublic", "hash_token"]

log = logging.getLogger(__name__)

TOKEN_PREFIX = "mr-"  # noqa: S105 - a prefix, not a secret
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
_MIN_PASSWORD = 8
_MAX_PASSWORD = 1024


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True, frozen=True)

    id: uuid.UUID
    username: str
    role: Role
    is_active: bool
    default_model_id: uuid.UUID | None
    created_at: datetime


class TokenPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True, frozen=True)

    id: uuid.UUID
    user_id: uuid.UUID
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


def _actor(user: User | SessionHolder) -> Actor:
    role: Role = "admin" if user.role == "admin" else "user"
    return Actor(id=user.id, username=user.username, role=role)


class AccountService:
    def __init__(
        self, db: Database, settings: Settings, *, password_hasher: PasswordHasher | None = None
    ) -> None:
        self.db = db
        self.settings = settings
        # argon2-cffi defaults (RFC 9106 low-memory profile); tests pass a cheaper one
        self._hasher = password_hasher or PasswordHasher()
        # verified against when the user does not exist, so that the response time does not
        # tell which usernames exist; made on first use (hashing is slow on purpose)
        self._dummy_hash: str | None = None
        # hash -> (actor, the token's expires_at): a hit past the expiry is refused
        self._tokens: TTLCache[str, tuple[Actor, datetime | None]] = TTLCache(
            settings.token_cache_ttl
        )
        self.sessions = SessionStore(db)
        self.token_use = TokenUseRecorder(db)  # api_tokens.last_used_at, off the request path

    # --- users ---------------------------------------------------------------------------

    async def create_user(
        self, actor: Actor, username: str, password: str | None, role: str = "user"
    ) -> UserPublic:
        """Admins only. `password=None` creates a user that can sign in with tokens only."""
        if not actor.is_admin:
            raise AccessDeniedError("only admins may create users")
        if not _USERNAME.match(username):
            raise ValidationFailedError(
                "username: 1-64 letters, digits or _ . @ -, starting with a letter or digit",
                field="username",
            )
        if role not in ("admin", "user"):
            raise ValidationFailedError("role must be 'admin' or 'user'", field="role")
        password_hash = await self._hash(password) if password is not None else None
        async with self.db.session(actor) as session:
            taken = await session.scalar(
                select(User.id).where(func.lower(User.username) == username.lower())
            )
            if taken is not None:
                raise ValidationFailedError(f"user {username!r} exists", field="username")
            user = User(
                id=uuid.uuid4(),
                username=username,
                password_hash=password_hash,
                role=role,
                is_active=True,
                created_at=datetime.now(UTC),
            )
            session.add(user)
            await session.flush()
            await write_audit(
                session,
                actor,
                "user.create",
                "user",
                user.id,
                None,
                {"username": username, "role": role, "password": password is not None},
            )
            return UserPublic.model_validate(user)

    async def list_users(self, actor: Actor) -> list[UserPublic]:
        if not actor.is_admin:
            raise AccessDeniedError("only admins may list users")
        async with self.db.session(actor) as session:
            rows = await session.scalars(select(User).order_by(User.username))
            return [UserPublic.model_validate(u) for u in rows]

    async def get_user(self, actor: Actor, user: str | uuid.UUID) -> UserPublic:
        """Admins see everyone, a user only themselves."""
        async with self.db.session(actor) as session:
            row = await self._find_user(session, user)
            if row is None or not (actor.is_admin or row.id == actor.id):
                raise ValidationFailedError(f"unknown user {str(user)[:64]!r}", field="user")
            return UserPublic.model_validate(row)

    async def update_user(
        self,
        actor: Actor,
        user: str | uuid.UUID,
        *,
        role: str | None = None,
        is_active: bool | None = None,
        password: str | None = None,
    ) -> UserPublic:
        """Admins change anyone (modelreg.user_lifecycle says what each change does and what
        is refused); users change their own password with `change_own_password`, which asks
        for the current one."""
        if not actor.is_admin:
            raise AccessDeniedError("only admins may change users")
        if role is not None and role not in ("admin", "user"):
            raise ValidationFailedError("role must be 'admin' or 'user'", field="role")
        password_hash = await self._hash(password) if password is not None else None
        async with self.db.session(actor) as session:
            await begin_account_change(session)
            row = await self._find_user(session, user)
            if row is None:
                raise ValidationFailedError(f"unknown user {str(user)[:64]!r}", field="user")
            await guard_admin_change(session, actor, row, role=role, is_active=is_active)
            before = {"role": row.role, "is_active": row.is_active}
            revoked: list[str] = []
            if role is not None:
                row.role = role
            if is_active is not None:
                row.is_active = is_active
            if password_hash is not None:
                row.password_hash = password_hash
            if password is not None or is_active is False:
                # whoever knew the old password (or the disabled user) is signed out everywhere
                await end_all_for(session, row.id)
            if is_active is False:
                revoked = await revoke_all_tokens(session, row.id)
            await session.flush()
            after = {
                "role": row.role,
                "is_active": row.is_active,
                "password": password is not None,
                "tokens_revoked": len(revoked),
            }
            await write_audit(session, actor, "user.update", "user", row.id, before, after)
            await bump(session, ACCOUNTS)
            result = UserPublic.model_validate(row)
        self._tokens.invalidate()  # a changed role or a disabled user must take effect now
        return result

    async def change_own_password(
        self, actor: Actor, current: str, new: str, *, keep_session: str | None = None
    ) -> None:
        """The actor's own password, given the current one. Every other session of theirs
        ends (`keep_session`: the browser session making the change stays); tokens stay."""
        if actor.id is None:
            raise ValidationFailedError("the system actor has no password", field="user")
        if new == current:
            raise ValidationFailedError(
                "the new password must differ from the current one", field="new_password"
            )
        new_hash = await self._hash(new)  # checks the length before anything else
        async with self.db.session(actor) as session:
            row = await session.get(User, actor.id)
            stored = row.password_hash if row is not None else None
        if stored is None or not await self._verify(stored, current):
            raise ValidationFailedError("the current password is wrong", field="current_password")
        async with self.db.session(actor) as session:
            row = await session.get(User, actor.id)
            if row is None or row.password_hash != stored:
                # changed meanwhile (another browser, an admin): the check above is stale
                raise ValidationFailedError(
                    "the current password is wrong", field="current_password"
                )
            row.password_hash = new_hash
            await end_all_for(session, row.id, keep=keep_session)
            await write_audit(
                session, actor, "user.password", "user", row.id, None, {"password": True}
            )

    async def delete_user(self, actor: Actor, user: str | uuid.UUID) -> None:
        """Admins only: the user's models, conversations, tokens and sessions go with them;
        their usage stays, anonymised (modelreg.user_lifecycle)."""
        if not actor.is_admin:
            raise AccessDeniedError("only admins may delete users")
        async with self.db.session(actor) as session:
            await begin_account_change(session)
            row = await self._find_user(session, user)
            if row is None:
                raise ValidationFailedError(f"unknown user {str(user)[:64]!r}", field="user")
            await guard_admin_change(session, actor, row, deleting=True)
            before = {"username": row.username, "role": row.role}
            user_id = row.id
            await session.delete(row)
            await session.flush()
            moved = await anonymise_usage(session, self.db, actor, user_id)
            after = {"usage_daily_rows_anonymised": moved}
            await write_audit(session, actor, "user.delete", "user", user_id, before, after)
            await bump(session, ACCOUNTS)
            # the user's personal models went with them (CASCADE)
            await bump(session, MODELS)
        self._tokens.invalidate()

    async def authenticate_password(self, username: str, password: str) -> Actor | None:
        async with self.db.session(SYSTEM) as session:
            user = await session.scalar(select(User).where(User.username == username))
        stored = user.password_hash if user is not None else None
        if stored is None and self._dummy_hash is None:
            self._dummy_hash = await asyncio.to_thread(self._hasher.hash, "modelreg-dummy")
        ok = await self._verify(stored or self._dummy_hash or "", password)
        if not ok or user is None or stored is None or not user.is_active:
            return None
        if self._hasher.check_needs_rehash(stored):
            async with self.db.session(SYSTEM) as session:
                row = await session.get(User, user.id)
                if row is not None:
                    row.password_hash = await self._hash(password)
        return _actor(user)

    async def get_actor(self, user_id: uuid.UUID) -> Actor | None:
        async with self.db.session(SYSTEM) as session:
            user = await session.get(User, user_id)
        if user is None or not user.is_active:
            return None
        return _actor(user)

    async def session_actor(self, session_id: str) -> Actor | None:
        """The user of a live browser session (see modelreg.sessions), else None."""
        user = await self.sessions.user_of(session_id)
        return _actor(user) if user is not None else None

    async def set_default_model(self, actor: Actor, model_id: uuid.UUID | None) -> None:
        """The actor's own default model; it must be one they can see."""
        if actor.id is None:
            raise ValidationFailedError("the system actor has no default model", field="user")
        async with self.db.session(actor) as session:
            if model_id is not None:
                visible = await session.scalar(
                    select(LLMModel.id).where(
                        LLMModel.id == model_id,
                        LLMModel.user_id.is_(None) | (LLMModel.user_id == actor.id),
                    )
                )
                if visible is None:
                    raise UnknownModelError(f"unknown model {str(model_id)!r}")
            user = await session.get(User, actor.id)
            if user is None:
                raise ValidationFailedError("unknown user", field="user")
            before = {"default_model_id": user.default_model_id}
            user.default_model_id = model_id
            await write_audit(
                session,
                actor,
                "user.default_model",
                "user",
                actor.id,
                before,
                {"default_model_id": model_id},
            )

    async def bootstrap_admin(self) -> str | None:
        """On the first start (no users at all) create `admin`. Returns the generated
        password, to be printed once, or None when it came from MODELREG_ADMIN_PASSWORD or
        users exist already."""
        async with self.db.session(SYSTEM) as session:
            if await session.scalar(select(func.count()).select_from(User)):
                return None
        configured = self.settings.admin_password
        password = configured.get_secret_value() if configured else secrets.token_urlsafe(12)
        try:
            await self.create_user(SYSTEM, "admin", password, role="admin")
        except ValidationFailedError:
            return None  # another process won the race
        log.info("created the first admin user 'admin'")
        return None if configured else password

    # --- tokens --------------------------------------------------------------------------

    async def create_token(
        self,
        actor: Actor,
        user: str | uuid.UUID,
        name: str = "",
        *,
        expires_at: datetime | None = None,
    ) -> tuple[str, TokenPublic]:
        """A new token for `user` (admins: anyone; users: themselves). The token string is
        returned once and never stored."""
        if len(name) > 100:
            raise ValidationFailedError("name: at most 100 characters", field="name")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        async with self.db.session(actor) as session:
            owner = await self._find_user(session, user)
            if owner is None or not (actor.is_admin or owner.id == actor.id):
                raise ValidationFailedError(f"unknown user {str(user)[:64]!r}", field="user")
            row = ApiToken(
                id=uuid.uuid4(),
                user_id=owner.id,
                name=name,
                token_hash=hash_token(token),
                prefix=token[:10],
                created_at=datetime.now(UTC),
                expires_at=expires_at,
            )
            session.add(row)
            await session.flush()
            await write_audit(
                session,
                actor,
                "token.create",
                "api_token",
                row.id,
                None,
                {"user_id": owner.id, "name": name, "prefix": row.prefix},
            )
            return token, TokenPublic.model_validate(row)

    async def list_tokens(
        self, actor: Actor, user: str | uuid.UUID | None = None
    ) -> list[TokenPublic]:
        """The actor's tokens, or (admins) another user's."""
        async with self.db.session(actor) as session:
            stmt = select(ApiToken).order_by(ApiToken.created_at.desc())
            if user is not None:
                owner = await self._find_user(session, user)
                if owner is None or not (actor.is_admin or owner.id == actor.id):
                    raise ValidationFailedError(f"unknown user {str(user)[:64]!r}", field="user")
                stmt = stmt.where(ApiToken.user_id == owner.id)
            else:
                stmt = stmt.where(ApiToken.user_id == actor.id)
            return [TokenPublic.model_validate(t) for t in await session.scalars(stmt)]

    async def resolve_token(self, token: str) -> Actor | None:
        if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        digest = hash_token(token)
        cached = self._tokens.get(digest)
        if cached is not None:
            actor, expires_at = cached
            if expires_at is None or expires_at > datetime.now(UTC):
                self.token_use.note(digest)
                return actor
            self._tokens.pop(digest)
            return None
        generation = self._tokens.generation
        now = datetime.now(UTC)
        async with self.db.session(SYSTEM) as session:
            found = (
                await session.execute(
                    select(ApiToken, User)
                    .join(User, User.id == ApiToken.user_id)
                    .where(ApiToken.token_hash == digest)
                )
            ).first()
        if found is None:
            return None
        row, user = found
        if row.revoked_at is not None or not user.is_active:
            return None
        expires_at = _aware(row.expires_at) if row.expires_at is not None else None
        if expires_at is not None and expires_at <= now:
            return None
        actor = _actor(user)
        self._tokens.set(digest, (actor, expires_at), generation=generation)
        self.token_use.note(digest)
        return actor

    async def revoke_token(self, actor: Actor, token_id: uuid.UUID) -> None:
        async with self.db.session(actor) as session:
            row = await session.get(ApiToken, token_id)
            if row is None or not (actor.is_admin or row.user_id == actor.id):
                raise ValidationFailedError("unknown token", field="token_id")
            if row.revoked_at is None:
                row.revoked_at = datetime.now(UTC)
                await write_audit(
                    session,
                    actor,
                    "token.revoke",
                    "api_token",
                    row.id,
                    {"revoked": False},
                    {"revoked": True},
                )
                await bump(session, ACCOUNTS)
            digest = row.token_hash
        self._tokens.pop(digest)

    def invalidate(self) -> None:
        """Drop the token cache (another process changed a token or a user)."""
        self._tokens.invalidate()

    # --- internals -----------------------------------------------------------------------

    async def _find_user(self, session: AsyncSession, user: str | uuid.UUID) -> User | None:
        as_id = user if isinstance(user, uuid.UUID) else _maybe_uuid(user)
        if as_id is not None:
            found = await session.get(User, as_id)
            if found is not None:
                return found
        return await session.scalar(select(User).where(User.username == str(user)))

    async def _hash(self, password: str) -> str:
        if not _MIN_PASSWORD <= len(password) <= _MAX_PASSWORD:
            raise ValidationFailedError(
                f"password: {_MIN_PASSWORD} to {_MAX_PASSWORD} characters", field="password"
            )
        # argon2 is deliberately slow (tens of ms): keep it off the event loop
        return await asyncio.to_thread(self._hasher.hash, password)

    async def _verify(self, stored: str, password: str) -> bool:
        def verify() -> bool:
            try:
                return self._hasher.verify(stored, password)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

        return await asyncio.to_thread(verify)


def _maybe_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; they were stored as UTC
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
