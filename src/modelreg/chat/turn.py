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
from modelreg.chat.turn_writer import TurnWrite
from modelreg.errors import ModelregError
from modelreg.model_config import ModelConfig
from modelreg.types import ChatResponse, Message, ToolCall, ToolDefinition, Usage

__all__ = ["Booking", "ChatEvent", "Final", "Progress", "Turn", "TurnInput", "TurnResult"]

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
    """A validated turn; the model has not been called yet. Its input (a new conversation,
    the caller's messages) is in `pending` until it is written: with the answer, in the same
    transaction, or before a stream starts (`ChatService.store_input`)."""

    actor: Actor
    conversation_id: uuid.UUID
    user_id: uuid.UUID
    model: ModelConfig
    history: list[Message]
    tools: tuple[ToolDefinition, ...]
    server_tools: frozenset[str]
    input: TurnInput
    pending: TurnWrite | None = None
    assistant_id: uuid.UUID = field(default_factory=uuid.uuid4)
    # the user message answered: one per model in a compare, alternatives after a regenerate
    # (chat/branches.py)
    reply_to_id: uuid.UUID | None = None
    # knowledge collections attached to the conversation (False: none; None: not known)
    has_collections: bool | None = None


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
    """What a turn leaves behind across tool rounds (each round itself is folded by the
    client's tool loop): stored round messages, usage of the ended rounds, timing."""

    started: float = field(default_factory=time.perf_counter)
    reasoning: list[str] = field(default_factory=list)  # of the rounds that ran tools
    usage: Usage = field(default_factory=Usage)  # of the rounds that ended
    ttft_ms: float | None = None
    rounds: list[dict[str, Any]] = field(default_factory=list)  # tool-round messages to store
    prompt_chars: int = 0  # the size of the first request, for an estimate of its input
    left: bool = False  # the reader of the stream went away: no further tool round
    sent: bool = False  # the upstream call started (a reader gone before it used nothing)

    def first_output(self) -> None:
        if self.ttft_ms is None:
            self.ttft_ms = (time.perf_counter() - self.started) * 1000

    @property
    def latency_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000


@dataclass(frozen=True, slots=True)
class Final:
    """The turn's last answer: its text and calls, with the usage of every round."""

    response: ChatResponse
    finish: str | None = None  # None: the model never said why it stopped
    estimated: bool = False  # the last round's usage never came; its tokens are a guess


@dataclass(frozen=True, slots=True)
class Booking:
    served: ModelConfig
    usage: Usage
    cost: Decimal
    latency_ms: float
    status: str
    error: ModelregError | None
    estimated: bool
