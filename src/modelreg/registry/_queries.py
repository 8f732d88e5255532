"""The row queries behind ModelManagerService: which models an actor sees, finding one by name
or id, and the checks a write makes against the other rows (the name is free, the fallbacks
exist and may be used). They take the caller's session, so they run in its transaction."""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, Select, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from modelreg.actor import Actor
from modelreg.db.models import Experiment, LLMModel
from modelreg.errors import AccessDeniedError, UnknownModelError, ValidationFailedError

__all__ = [
    "check_fallbacks",
    "check_name_free",
    "find_row",
    "parse_uuid",
    "visible",
    "visible_row",
    "writable_row",
]


def visible(actor: Actor) -> ColumnElement[bool]:
    if actor.role == "system":
        return true()
    return (LLMModel.user_id.is_(None)) | (LLMModel.user_id == actor.id)


def parse_uuid(value: object) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _visible_rows(actor: Actor) -> Select[LLMModel]:
    return select(LLMModel).where(visible(actor))


async def find_row(session: AsyncSession, actor: Actor, name_or_id: str) -> LLMModel | None:
    """The model `name_or_id` as `actor` sees it, enabled or not; None if there is none."""
    if "\x00" in name_or_id:
        return None  # no name holds a NUL (refused at save); PostgreSQL would refuse the query
    as_id = parse_uuid(name_or_id)
    if as_id is not None:
        row = await session.scalar(_visible_rows(actor).where(LLMModel.id == as_id))
        if row is not None:
            return row
    # own model of that name first, then the global one
    return await session.scalar(
        _visible_rows(actor)
        .where(LLMModel.name == name_or_id)
        .order_by(LLMModel.user_id.is_(None))
        .limit(1)
    )


async def visible_row(session: AsyncSession, actor: Actor, model_id: uuid.UUID | str) -> LLMModel:
    as_id = parse_uuid(model_id)
    row = None
    if as_id is not None:
        row = await session.scalar(_visible_rows(actor).where(LLMModel.id == as_id))
    if row is None:
        raise UnknownModelError(f"unknown model {str(model_id)[:100]!r}")
    return row


async def writable_row(session: AsyncSession, actor: Actor, model_id: uuid.UUID | str) -> LLMModel:
    row = await visible_row(session, actor, model_id)
    if row.user_id is None and not actor.is_admin:
        raise AccessDeniedError("only admins may change global models")
    return row


async def check_name_free(
    session: AsyncSession,
    owner: uuid.UUID | None,
    name: str,
    exclude: uuid.UUID | None,
) -> None:
    owner_clause = LLMModel.user_id.is_(None) if owner is None else LLMModel.user_id == owner
    stmt = select(LLMModel.id).where(owner_clause, LLMModel.name == name)
    if exclude is not None:
        stmt = stmt.where(LLMModel.id != exclude)
    if await session.scalar(stmt.limit(1)) is not None:
        scope = "global model" if owner is None else "model of yours"
        raise ValidationFailedError(f"a {scope} named {name!r} exists", field="name")
    await _check_no_experiment(session, owner, name)


async def _check_no_experiment(session: AsyncSession, owner: uuid.UUID | None, name: str) -> None:
    """An A/B experiment's name is used like a model name (modelreg.experiments), so a model
    must not take it: for a company model, no experiment's; for a personal one, no company
    experiment's and none of the owner's."""
    stmt = select(Experiment.id).where(Experiment.name == name)
    if owner is not None:
        stmt = stmt.where(Experiment.user_id.is_(None) | (Experiment.user_id == owner))
    if await session.scalar(stmt.limit(1)) is not None:
        raise ValidationFailedError(
            f"an A/B experiment named {name!r} exists; a model must not take its name",
            field="name",
        )


async def check_fallbacks(session: AsyncSession, actor: Actor, row: LLMModel) -> None:
    ids = [parse_uuid(i) for i in row.fallback_model_ids or []]
    if not ids:
        return
    if row.id in ids:
        raise ValidationFailedError(
            "a model cannot be its own fallback", field="fallback_model_ids"
        )
    found = (
        await session.execute(
            select(LLMModel.id, LLMModel.user_id).where(
                visible(actor), LLMModel.id.in_([i for i in ids if i])
            )
        )
    ).all()
    owners = dict(found)
    for fallback in ids:
        if fallback not in owners:
            raise ValidationFailedError(
                f"unknown fallback model {fallback}", field="fallback_model_ids"
            )
        # a global model is used by everyone: its fallbacks must be global too
        if row.user_id is None and owners[fallback] is not None:
            raise ValidationFailedError(
                "a global model may only fall back to global models",
                field="fallback_model_ids",
            )
