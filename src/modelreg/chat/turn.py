"""The data of one chat turn: what the caller asked (`TurnInput`), the validated and stored
turn (`Turn`), what the model has produced so far (`Progress`) and the outcome (`TurnResult`).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from modelreg.actor import Actor
from modelreg.db.models import Message as MessageRow
from modelreg.model_config import ModelConfig
from modelreg.types import Message, ToolCall, ToolDefinition, Usage

__all__ = ["ChatEvent", "Progress", "Turn", "TurnInput", "TurnResult"]

# one server-sent event of the chat API: (event name, JSON data)
ChatEvent = tuple[str, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class TurnInput:
    messages: tuple[Message, ...]
    conversation_id: uuid.UUID | None = None
    model: str | None = None  # registry name or id
    server_tools: tuple[str, ...] = ()
    client_tools: tuple[ToolDefinition, ...] = ()
    tool_choice: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    title: str | None = None


@dataclass(slots=True)
class Turn:
    """A validated turn whose input is stored; the model has not been called yet."""

    actor: Actor
    conversation_id: uuid.UUID
    user_id: uuid.UUID
    model: ModelConfig
    history: list[Message]
    tools: tuple[ToolDefinition, ...]
    server_tools: frozenset[str]
    input: TurnInput
    assistant_id: uuid.UUID = field(default_factory=uuid.uuid4)


@dataclass(frozen=True, slots=True)
class TurnResult:
    conversation_id: uuid.UUID
    message_id: uuid.UUID
    model_id: str
    model_name: str
    text: str
    reasoning: str
    tool_calls: tuple[ToolCall, ...]  # calls to client-declared tools, for the caller to run
    usage: Usage
    cost: Decimal
    latency_ms: float
    ttft_ms: float | None
    finish_reason: str | None
    status: str  # complete | incomplete | error
    error: str | None = None
    fallback_reasons: tuple[str, ...] = ()


@dataclass(slots=True)
class Progress:
    """What a turn has produced so far, across tool rounds."""

    started: float = field(default_factory=time.perf_counter)
    served: ModelConfig | None = None
    fallback_reasons: tuple[str, ...] = ()
    text: list[str] = field(default_factory=list)  # the current round's text
    reasoning: list[str] = field(default_factory=list)
    calls: list[ToolCall] = field(default_factory=list)  # the current round's calls
    usage: Usage = field(default_factory=Usage)
    round_usage: Usage = field(default_factory=Usage)
    finish: str | None = None
    ttft_ms: float | None = None
    rounds: list[MessageRow] = field(default_factory=list)  # stored tool-round messages

    def first_output(self) -> None:
        if self.ttft_ms is None:
            self.ttft_ms = (time.perf_counter() - self.started) * 1000

    @property
    def latency_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000
