"""The budgets API's bodies: create, change, and the public form with this month's spend."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["MAX_LIMIT", "BudgetCreate", "BudgetPublic", "BudgetUpdate", "parse_limit"]

# far above any real month; keeps the value inside NUMERIC(30, 15)
MAX_LIMIT = Decimal("1000000000000")

LimitText = Annotated[
    str,
    Field(
        max_length=40,
        description='US dollars per period as a decimal string, e.g. "25.00"; 0 or more',
        examples=["25.00"],
    ),
]


def parse_limit(value: object) -> Decimal:
    """A budget limit: a decimal string, finite, 0 or more, below MAX_LIMIT."""
    if not isinstance(value, str):
        raise ValueError('must be a decimal string, e.g. "25.00"')
    try:
        limit = Decimal(value.strip())
    except InvalidOperation:
        raise ValueError('must be a decimal number, e.g. "25.00"') from None
    if not limit.is_finite():
        raise ValueError("must be a finite number")
    if limit < 0:
        raise ValueError("must not be below zero")
    if limit > MAX_LIMIT:
        raise ValueError(f"must be at most {MAX_LIMIT}")
    if limit.as_tuple().exponent < -15:  # type: ignore[operator]
        raise ValueError("at most 15 decimal places")
    return limit


class BudgetCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scope: Literal["user", "model", "global"] = Field(
        description="user: one user's spend; model: one model's; global: the company's"
    )
    user_id: uuid.UUID | None = Field(
        default=None, description="scope user: whose spend (default: the caller)"
    )
    model_id: uuid.UUID | None = Field(default=None, description="scope model: which model")
    limit_usd: LimitText
    period: Literal["month"] = Field(default="month", description="calendar month, UTC")

    @field_validator("limit_usd", mode="before")
    @classmethod
    def _limit(cls, value: object) -> str:
        return str(parse_limit(value))


class BudgetUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit_usd: LimitText

    @field_validator("limit_usd", mode="before")
    @classmethod
    def _limit(cls, value: object) -> str:
        return str(parse_limit(value))


class BudgetPublic(BaseModel):
    id: uuid.UUID
    scope: Literal["user", "model", "global"]
    user_id: uuid.UUID | None
    model_id: uuid.UUID | None
    limit_usd: str = Field(description="decimal string, US dollars per period")
    period: Literal["month"]
    set_by_admin: bool = Field(description="false: a limit a user set for themselves")
    current_period: str = Field(description='the month the figures are for, e.g. "2026-12"')
    spent_usd: str = Field(description="recorded spend this period (decimal string)")
    percent: float = Field(description="spent / limit x 100 (100 for a spent zero limit)")
    state: Literal["ok", "warning", "exceeded"] = Field(
        description="warning from 80 %, exceeded from 100 % (requests it covers are refused)"
    )
    applies_to_me: bool = Field(description="the caller's own requests count against it")
    created_at: datetime
    updated_at: datetime
