"""Folding unified stream events into a ChatResponse, and reassembling tool calls.

Two small pieces, so that every adapter's stream loop stays short:

- `ToolCallAssembler` is used *inside* adapters: it tracks tool calls by index while their
  argument fragments arrive (possibly interleaved), emits `ToolCallStart` / `ToolCallDelta`,
  and at the end parses each call's arguments exactly once into a `ToolCallEnd`.
- `StreamAccumulator` is the one fold, used by every consumer: the client's tool loop, the
  chat service, the gateway's translated streams and the non-streaming parse paths. It folds
  any sequence of `StreamEvent`s into one `ChatResponse`, trusts `ToolCallEnd` when it comes
  and assembles calls itself when a producer never sent one. Across tool rounds
  (`begin_round`) it keeps the usage summed, and it can stand in an estimate for a round
  whose usage never came (a client that left, an upstream that does not report it).

Invalid tool arguments never raise: the call keeps `raw_arguments`, gets `arguments_error`,
and the response carries a warning.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson

from modelreg.providers._common import parse_tool_arguments
from modelreg.types import (
    ChatResponse,
    FinishEvent,
    FinishReason,
    Message,
    MetaEvent,
    ReasoningBlock,
    ReasoningDelta,
    ReasoningSignature,
    RefusalDelta,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    ToolDefinition,
    Usage,
    UsageEvent,
)

__all__ = [
    "CHARS_PER_TOKEN",
    "StreamAccumulator",
    "ToolCallAssembler",
    "estimate_tokens",
    "fold_events",
    "request_chars",
    "tool_call_warning",
]

# a rough, provider-neutral ratio for English text and JSON; used only where usage never came
CHARS_PER_TOKEN = 4


def estimate_tokens(chars: int) -> int:
    return -(-chars // CHARS_PER_TOKEN) if chars > 0 else 0


def request_chars(messages: Iterable[Message], tools: Iterable[ToolDefinition] = ()) -> int:
    """The size of a request's text (messages, their tool calls, tool schemas): what an
    estimate of its input tokens starts from."""
    size = 0
    for message in messages:
        calls = message.tool_calls
        size += len(message.text) + sum(len(c.raw_arguments) + len(c.name) for c in calls)
    for tool in tools:
        size += len(tool.name) + len(tool.description) + len(orjson.dumps(tool.parameters))
    return size


@dataclass(slots=True)
class _PendingCall:
    id: str
    name: str
    fragments: list[str] = field(default_factory=list)

    def build(self) -> ToolCall:
        raw = "".join(self.fragments)
        arguments, error = parse_tool_arguments(raw)
        return ToolCall(
            id=self.id, name=self.name, arguments=arguments, raw_arguments=raw,
            arguments_error=error,
        )  # fmt: skip


def tool_call_warning(call: ToolCall) -> str:
    return f"tool call {call.id} ({call.name}): {call.arguments_error}; kept as raw_arguments"


class ToolCallAssembler:
    """Per-stream state of the tool calls a provider is streaming, keyed by call index."""

    def __init__(self) -> None:
        self._pending: dict[int, _PendingCall] = {}
        self._done: set[int] = set()

    @property
    def count(self) -> int:
        return len(self._pending) + len(self._done)

    def started(self, index: int) -> bool:
        return index in self._pending or index in self._done

    def start(self, index: int, call_id: str, name: str) -> ToolCallStart:
        self._pending[index] = _PendingCall(call_id, name)
        return ToolCallStart(index=index, id=call_id, name=name)

    def set_name(self, index: int, name: str) -> None:
        """Some servers send the name after the first fragment; keep the first non-empty one."""
        pending = self._pending.get(index)
        if pending is not None and not pending.name:
            pending.name = name

    def append(self, index: int, fragment: str) -> ToolCallDelta | None:
        pending = self._pending.get(index)
        if pending is None or not fragment:
            return None
        pending.fragments.append(fragment)
        return ToolCallDelta(index=index, arguments_fragment=fragment)

    def end(self, index: int) -> ToolCallEnd | None:
        pending = self._pending.pop(index, None)
        if pending is None:
            return None
        self._done.add(index)
        return ToolCallEnd(index=index, call=pending.build())

    def pending_chars(self) -> int:
        return sum(len(p.name) + sum(map(len, p.fragments)) for p in self._pending.values())

    def end_all(self) -> list[ToolCallEnd]:
        ends = [self.end(index) for index in sorted(self._pending)]
        return [end for end in ends if end is not None]


class StreamAccumulator:
    """Folds stream events into a ChatResponse. Each UsageEvent carries a round's totals; the
    last wins within a round, and rounds (`begin_round`) add up."""

    def __init__(self) -> None:
        self._done_usage = Usage()  # the rounds before the current one
        self._reset()

    def _reset(self) -> None:
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._blocks: list[ReasoningBlock] = []  # closed reasoning blocks (with signatures)
        self._block_start = 0  # where the open reasoning block starts in `_reasoning`
        self._refusal: list[str] = []
        self._tools = ToolCallAssembler()
        self._calls: dict[int, ToolCall] = {}
        self._usage: Usage | None = None
        self._finish: FinishEvent | None = None
        self._response_id: str | None = None
        self._model = ""
        self._meta: MetaEvent | None = None
        self._warnings: list[str] = []

    def begin_round(self) -> None:
        """A tool loop's next round: the text, calls and finish start afresh; the usage so
        far is kept (`total_usage`), as are the serving model and fallback reasons."""
        self._done_usage += self._usage or Usage()
        meta = self._meta
        self._reset()
        self._meta = meta

    @property
    def finished(self) -> bool:
        return self._finish is not None

    @property
    def finish_reason(self) -> FinishReason | None:
        return self._finish.reason if self._finish is not None else None

    @property
    def round_usage(self) -> Usage | None:
        """The current round's usage, None while the provider has not reported it."""
        return self._usage

    @property
    def total_usage(self) -> Usage:
        return self._done_usage + (self._usage or Usage())

    @property
    def served_by_id(self) -> str | None:
        return self._meta.served_by_id if self._meta else None

    @property
    def fallback_reasons(self) -> tuple[str, ...]:
        return self._meta.fallback_reasons if self._meta else ()

    @property
    def output_chars(self) -> int:
        """Characters the current round produced (text, reasoning, tool calls so far)."""
        calls = sum(len(c.raw_arguments or "") + len(c.name) for c in self._calls.values())
        pending = self._tools.pending_chars()
        return sum(map(len, self._text)) + sum(map(len, self._reasoning)) + calls + pending

    def usage_or_estimate(self, prompt_chars: int, *, stopped: bool = False) -> tuple[Usage, bool]:
        """The usage of all rounds; a current round that reported none (and produced output,
        or was `stopped` by its reader: the prompt was sent all the same) is estimated from
        its output and `prompt_chars`, the size of what was sent. Returns (usage, whether any
        of it is an estimate)."""
        output = self.output_chars
        if self._usage is not None or (output == 0 and self._finish is None and not stopped):
            return self.total_usage, False
        guess = Usage(
            input_tokens=max(1, estimate_tokens(prompt_chars)),
            output_tokens=estimate_tokens(output),
        )
        return self._done_usage + guess, True

    @property
    def text(self) -> str:
        return "".join(self._text)

    def add_warning(self, message: str) -> None:
        self._warnings.append(message)

    def add(self, event: StreamEvent) -> None:
        if isinstance(event, TextDelta):
            self._text.append(event.text)
        elif isinstance(event, ReasoningDelta):
            self._reasoning.append(event.text)
        elif isinstance(event, ReasoningSignature):
            text = "".join(self._reasoning[self._block_start :])
            self._block_start = len(self._reasoning)
            self._blocks.append(ReasoningBlock(text, event.signature, event.redacted_data))
        elif isinstance(event, RefusalDelta):
            self._refusal.append(event.text)
        elif isinstance(event, ToolCallStart):
            self._tools.start(event.index, event.id, event.name)
        elif isinstance(event, ToolCallDelta):
            self._tools.append(event.index, event.arguments_fragment)
        elif isinstance(event, ToolCallEnd):
            self._tools.end(event.index)  # drop our copy: the producer's parse is the one
            self._calls[event.index] = event.call
        elif isinstance(event, UsageEvent):
            self._usage = event.usage
        elif isinstance(event, FinishEvent):
            self._finish = event
        elif isinstance(event, MetaEvent):
            self._response_id = event.response_id or self._response_id
            self._model = event.model or self._model
            if event.served_by_id or event.fallback_reasons:
                self._meta = event

    def add_all(self, events: Iterable[StreamEvent]) -> StreamAccumulator:
        for event in events:
            self.add(event)
        return self

    def _reasoning_blocks(self) -> tuple[ReasoningBlock, ...]:
        """The signed blocks, and a last unsigned one for reasoning that never got a
        signature (OpenAI-compatible upstreams send none)."""
        rest = "".join(self._reasoning[self._block_start :])
        return (*self._blocks, ReasoningBlock(rest)) if rest else tuple(self._blocks)

    def result(self) -> ChatResponse:
        for end in self._tools.end_all():
            self._calls[end.index] = end.call
        calls = tuple(self._calls[i] for i in sorted(self._calls))
        warnings = list(self._warnings)
        warnings += [tool_call_warning(c) for c in calls if c.arguments_error]
        reason: FinishReason = "other"
        raw: str | None = None
        if self._finish is None:
            warnings.append("the response ended without a finish reason")
        else:
            reason, raw = self._finish.reason, self._finish.raw_reason
        return ChatResponse(
            text="".join(self._text),
            tool_calls=calls,
            finish_reason=reason,
            raw_finish_reason=raw,
            stop_sequence=self._finish.stop_sequence if self._finish else None,
            usage=self._usage or Usage(),
            usage_reported=self._usage is not None,
            model=self._model,
            response_id=self._response_id,
            reasoning="".join(self._reasoning),
            reasoning_blocks=self._reasoning_blocks(),
            refusal="".join(self._refusal) if self._refusal else None,
            served_by_id=self._meta.served_by_id if self._meta else None,
            served_by_name=self._meta.served_by_name if self._meta else None,
            fallback_reasons=self._meta.fallback_reasons if self._meta else (),
            warnings=tuple(warnings),
        )


def fold_events(events: Iterable[StreamEvent]) -> ChatResponse:
    """The non-streaming path: an adapter lists the events a body stands for, this folds them."""
    return StreamAccumulator().add_all(events).result()
