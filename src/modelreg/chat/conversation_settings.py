"""Per-conversation system prompt and sampling parameters, used on every turn.

Stored on the conversation (migration 0011). Saving checks them against the conversation's
model (or the default model when it has none): temperature 0–2 (0–1 for Anthropic models),
top_p 0–1, max tokens at most the model's `max_output_tokens` when the registry knows it. On
a turn, the turn's own values win; a conversation's max tokens above the limit of the model
that answers (another model named on the turn) is lowered to that limit. The system prompt
goes first in the history sent to the model; it is not stored as a message.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import replace
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, StrictStr
from sqlalchemy import select

from modelreg.actor import Actor
from modelreg.chat.store import get_owned_conversation, owner_id
from modelreg.db.models import Conversation, utcnow
from modelreg.errors import UnknownModelError, ValidationFailedError
from modelreg.model_config import ModelConfig
from modelreg.nul import NulFree
from modelreg.types import Message

if TYPE_CHECKING:
    from modelreg.chat.turn import Turn
    from modelreg.db.engine import Database
    from modelreg.registry.service import ModelManagerService

__all__ = ["ConversationSettings", "SettingsStore", "apply_settings"]


class ConversationSettings(NulFree):
    model_config = ConfigDict(extra="forbid")

    system_prompt: StrictStr | None = Field(default=None, max_length=100_000)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)

    @classmethod
    def of(cls, row: Conversation) -> ConversationSettings:
        return cls(
            system_prompt=row.system_prompt,
            temperature=row.temperature,
            top_p=row.top_p,
            max_tokens=row.max_tokens,
        )


class _Row(BaseModel):
    system_prompt: str | None
    temperature: float | None
    top_p: float | None
    max_tokens: int | None


def check_limits(settings: ConversationSettings, model: ModelConfig) -> None:
    """ValidationFailedError (400) naming the field that is beyond the model's limits."""
    top = 1.0 if model.provider == "anthropic" else 2.0
    if settings.temperature is not None and settings.temperature > top:
        raise ValidationFailedError(
            f"model {model.name!r} takes a temperature from 0 to {top:g}", field="temperature"
        )
    limit = model.max_output_tokens
    if settings.max_tokens is not None and limit is not None and settings.max_tokens > limit:
        raise ValidationFailedError(
            f"model {model.name!r} writes at most {limit} tokens per answer", field="max_tokens"
        )


class SettingsStore:
    def __init__(self, db: Database, registry: ModelManagerService) -> None:
        self.db = db
        self.registry = registry

    async def get(self, actor: Actor, conversation_id: uuid.UUID) -> ConversationSettings:
        async with self.db.session(actor) as session:
            return ConversationSettings.of(
                await get_owned_conversation(session, actor, conversation_id)
            )

    async def put(
        self, actor: Actor, conversation_id: uuid.UUID, settings: ConversationSettings
    ) -> ConversationSettings:
        async with self.db.session(actor) as session:
            row = await get_owned_conversation(session, actor, conversation_id)
            model_ref = str(row.llm_model_id) if row.llm_model_id else None
        model: ModelConfig | None = None
        if model_ref:
            with contextlib.suppress(UnknownModelError):  # deleted or disabled since
                model = await self.registry.resolve(actor, model_ref)
        if model is None:
            model = await self.registry.get_default_model(actor)
        if model is not None:
            check_limits(settings, model)
        async with self.db.session(actor) as session:
            row = await get_owned_conversation(session, actor, conversation_id)
            row.system_prompt = settings.system_prompt or None
            row.temperature = settings.temperature
            row.top_p = settings.top_p
            row.max_tokens = settings.max_tokens
            row.updated_at = utcnow()
            await session.flush()
            return ConversationSettings.of(row)

    async def apply(self, turn: Turn) -> None:
        """A continuing conversation's settings into the turn (one read)."""
        if turn.pending is not None and turn.pending.conversation is not None:
            return  # a new conversation has none yet
        c = Conversation.__table__.c
        query = select(c.system_prompt, c.temperature, c.top_p, c.max_tokens).where(
            c.id == turn.conversation_id, c.user_id == owner_id(turn.actor)
        )
        if self.db.runs_sync:  # SQLite: one hop to its thread, as the history read
            found = await self.db.run_sync(lambda conn: conn.execute(query).first(), write=False)
        else:
            async with self.db.connection(turn.actor) as conn:
                found = (await conn.execute(query)).first()
        if found is not None:
            apply_settings(turn, _Row.model_validate(found, from_attributes=True))


def apply_settings(turn: Turn, settings: _Row | ConversationSettings) -> None:
    if settings.system_prompt:
        turn.history.insert(0, Message(role="system", content=settings.system_prompt))
    inp = turn.input
    max_tokens = inp.max_tokens if inp.max_tokens is not None else settings.max_tokens
    limit = turn.model.max_output_tokens
    if max_tokens is not None and limit is not None:
        max_tokens = min(max_tokens, limit)
    turn.input = replace(
        inp,
        temperature=inp.temperature if inp.temperature is not None else settings.temperature,
        top_p=inp.top_p if inp.top_p is not None else settings.top_p,
        max_tokens=max_tokens,
    )
