"""Folding unified stream events into a ChatResponse, and reassembling tool calls.

Two small pieces, so that every adapter's stream loop stays short:

- `ToolCallAssembler` is used *inside* adapters: it tracks tool calls by index while their
  argument fragments arrive (possibly interleaved), emits `ToolCallStart` / `ToolCallDelta`,
  and at the end parses each call's arguments exactly once into a `ToolCallEnd`.
- `StreamAccumulator` is used by *consumers* (the client, non-streaming parse paths): it folds
  any sequence of `StreamEvent`s into one `ChatResponse`. It trusts `ToolCallEnd` when it
  comes and assembles calls itself when a producer never sent one.

Invalid tool arguments never raise: the call keeps `raw_arguments`, gets `arguments_error`,
and the response carries a warning.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from modelreg.providers._common import parse_tool_arguments
from modelreg.types import (
    ChatResponse,
    FinishEvent,
    FinishReason,
    MetaEvent,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
    UsageEvent,
)

__all__ = ["StreamAccumulator", "ToolCallAssembler", "fold_events", "tool_call_warning"]


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

    def end_all(self) -> list[ToolCallEnd]:
        ends = [self.end(index) for index in sorted(self._pending)]
        return [end for end in ends if end is not None]


class StreamAccumulator:
    """Folds stream events into a ChatResponse. Each UsageEvent carries totals; the last wins."""

    def __init__(self) -> None:
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._tools = ToolCallAssembler()
        self._calls: dict[int, ToolCall] = {}
        self._usage: Usage | None = None
        self._finish: FinishEvent | None = None
        self._response_id: str | None = None
        self._model = ""
        self._meta: MetaEvent | None = None
        self._warnings: list[str] = []

    @property
    def finished(self) -> bool:
        return self._finish is not None

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
            served_by_id=self._meta.served_by_id if self._meta else None,
            served_by_name=self._meta.served_by_name if self._meta else None,
            fallback_reasons=self._meta.fallback_reasons if self._meta else (),
            warnings=tuple(warnings),
        )


def fold_events(events: Iterable[StreamEvent]) -> ChatResponse:
    """The non-streaming path: an adapter lists the events a body stands for, this folds them."""
    return StreamAccumulator().add_all(events).result()
