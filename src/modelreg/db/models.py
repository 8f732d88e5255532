"""ORM models. Column names of `llm_models` are also the JSON field names of the API."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from modelreg.db.types import ExactDecimal, NulSafeText, UTCDateTime
from modelreg.ids import uuid7

__all__ = [
    "ApiToken",
    "AppSetting",
    "AuditLog",
    "Base",
    "Conversation",
    "LLMModel",
    "Message",
    "UsageDaily",
    "UsageEvent",
    "User",
    "UserSession",
    "utcnow",
]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        datetime: UTCDateTime(),
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="user")  # "admin" | "user"
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    default_model_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid,
        ForeignKey(
            "llm_models.id",
            ondelete="SET NULL",
            use_alter=True,
            name="fk_users_default_model_id",
        ),
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex
    prefix: Mapped[str] = mapped_column(String(16))  # first characters, to recognise a token
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_api_tokens_user", "user_id"),)


class UserSession(Base):
    """A signed-in browser (modelreg.sessions). The cookie carries a random session id; only
    its SHA-256 is stored. Deleting the row ends the session on every process at once."""

    __tablename__ = "user_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]

    __table_args__ = (Index("ix_user_sessions_user", "user_id"),)


class LLMModel(Base):
    __tablename__ = "llm_models"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    provider: Mapped[str] = mapped_column(String(32))
    base_url: Mapped[str] = mapped_column(String(2048))
    model_id: Mapped[str] = mapped_column(String(255))
    auth_type: Mapped[str] = mapped_column(String(16), default="bearer")
    api_key_encrypted: Mapped[str | None] = mapped_column(Text)
    api_key_hint: Mapped[str | None] = mapped_column(String(8))
    auth_headers: Mapped[str | None] = mapped_column(Text)  # encrypted JSON object
    supports_streaming: Mapped[bool] = mapped_column(Boolean, default=True)
    supports_functions: Mapped[bool] = mapped_column(Boolean, default=True)
    supports_vision: Mapped[bool] = mapped_column(Boolean, default=False)
    context_length: Mapped[int | None] = mapped_column(Integer)
    max_output_tokens: Mapped[int | None] = mapped_column(Integer)
    price_per_input_token: Mapped[Decimal] = mapped_column(ExactDecimal, default=Decimal(0))
    price_per_output_token: Mapped[Decimal] = mapped_column(ExactDecimal, default=Decimal(0))
    default_temperature: Mapped[float | None] = mapped_column(Float)
    default_top_p: Mapped[float | None] = mapped_column(Float)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    is_global: Mapped[bool] = mapped_column(Boolean, default=False)
    fallback_model_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    rpm_limit: Mapped[int | None] = mapped_column(Integer)
    tpm_limit: Mapped[int | None] = mapped_column(Integer)
    # "db" (registered through the API/CLI) or "env" (the old LLM_PROVIDER settings)
    source: Mapped[str] = mapped_column(String(8), default="db", server_default="db")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    last_used_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("user_id", "name", name="uq_llm_models_user_name"),
        # one notion of "global", so the RLS policies and the service cannot disagree
        CheckConstraint(
            "(is_global AND user_id IS NULL) OR (NOT is_global AND user_id IS NOT NULL)",
            name="ck_llm_models_global_owner",
        ),
        # NULL user_ids are distinct in SQL, so global names need their own unique index
        Index(
            "uq_llm_models_global_name",
            "name",
            unique=True,
            sqlite_where=text("user_id IS NULL"),
            postgresql_where=text("user_id IS NULL"),
        ),
        Index("ix_llm_models_user_enabled", "user_id", "enabled"),
        Index(
            "ix_llm_models_global_enabled",
            "enabled",
            sqlite_where=text("is_global"),
            postgresql_where=text("is_global"),
        ),
        Index("ix_llm_models_name", "name"),
    )


class Conversation(Base):
    __tablename__ = "conversations"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200), default="New conversation")
    # deleting a model detaches its conversations (SET NULL); messages keep model_name
    llm_model_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("llm_models.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (Index("ix_conversations_user_updated", "user_id", "updated_at"),)


class Message(Base):
    __tablename__ = "messages"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("conversations.id", ondelete="CASCADE")
    )
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))
    # the model's answer: NUL becomes U+FFFD (modelreg.nul)
    content: Mapped[str] = mapped_column(NulSafeText, default="")
    tool_calls: Mapped[list[Any] | None] = mapped_column(JSON)
    tool_call_id: Mapped[str | None] = mapped_column(String(128))
    # an assistant answer names the user message it answers; siblings are alternatives
    # (regenerated answers, one per model in a compare); NULL: a plain linear thread
    reply_to_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("messages.id", ondelete="CASCADE")
    )
    llm_model_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("llm_models.id", ondelete="SET NULL")
    )
    model_name: Mapped[str | None] = mapped_column(String(100))  # kept if the model is deleted
    input_tokens: Mapped[int | None] = mapped_column(Integer)
    output_tokens: Mapped[int | None] = mapped_column(Integer)
    cached_tokens: Mapped[int | None] = mapped_column(Integer)
    reasoning_tokens: Mapped[int | None] = mapped_column(Integer)
    cost: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    ttft_ms: Mapped[float | None] = mapped_column(Float)
    finish_reason: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="complete")  # complete|incomplete|error
    error: Mapped[str | None] = mapped_column(NulSafeText)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_messages_conversation_created", "conversation_id", "created_at"),
        Index("ix_messages_user_created", "user_id", "created_at"),
        Index("ix_messages_reply_to", "reply_to_id"),
    )


class UsageEvent(Base):
    """One upstream call (chat UI or gateway): the accounting ledger for usage and cost."""

    __tablename__ = "usage_events"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="SET NULL")
    )
    llm_model_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("llm_models.id", ondelete="SET NULL")
    )
    model_name: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(16))  # chat | openai | anthropic | embeddings
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cached_tokens: Mapped[int] = mapped_column(Integer, default=0)  # cache reads
    # prompt tokens written to the provider's cache (Anthropic prices them above input)
    cache_write_tokens: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    cost: Mapped[Decimal] = mapped_column(ExactDecimal, default=Decimal(0))
    latency_ms: Mapped[float | None] = mapped_column(Float)
    ttft_ms: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="ok")  # ok | error | incomplete
    # the tokens are an estimate: the usage never came (a client left before it)
    estimated: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # the gateway's response id (x-request-id / request-id), so callers can rate a response
    request_id: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_usage_events_user_created", "user_id", "created_at"),
        Index("ix_usage_events_model_created", "llm_model_id", "created_at"),
        Index("ix_usage_events_request_id", "request_id"),
    )


# stands for "no user" / "no registered model" in the rollup's key: NULLs are distinct in a
# unique index on SQLite (and on PostgreSQL < 15), so ON CONFLICT would never match them
NO_ID = uuid.UUID(int=0)


class UsageDaily(Base):
    """`usage_events` summed per UTC day, user and model, kept by the UsageRecorder in the
    same transaction as the events (and backfilled by migration 0003). Reports read this, never
    the ledger: a month is at most 31 x models rows per user. No foreign keys: an aggregate
    outlives the user or model it counts (`model_name` names it, as in `usage_events`)."""

    __tablename__ = "usage_daily"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)  # NO_ID: none
    llm_model_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)  # NO_ID: none
    model_name: Mapped[str] = mapped_column(String(100), primary_key=True)
    requests: Mapped[int] = mapped_column(BigInteger, default=0)
    errors: Mapped[int] = mapped_column(BigInteger, default=0)
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cached_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cost: Mapped[Decimal] = mapped_column(ExactDecimal, default=Decimal(0))
    # sums and counts, not averages, so that batches add up; a call may lack either time
    latency_ms_sum: Mapped[float] = mapped_column(Float, default=0.0)
    latency_count: Mapped[int] = mapped_column(BigInteger, default=0)
    ttft_ms_sum: Mapped[float] = mapped_column(Float, default=0.0)
    ttft_count: Mapped[int] = mapped_column(BigInteger, default=0)

    __table_args__ = (Index("ix_usage_daily_user_day", "user_id", "day"),)


class AuditLog(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    actor_name: Mapped[str] = mapped_column(String(64), default="system")
    action: Mapped[str] = mapped_column(String(64))  # e.g. model.create, token.create
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    # no INSERT ... RETURNING: on PostgreSQL only admins may read the audit log back
    # (modelreg.db.rls_every_table), so the id comes from the sequence before the insert
    __table_args__ = (Index("ix_audit_log_created", "created_at"), {"implicit_returning": False})


class AppSetting(Base):
    """Small key/value settings kept in the database, e.g. the system default model."""

    __tablename__ = "app_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# feedback and the analytics rollup (migration 0009) live next door; imported here so that
# Base.metadata is complete wherever the models are used (Alembic, the schema tests)
from modelreg.db import analytics_models as _analytics_models  # noqa: E402

del _analytics_models
