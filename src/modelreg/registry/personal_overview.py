"""Admins see that members' personal models exist: who owns which, of which provider, and how
much each is used. Never their keys, headers or addresses.

Row-level security hides personal models from admins on purpose (an admin must not be able to
read or use a member's key). This overview therefore reads in the system context, after the
admin check here, and selects only the columns below: no secret column is ever loaded.
Usage comes from the daily rollup (`usage_daily`), all time.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from modelreg.actor import SYSTEM, Actor
from modelreg.db.engine import Database
from modelreg.db.models import LLMModel, UsageDaily, User
from modelreg.decimals import plain
from modelreg.errors import AccessDeniedError

__all__ = ["PersonalModelSummary", "list_personal_models"]


class PersonalModelSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    name: str
    provider: str
    model_id: str = Field(description="The upstream model's name")
    enabled: bool
    owner_id: uuid.UUID
    owner_username: str
    created_at: datetime
    last_used_at: datetime | None
    requests: int = Field(description="Calls through this model, all time")
    cost: str = Field(
        description="Their cost, all time: an exact decimal, in the currency of the models' prices"
    )


async def list_personal_models(db: Database, actor: Actor) -> list[PersonalModelSummary]:
    if not actor.is_admin:
        raise AccessDeniedError("only admins may list members' personal models")
    usage = (
        select(
            UsageDaily.llm_model_id.label("model"),
            func.sum(UsageDaily.requests).label("requests"),
        )
        .group_by(UsageDaily.llm_model_id)
        .subquery()
    )
    async with db.session(SYSTEM) as session:
        rows = (
            await session.execute(
                select(
                    LLMModel.id,
                    LLMModel.name,
                    LLMModel.provider,
                    LLMModel.model_id,
                    LLMModel.enabled,
                    User.id,
                    User.username,
                    LLMModel.created_at,
                    LLMModel.last_used_at,
                    usage.c.requests,
                )
                .join(User, User.id == LLMModel.user_id)
                .outerjoin(usage, usage.c.model == LLMModel.id)
                .where(LLMModel.user_id.is_not(None))
                .order_by(func.lower(User.username), func.lower(LLMModel.name))
            )
        ).all()
        ids = [r[0] for r in rows]
        # costs summed in Python: SQLite stores them as text (no exact decimal type)
        costs: dict[uuid.UUID, Decimal] = {}
        if ids:
            for model, cost in await session.execute(
                select(UsageDaily.llm_model_id, UsageDaily.cost).where(
                    UsageDaily.llm_model_id.in_(ids)
                )
            ):
                costs[model] = costs.get(model, Decimal(0)) + Decimal(cost)
    return [
        PersonalModelSummary(
            id=r[0],
            name=r[1],
            provider=r[2],
            model_id=r[3],
            enabled=r[4],
            owner_id=r[5],
            owner_username=r[6],
            created_at=r[7],
            last_used_at=r[8],
            requests=int(r[9] or 0),
            cost=plain(costs.get(r[0], Decimal(0))),
        )
        for r in rows
    ]
