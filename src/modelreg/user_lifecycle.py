"""What an administrator's change does to an account, in the change's own transaction.

- **Guards** (`guard_admin_change`): nobody disables, demotes or deletes themselves, and the
  last active administrator stays one. The active admins' rows are locked in id order
  (`SELECT ... FOR UPDATE` on PostgreSQL; on SQLite `begin_account_change` takes the write
  lock before the transaction reads anything), so two admins demoting each other at once
  cannot leave none: the second sees the first's change.
- **Disable** ends the user's sessions and revokes every token of theirs
  (`revoke_all_tokens`): enabling them again brings neither back.
- **Delete** removes the user with their personal models, conversations, messages, tokens
  and sessions (ON DELETE CASCADE). Usage stays, anonymised (`anonymise_usage`): the
  ledger's rows lose the user (`usage_events.user_id` is SET NULL by its foreign key) and the
  daily rollup's rows are folded into the "no user" key, so company totals and costs do not
  change while nothing names the person any more. The audit log keeps who did what (that
  is its purpose), including the deleted user's name in the deletion entry.

The token cache of this process is dropped by the caller after the commit; other processes
and replicas drop theirs through the `accounts` generation (modelreg.invalidation), which the
caller bumps in the same transaction. Sessions are rows and end at the commit everywhere.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, text, update

from modelreg.actor import SYSTEM, Actor
from modelreg.chat.usage_rollup import upsert_daily
from modelreg.db.models import NO_ID, ApiToken, UsageDaily, User
from modelreg.db.rls import rls_context_sql
from modelreg.errors import ValidationFailedError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from modelreg.db.engine import Database

__all__ = [
    "AccountChangeRefused",
    "anonymise_usage",
    "begin_account_change",
    "guard_admin_change",
    "revoke_all_tokens",
]


class AccountChangeRefused(ValidationFailedError):
    """The change would lock the caller out or leave no administrator (HTTP 409)."""


async def begin_account_change(session: AsyncSession) -> None:
    """First statement of a transaction that changes a user. SQLite: a write that matches no
    row still takes the database's write lock, so this transaction's reads cannot be stale
    (a deferred transaction would read first and both of two concurrent ones could pass the
    guard). PostgreSQL: the guard's row locks do it."""
    if session.get_bind().dialect.name == "sqlite":
        await session.execute(text("UPDATE users SET role = role WHERE 0 = 1"))


async def guard_admin_change(
    session: AsyncSession,
    actor: Actor,
    row: User,
    *,
    role: str | None = None,
    is_active: bool | None = None,
    deleting: bool = False,
) -> None:
    """Refuse a change that removes the actor's own access or the last active admin."""
    demoting = role is not None and role != "admin"
    disabling = is_active is False
    if not (demoting or disabling or deleting):
        return
    verb = "delete" if deleting else "disable" if disabling else "demote"
    field = "user" if deleting else "is_active" if disabling else "role"
    if actor.id is not None and row.id == actor.id:
        raise AccountChangeRefused(
            f"you cannot {verb} yourself; ask another administrator", field=field
        )
    admins = list(
        await session.scalars(
            select(User.id)
            .where(User.role == "admin", User.is_active.is_(True))
            .order_by(User.id)
            .with_for_update()
        )
    )
    if row.id in admins and len(admins) == 1:
        raise AccountChangeRefused(
            f"{row.username} is the last active administrator; make someone else an "
            f"administrator first",
            field=field,
        )


async def revoke_all_tokens(session: AsyncSession, user_id: uuid.UUID) -> list[str]:
    """Revoke the user's live tokens; returns their hashes (for the token cache)."""
    digests = list(
        await session.scalars(
            select(ApiToken.token_hash).where(
                ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None)
            )
        )
    )
    if digests:
        await session.execute(
            update(ApiToken)
            .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
            .execution_options(synchronize_session=False)
        )
    return digests


async def anonymise_usage(
    session: AsyncSession, db: Database, actor: Actor, user_id: uuid.UUID
) -> int:
    """Fold the user's daily rollup rows into the "no user" key; returns how many moved.

    Only the usage recorder (the system context) writes the rollup under PostgreSQL's row
    policies, so the transaction switches to it for these statements and back to `actor`
    afterwards (the audit entry must be in the actor's name)."""
    postgres = db.dialect == "postgresql"
    if postgres:
        await _act_as(session, db, SYSTEM)
    table = UsageDaily.__table__
    rows: list[dict[str, Any]] = [
        dict(r)
        for r in (
            await session.execute(select(table).where(UsageDaily.user_id == user_id))
        ).mappings()
    ]
    if rows:
        await session.execute(delete(UsageDaily).where(UsageDaily.user_id == user_id))
        await upsert_daily(session, [r | {"user_id": NO_ID} for r in rows])
    if postgres:
        await _act_as(session, db, actor)
    return len(rows)


async def _act_as(session: AsyncSession, db: Database, actor: Actor) -> None:
    sql, params = rls_context_sql(actor, db.app_role)
    await session.execute(text(sql), params)
