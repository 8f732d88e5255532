"""Browser sessions kept in the database, so that ending one takes effect at once everywhere.

The session cookie (api/auth.py) carries a random session id, signed; the table
`user_sessions` holds its SHA-256, the user and the expiry. Every cookie request looks the row
up together with its user (one primary-key query, which replaces the user lookup the old
signed-user-id cookie needed anyway), so a deleted row is refused by every process and
replica on the next request: no cache, nothing to propagate.

Ended by:
- logout: that one session (`end`);
- a password change or disabling the user: all of the user's sessions (but the browser that
  changed its own password), in the same transaction as the change (`end_all_for`);
- deleting the user: the rows go with the user (ON DELETE CASCADE).

Why rows rather than a per-user generation number: docs/decisions.md.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Final, NamedTuple

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from modelreg.actor import SYSTEM, Actor
from modelreg.db.engine import Database
from modelreg.db.models import User, UserSession

__all__ = ["SESSION_LIFETIME", "SessionHolder", "SessionStore", "end_all_for"]

SESSION_LIFETIME: Final = timedelta(days=7)
_MAX_ID_LENGTH: Final = 100  # ids are 43 characters; anything longer is not one of ours


class SessionHolder(NamedTuple):
    """The user a live session belongs to: just what an Actor needs."""

    id: uuid.UUID
    username: str
    role: str


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


async def end_all_for(
    session: AsyncSession, user_id: uuid.UUID, *, keep: str | None = None
) -> None:
    """End every session of `user_id`, inside the caller's transaction; `keep`: the id of one
    session to leave (the browser that changed its own password)."""
    stmt = delete(UserSession).where(UserSession.user_id == user_id)
    if keep:
        stmt = stmt.where(UserSession.id_hash != _digest(keep))
    await session.execute(stmt)


class SessionStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def start(self, actor: Actor) -> str:
        """A new session for `actor`; returns its id (put in the cookie, never stored)."""
        if actor.id is None:
            raise ValueError("only users can hold a session")
        session_id = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        async with self.db.session(actor) as session:
            # the user's expired sessions are swept here, so the table cannot grow without bound
            await session.execute(
                delete(UserSession).where(
                    UserSession.user_id == actor.id, UserSession.expires_at <= now
                )
            )
            session.add(
                UserSession(
                    id_hash=_digest(session_id),
                    user_id=actor.id,
                    created_at=now,
                    expires_at=now + SESSION_LIFETIME,
                )
            )
        return session_id

    async def user_of(self, session_id: str) -> SessionHolder | None:
        """The active user holding this unexpired session, else None. Columns, not ORM
        objects: this runs on every cookie request."""
        if not session_id or len(session_id) > _MAX_ID_LENGTH:
            return None
        async with self.db.session(SYSTEM) as session:
            found = (
                await session.execute(
                    select(
                        User.id, User.username, User.role, User.is_active, UserSession.expires_at
                    )
                    .join(UserSession, UserSession.user_id == User.id)
                    .where(UserSession.id_hash == _digest(session_id))
                )
            ).first()
        if found is None:
            return None
        user_id, username, role, is_active, expires_at = found
        if not is_active or expires_at <= datetime.now(UTC):
            return None
        return SessionHolder(user_id, username, role)

    async def end(self, session_id: str) -> None:
        """Logout: this session only; the user's other browsers stay signed in."""
        if not session_id or len(session_id) > _MAX_ID_LENGTH:
            return
        async with self.db.session(SYSTEM) as session:
            await session.execute(
                delete(UserSession).where(UserSession.id_hash == _digest(session_id))
            )
