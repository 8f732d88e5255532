"""The audit log: who changed what, when, with the state before and after (never secrets).

Rows are written in the same transaction as the change they describe, so a rolled-back change
leaves no audit row and a committed change always has one.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from modelreg.actor import Actor
from modelreg.db.engine import Database
from modelreg.db.models import AuditLog
from modelreg.errors import AccessDeniedError

__all__ = ["AuditEntry", "list_audit", "scrub", "write_audit"]

# fields that hold secrets or their derivatives; replaced by a marker in audit rows
_SECRET_FIELDS = frozenset(
    {
        "api_key",
        "api_key_encrypted",
        "auth_headers",
        "password",
        "password_hash",
        "token",
        "token_hash",
    }
)
_REDACTED = "[redacted]"


def scrub(state: dict[str, Any] | None) -> dict[str, Any] | None:
    """A JSON-safe copy without secret values (their presence is still recorded)."""
    if state is None:
        return None
    clean: dict[str, Any] = {}
    for key, value in state.items():
        if key in _SECRET_FIELDS:
            clean[key] = _REDACTED if value else None
        else:
            clean[key] = _jsonable(value)
    return clean


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")  # exact, and the same on every backend
    return str(value)  # UUID, Decimal: exact as text


async def write_audit(
    session: AsyncSession,
    actor: Actor,
    action: str,
    target_type: str,
    target_id: object | None,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    session.add(
        AuditLog(
            actor_id=actor.id,
            actor_name=actor.username,
            action=action,
            target_type=target_type,
            target_id=None if target_id is None else str(target_id),
            before=scrub(before),
            after=scrub(after),
        )
    )


class AuditEntry(BaseModel):
    model_config = ConfigDict(from_attributes=True, frozen=True)

    id: int
    actor_id: uuid.UUID | None
    actor_name: str
    action: str
    target_type: str
    target_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    created_at: datetime


async def list_audit(
    db: Database,
    actor: Actor,
    limit: int = 100,
    offset: int = 0,
    *,
    actor_name: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[AuditEntry]:
    """Newest first. Admins only. `action` is one action ("model.delete") or, without a dot,
    a family ("model": every model.* entry); `since` is inclusive, `until` exclusive."""
    if not actor.is_admin:
        raise AccessDeniedError("only admins may read the audit log")
    limit = max(1, min(limit, 1000))
    query = select(AuditLog)
    if actor_name:
        query = query.where(AuditLog.actor_name == actor_name)
    if action:
        exact = AuditLog.action == action
        query = query.where(exact if "." in action else AuditLog.action.startswith(f"{action}."))
    if since is not None:
        query = query.where(AuditLog.created_at >= since)
    if until is not None:
        query = query.where(AuditLog.created_at < until)
    async with db.session(actor) as session:
        rows = await session.scalars(
            query.order_by(AuditLog.created_at.desc(), AuditLog.id.desc())
            .limit(limit)
            .offset(max(0, offset))
        )
        return [AuditEntry.model_validate(row) for row in rows]
