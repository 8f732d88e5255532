"""ORM model of the blind arena's battles and votes (migration 0010; RLS: modelreg.db.rls_arena).

Imported by modelreg.db.models, so that `Base.metadata` holds every table."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from modelreg.db.models import Base, utcnow

__all__ = ["ArenaVote"]


class ArenaVote(Base):
    """One blind battle: two models drawn for one prompt, and the user's vote once cast
    (NULL until then). The models' names are kept, so a vote outlives a deleted model."""

    __tablename__ = "arena_votes"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    conversation_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("conversations.id", ondelete="SET NULL")
    )
    prompt_message_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    model_a_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("llm_models.id", ondelete="SET NULL")
    )
    model_a_name: Mapped[str] = mapped_column(String(100))
    model_b_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("llm_models.id", ondelete="SET NULL")
    )
    model_b_name: Mapped[str] = mapped_column(String(100))
    answer_a_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    answer_b_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # both models are company models: the vote counts on the company-wide leaderboard
    company: Mapped[bool] = mapped_column(Boolean)
    vote: Mapped[str | None] = mapped_column(String(16))  # a | b | tie | both_bad
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    voted_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (
        Index("ix_arena_votes_user_created", "user_id", "created_at"),
        Index("ix_arena_votes_company_voted", "company", "voted_at"),
    )
