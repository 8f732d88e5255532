"""The tool-call loop: run the calls a model asked for and hand the results back.

The loop is provider-neutral: it appends the assistant turn (with its tool calls) and one
`tool` message per call in the unified form; each adapter turns those into its provider's
shape (OpenAI `tool` messages, Anthropic `tool_result` blocks, Ollama `tool_name`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace

from modelreg.types import (
    ChatRequest,
    ChatResponse,
    FinishEvent,
    FinishReason,
    Message,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallEnd,
    Usage,
    UsageEvent,
)

__all__ = [
    "RoundCollector",
    "ToolHandler",
    "next_round_messages",
    "run_tool_calls",
    "run_tool_loop",
]

ToolHandler = Callable[[ToolCall], Awaitable[str]]


async def _run_one(call: ToolCall, handler: ToolHandler) -> str:
    if call.arguments_error is not None:
        # the model sees why, and can correct itself in the next round
        return f"error: the arguments were not a valid JSON object ({call.arguments_error})"
    try:
        return await handler(call)
    except Exception as e:  # a failing tool is an answer for the model, not a crash
        return f"error: the tool failed: {type(e).__name__}: {e}"


async def run_tool_calls(calls: Sequence[ToolCall], handler: ToolHandler) -> list[str]:
    """Run the calls concurrently (parallel tool calls are independent by definition);
    results come back in the order of the calls."""
    return list(await asyncio.gather(*(_run_one(call, handler) for call in calls)))


def next_round_messages(
    messages: Sequence[Message], text: str, calls: Sequence[ToolCall], results: Sequence[str]
) -> tuple[Message, ...]:
    assistant = Message(role="assistant", content=text or None, tool_calls=tuple(calls))
    answers = (
        Message(role="tool", content=result, tool_call_id=call.id, name=call.name)
        for call, result in zip(calls, results, strict=True)
    )
    return (*messages, assistant, *answers)


async def run_tool_loop(
    send: Callable[[ChatRequest], Awaitable[ChatResponse]],
    request: ChatRequest,
    handler: ToolHandler,
    max_rounds: int,
) -> ChatResponse:
    """Call `send` until the model stops asking for tools or `max_rounds` tool rounds ran.
    The answer carries the usage of every round and every fallback reason seen."""
    usage = Usage()
    reported = False
    reasons: list[str] = []
    messages = request.messages
    rounds = 0
    while True:
        response = await send(replace(request, messages=messages))
        usage += response.usage
        reported = reported or response.usage_reported
        reasons.extend(r for r in response.fallback_reasons if r not in reasons)
        warnings = response.warnings
        if not response.tool_calls or response.finish_reason != "tool_calls":
            break
        if rounds >= max_rounds:
            warnings = (*warnings, f"stopped after {max_rounds} tool rounds")
            break
        results = await run_tool_calls(response.tool_calls, handler)
        messages = next_round_messages(messages, response.text, response.tool_calls, results)
        rounds += 1
    return replace(
        response,
        usage=usage,
        usage_reported=reported,
        fallback_reasons=tuple(reasons),
        warnings=warnings,
    )


@dataclass(slots=True)
class RoundCollector:
    """What the streamed tool loop needs from one round: its text, completed calls, finish."""

    text: list[str] = field(default_factory=list)
    calls: list[ToolCall] = field(default_factory=list)
    finish: FinishReason | None = None
    usage: Usage = field(default_factory=Usage)

    def add(self, event: StreamEvent) -> None:
        if isinstance(event, TextDelta):
            self.text.append(event.text)
        elif isinstance(event, ToolCallEnd):
            self.calls.append(event.call)
        elif isinstance(event, UsageEvent):
            self.usage = event.usage
        elif isinstance(event, FinishEvent):
            self.finish = event.reason

    @property
    def wants_tools(self) -> bool:
        return bool(self.calls) and self.finish == "tool_calls"
