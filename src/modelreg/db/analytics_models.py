"""ORM models of feedback and the analytics rollup (migration 0014); imported by
db/models.py, so `Base.metadata` knows them wherever the models are loaded.

- `message_feedback`: a user's thumbs up / down (and comment) on an assistant message of a
  conversation they own; one per message (a second rating replaces the first).
- `response_feedback`: the same for a gateway response, named by the request id the gateway
  returned (`x-request-id` / `request-id`). The model and the day are copied from the usage
  event at rating time, so analytics never join the ledger.
- `usage_stats_daily`: the analytics rollup, kept by the usage recorder next to
  `usage_daily` (modelreg.analytics.rollup): sums and latency histograms per (user, UTC day,
  source, model). Every event is counted twice: under its user and under `EVERYONE`, so an
  admin's company-wide figures read days x models rows, not days x users x models.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    Text,
    Uuid,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from modelreg.db.models import Base, utcnow
from modelreg.db.types import ExactDecimal

__all__ = [
    "COMMENT_MAX",
    "EVERYONE",
    "HIST",
    "MessageFeedback",
    "ResponseFeedback",
    "UsageStatsDaily",
]

# the rollup's user id of the company-wide rows (no real user has it: ids are random UUIDv4)
EVERYONE = uuid.UUID(int=1)
COMMENT_MAX = 2000  # characters of a feedback comment

_RATING = "rating IN (-1, 1)"
HIST = JSON().with_variant(JSONB(), "postgresql")


class MessageFeedback(Base):
    __tablename__ = "message_feedback"

    message_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    rating: Mapped[int] = mapped_column(SmallInteger)  # +1 thumbs up, -1 thumbs down
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        CheckConstraint(_RATING, name="ck_message_feedback_rating"),
        Index("ix_message_feedback_user", "user_id"),
    )


class ResponseFeedback(Base):
    __tablename__ = "response_feedback"

    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    llm_model_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # no FK: outlives the model
    model_name: Mapped[str] = mapped_column(String(100))
    answered_at: Mapped[datetime]  # when the rated response was made (its usage event)
    rating: Mapped[int] = mapped_column(SmallInteger)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        CheckConstraint(_RATING, name="ck_response_feedback_rating"),
        Index("ix_response_feedback_user_answered", "user_id", "answered_at"),
        Index("ix_response_feedback_answered", "answered_at"),
    )


class UsageStatsDaily(Base):
    """Sums per (user or EVERYONE, UTC day, source, model). `source`: chat | gateway."""

    __tablename__ = "usage_stats_daily"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)  # EVERYONE, NO_ID
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    source: Mapped[str] = mapped_column(String(8), primary_key=True)
    llm_model_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)  # NO_ID: none
    model_name: Mapped[str] = mapped_column(String(100), primary_key=True)
    requests: Mapped[int] = mapped_column(BigInteger, default=0)
    errors: Mapped[int] = mapped_column(BigInteger, default=0)
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cost: Mapped[Decimal] = mapped_column(ExactDecimal, default=Decimal(0))
    # over the calls that did not fail (the histograms count the same calls)
    latency_ms_sum: Mapped[float] = mapped_column(Float, default=0.0)
    latency_count: Mapped[int] = mapped_column(BigInteger, default=0)
    ttft_ms_sum: Mapped[float] = mapped_column(Float, default=0.0)
    ttft_count: Mapped[int] = mapped_column(BigInteger, default=0)
    # {"bucket": calls} (modelreg.analytics.buckets); JSONB on PostgreSQL, where the upsert
    # adds two of them with modelreg_hist_add() (migration 0014)
    latency_hist: Mapped[dict[str, int]] = mapped_column(HIST, default=dict)
    ttft_hist: Mapped[dict[str, int]] = mapped_column(HIST, default=dict)

    __table_args__ = (Index("ix_usage_stats_daily_day", "day"),)
