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
    LargeBinary,
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
    "Budget",
    "Conversation",
    "Experiment",
    "LLMModel",
    "Message",
    "MessageImage",
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
    # "chat" or "embedding" (modelreg.knowledge); an embedding model's vector size
    kind: Mapped[str] = mapped_column(String(16), default="chat", server_default="chat")
    dimensions: Mapped[int | None] = mapped_column(Integer)
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
    # used on every turn (migration 0011); a turn's own values win
    system_prompt: Mapped[str | None] = mapped_column(NulSafeText)
    temperature: Mapped[float | None] = mapped_column(Float)
    top_p: Mapped[float | None] = mapped_column(Float)
    max_tokens: Mapped[int | None] = mapped_column(Integer)

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
    # the tokens are an estimate: the answer was stopped before its usage came
    usage_estimated: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # the unit prices (per token) the call was booked with: a later price change never
    # rewrites what the stored cost means (migration 0012; NULL on older rows)
    price_per_input_token: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    price_per_output_token: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    price_per_cache_read_token: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    price_per_cache_write_token: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    # the passages a knowledge-enhanced answer used: [{document, chunk, score, ...}]
    citations: Mapped[list[Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # the A/B experiment and arm that chose the model (modelreg.experiments); NULL: none
    experiment_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("experiments.id", ondelete="SET NULL")
    )
    experiment_arm_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # picked among its alternatives (migration 0011): the latest coalesce(selected_at,
    # created_at) among the answers to one user message is the one in the history
    selected_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (
        Index("ix_messages_conversation_created", "conversation_id", "created_at"),
        Index("ix_messages_user_created", "user_id", "created_at"),
        Index("ix_messages_reply_to", "reply_to_id"),
        Index("ix_messages_experiment", "experiment_id"),
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
    # the unit prices (per token) the call was booked with: a later price change never
    # rewrites what the stored cost means (migration 0012; NULL on older rows)
    price_per_input_token: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    price_per_output_token: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    price_per_cache_read_token: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    price_per_cache_write_token: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # the A/B experiment and arm that chose the model (modelreg.experiments); NULL: none
    experiment_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("experiments.id", ondelete="SET NULL")
    )
    experiment_arm_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # the gateway's response id (x-request-id / request-id), so callers can rate a response
    request_id: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_usage_events_user_created", "user_id", "created_at"),
        Index("ix_usage_events_model_created", "llm_model_id", "created_at"),
        Index("ix_usage_events_experiment", "experiment_id", "experiment_arm_id"),
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


class Experiment(Base):
    """An A/B experiment (modelreg.experiments): a name callers use like a model name, and
    arms (a model and a weight each) among which every request is assigned by a key. `user_id`
    NULL: a company experiment (admins), else a personal one. `arms` is a JSON list of
    `{"id", "model_id", "model_name", "weight"}`, fixed once the experiment has started (the
    statistics compare arms under one allocation), the first arm being the baseline."""

    __tablename__ = "experiments"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="draft")
    arms: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None]
    stopped_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("user_id", "name", name="uq_experiments_user_name"),
        Index(
            "uq_experiments_global_name",
            "name",
            unique=True,
            sqlite_where=text("user_id IS NULL"),
            postgresql_where=text("user_id IS NULL"),
        ),
        CheckConstraint(
            "status IN ('draft', 'running', 'paused', 'stopped')", name="ck_experiments_status"
        ),
    )


class MessageImage(Base):
    """An image attached to a user message (migration 0011), kept with the conversation."""

    __tablename__ = "message_images"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    message_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("messages.id", ondelete="CASCADE")
    )
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("conversations.id", ondelete="CASCADE")
    )
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    media_type: Mapped[str] = mapped_column(String(32))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_message_images_message", "message_id"),
        Index("ix_message_images_conversation", "conversation_id"),
    )


class Budget(Base):
    """A monthly cost limit (modelreg.budgets): company-wide, per user or per model."""

    __tablename__ = "budgets"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    scope: Mapped[str] = mapped_column(String(16))  # global | user | model
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE")
    )
    llm_model_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("llm_models.id", ondelete="CASCADE")
    )
    limit_usd: Mapped[Decimal] = mapped_column(ExactDecimal)
    period: Mapped[str] = mapped_column(String(16), default="month", server_default="month")
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    set_by_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # the last alert written (80 or 100) and the period ("2026-12") it was written for
    alert_period: Mapped[str | None] = mapped_column(String(16))
    alert_level: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        CheckConstraint(
            "(scope = 'global' AND user_id IS NULL AND llm_model_id IS NULL)"
            " OR (scope = 'user' AND user_id IS NOT NULL AND llm_model_id IS NULL)"
            " OR (scope = 'model' AND user_id IS NULL AND llm_model_id IS NOT NULL)",
            name="ck_budgets_scope",
        ),
        Index("ix_budgets_user", "user_id"),
    )


# feedback and the analytics rollup (migration 0014) live next door; imported here so that
# Base.metadata is complete wherever the models are used (Alembic, the schema tests)
from modelreg.db import analytics_models as _analytics_models  # noqa: E402
from modelreg.db import arena_models as _arena_models  # noqa: E402,F401 - its table in Base.metadata

del _analytics_models
# the knowledge tables share this metadata (migrations, tests compare it with the schema)
from modelreg.db import knowledge_models as _knowledge_models  # noqa: E402, F401
