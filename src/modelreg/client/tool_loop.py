"""The tool-call loop: run the calls a model asked for and hand the results back.

One loop, streamed (`stream_tool_loop`, which folds each round with the one
`StreamAccumulator`) or not (`run_tool_loop`); `on_round` lets a caller store each round
(the chat service does), `handles` lets it keep calls to its caller's own tools out of the
loop. The loop is provider-neutral: it appends the assistant turn (with its tool calls) and one
`tool` message per call in the unified form; each adapter turns those into its provider's
shape (OpenAI `tool` messages, Anthropic `tool_result` blocks, Ollama `tool_name`).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from modelreg.providers.accumulate import StreamAccumulator
from modelreg.types import ChatRequest, ChatResponse, Message, StreamEvent, ToolCall, Usage

__all__ = [
    "Handles",
    "OnRound",
    "ToolHandler",
    "ToolRound",
    "next_round_messages",
    "run_tool_calls",
    "run_tool_loop",
    "stream_tool_loop",
]

ToolHandler = Callable[[ToolCall], Awaitable[str]]
# which calls the loop runs itself; a call it does not run ends the loop (default: all)
Handles = Callable[[ToolCall], bool]


@dataclass(frozen=True, slots=True)
class ToolRound:
    """One round of a tool loop as it ended: the model's answer (its usage is this round's)
    and, when the loop ran tools, their results in the order of the calls."""

    number: int  # 0 for the first call
    response: ChatResponse
    results: tuple[str, ...] = ()
    type: Literal["tool_round"] = "tool_round"


OnRound = Callable[[ToolRound], Awaitable[None]]


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


def _runs_tools(
    response: ChatResponse, handler: ToolHandler | None, handles: Handles | None
) -> bool:
    """Another round only when the model asked for tools and every call is one this loop
    runs (a call to a tool the caller runs itself ends the loop: the caller answers it)."""
    if handler is None or not response.tool_calls or response.finish_reason != "tool_calls":
        return False
    return handles is None or all(handles(call) for call in response.tool_calls)


async def run_tool_loop(
    send: Callable[[ChatRequest], Awaitable[ChatResponse]],
    request: ChatRequest,
    handler: ToolHandler,
    max_rounds: int,
    *,
    handles: Handles | None = None,
    on_round: OnRound | None = None,
) -> ChatResponse:
    """Call `send` until the model stops asking for tools or `max_rounds` tool rounds ran.
    The answer carries the usage of every round and every fallback reason seen; `on_round`
    sees each round (with its tool results) as it ends."""
    usage = Usage()
    reported = False
    reasons: list[str] = []
    messages = request.messages
    for number in itertools.count():
        response = await send(replace(request, messages=messages))
        usage += response.usage
        reported = reported or response.usage_reported
        reasons.extend(r for r in response.fallback_reasons if r not in reasons)
        warnings = response.warnings
        go_on = _runs_tools(response, handler, handles)
        if go_on and number >= max_rounds:
            warnings = (*warnings, f"stopped after {max_rounds} tool rounds")
            go_on = False
        results = tuple(await run_tool_calls(response.tool_calls, handler)) if go_on else ()
        if on_round is not None:
            await on_round(ToolRound(number, response, results))
        if not go_on:
            break
        messages = next_round_messages(messages, response.text, response.tool_calls, results)
    return replace(
        response,
        usage=usage,
        usage_reported=reported,
        fallback_reasons=tuple(reasons),
        warnings=warnings,
    )


async def stream_tool_loop(
    open_round: Callable[[ChatRequest], AsyncIterator[StreamEvent]],
    request: ChatRequest,
    handler: ToolHandler | None,
    max_rounds: int,
    *,
    handles: Handles | None = None,
    on_round: OnRound | None = None,
    fold: StreamAccumulator | None = None,
) -> AsyncIterator[StreamEvent | ToolRound]:
    """The streamed loop: each round's events as they arrive, folded into `fold` (the
    caller's, when it wants to read the state of a round that broke off), then after a round
    that ran tools its `ToolRound` (the results), then the next round's events."""
    fold = fold if fold is not None else StreamAccumulator()
    for number in itertools.count():
        if number:
            fold.begin_round()
        async for event in open_round(request):
            fold.add(event)
            yield event
        response = fold.result()
        go_on = handler is not None and _runs_tools(response, handler, handles)
        results: tuple[str, ...] = ()
        if handler is not None and go_on and number < max_rounds:
            results = tuple(await run_tool_calls(response.tool_calls, handler))
        else:
            go_on = False
        done = ToolRound(number, response, results)
        if on_round is not None:
            await on_round(done)
        if not go_on:
            return
        yield done
        calls = response.tool_calls
        messages = next_round_messages(request.messages, response.text, calls, results)
        request = replace(request, messages=messages)
