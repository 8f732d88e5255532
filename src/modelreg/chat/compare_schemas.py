"""JSON shapes of side-by-side compare (/api/chat/compare) and the blind arena (/api/arena)."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, field_validator

from modelreg.chat.compare import MAX_MODELS, MIN_MODELS
from modelreg.chat.schemas import ModelRef, UsageOut
from modelreg.nul import NulFree

__all__ = [
    "ArenaAnswer",
    "ArenaIn",
    "ArenaOut",
    "CompareAnswer",
    "CompareIn",
    "CompareOut",
    "LeaderboardOut",
    "LeaderboardRow",
    "RevealedModel",
    "VoteIn",
    "VoteOut",
]


class _Strict(NulFree):
    model_config = ConfigDict(extra="forbid")


class CompareIn(_Strict):
    model_ids: list[StrictStr] = Field(
        min_length=MIN_MODELS,
        max_length=MAX_MODELS,
        description=f"{MIN_MODELS} to {MAX_MODELS} distinct chat models (registry ids or names)",
    )
    message: StrictStr = Field(min_length=1, max_length=1_000_000, description="The prompt")
    conversation_id: uuid.UUID | None = Field(
        default=None, description="Continue this conversation; a new one is created if absent"
    )
    stream: StrictBool = Field(default=False, description="Answer as Server-Sent Events")

    @field_validator("model_ids")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if any(not v or len(v) > 255 for v in value):
            raise ValueError("each model is a registry id or name of 1 to 255 characters")
        if len(set(value)) != len(value):
            raise ValueError("names a model twice; give distinct models")
        return value


class ErrorOut(BaseModel):
    type: str
    message: str


class CompareAnswer(BaseModel):
    column: int = Field(description="The position of the model in `model_ids`")
    model_id: str = Field(description="The model asked (as resolved from `model_ids`)")
    model: ModelRef = Field(description="The model that answered (after any fallback)")
    message_id: uuid.UUID
    content: str
    usage: UsageOut
    cost: str = Field(description="Decimal, in the currency of the model's prices")
    latency_ms: float
    ttft_ms: float | None
    finish_reason: str | None
    status: Literal["complete", "incomplete", "error"]
    error: ErrorOut | None = None


class CompareOut(BaseModel):
    conversation_id: uuid.UUID
    reply_to_id: uuid.UUID = Field(description="The stored user message every answer replies to")
    answers: list[CompareAnswer]


class ArenaIn(_Strict):
    message: StrictStr = Field(min_length=1, max_length=1_000_000, description="The prompt")
    stream: StrictBool = Field(default=False, description="Answer as Server-Sent Events")


class ArenaAnswer(BaseModel):
    label: Literal["A", "B"]
    column: int
    message_id: uuid.UUID
    content: str
    status: Literal["complete", "incomplete", "error"]
    error: ErrorOut | None = None


class ArenaOut(BaseModel):
    """A battle before the vote: the answers, never the models' names."""

    battle_id: uuid.UUID
    conversation_id: uuid.UUID
    answers: list[ArenaAnswer]


class VoteIn(_Strict):
    vote: Literal["a", "b", "tie", "both_bad"]


class RevealedModel(BaseModel):
    label: Literal["A", "B"]
    model_id: str | None = Field(description="None once the model was deleted")
    name: str


class VoteOut(BaseModel):
    battle_id: uuid.UUID
    vote: Literal["a", "b", "tie", "both_bad"]
    models: list[RevealedModel]


class LeaderboardRow(BaseModel):
    model_id: str | None
    name: str
    rating: float = Field(description="Bradley-Terry strength on an Elo-like scale (mean 1000)")
    rating_low: float = Field(description="Lower end of the 95 % bootstrap interval")
    rating_high: float = Field(description="Upper end of the 95 % bootstrap interval")
    rank: int
    rank_best: int = Field(description="The best rank the intervals allow")
    rank_worst: int = Field(description="The worst rank the intervals allow")
    votes: int
    wins: int
    losses: int
    ties: int = Field(description="Ties and both-bad votes (each counts as half a win)")


class LeaderboardOut(BaseModel):
    scope: Literal["company", "mine"]
    method: Literal["bradley_terry"] = "bradley_terry"
    votes: int
    both_bad: int
    resamples: int
    confidence: float = 0.95
    models: list[LeaderboardRow]
