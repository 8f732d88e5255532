"""ChatService: one chat turn, with the model chosen per message, and its accounting.

A turn has two phases, so that bad input never leaves rows behind and a stream never starts
before the request is known to be valid:

1. `prepare()` checks everything (conversation ownership, model choice and usability, tool
   names, rate limits) with at most one read (a continuing conversation and its history, in
   one query); the rows of the conversation (when new) and of the caller's messages wait in
   the turn.
2. `complete()` (JSON) or `stream()` (events) calls the model, runs server-side tool rounds,
   and stores the assistant message with the model that produced it (after fallback),
   token usage, cost, latency, time to first token, finish reason and status.

Writes go through the `TurnWriter` (group commit). A JSON turn writes once, conversation,
input and answer together, before the answer is sent; a stream writes its input before it
starts (`store_input`: an outage is still a 503) and its answer before `done`. A turn a
client received complete is committed; one cut off by a crash leaves nothing (JSON) or its
input (stream).

The model of a turn is, in order: the request's `model`, the conversation's model, the user's
default, the system default / first enabled global model (`registry.get_default_model`).
A request that names a model also makes it the conversation's model for later turns.

Tool rounds run in the client's tool loop (client/tool_loop.py), which folds each streamed
round with the one `StreamAccumulator`; this service tells it which calls to run (server-side
tools only: a call to a client-declared tool ends the turn) and stores each round's assistant
and tool messages from its per-round callback. A stream whose reader leaves is read on for a
short grace (client/detached.py), so its usage is booked, or estimated and marked as such.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncGenerator, Callable
from dataclasses import replace
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from modelreg.actor import Actor
from modelreg.chat.conversations import ConversationService
from modelreg.chat.enhance import ContextEnhancer, NoopEnhancer
from modelreg.chat.events import call_json, error_type, result_json, usage_json
from modelreg.chat.store import (
    conversation_row,
    history_messages,
    message_row,
    new_message_rows,
    owner_id,
    price_columns,
    read_history,
    title_from,
    tool_calls_json,
    uuid_or_none,
)
from modelreg.chat.tools import ToolRegistry
from modelreg.chat.turn import Booking, ChatEvent, Final, Progress, Turn, TurnInput, TurnResult
from modelreg.chat.turn_accounting import account_turn
from modelreg.chat.turn_writer import ConversationTouch, TurnWrite, TurnWriter
from modelreg.client.detached import DetachableStream, StreamEnd
from modelreg.client.tool_loop import OnRound, ToolRound
from modelreg.db.models import utcnow
from modelreg.errors import ConfigError, ModelregError, UnknownModelError, ValidationFailedError
from modelreg.model_config import ModelConfig
from modelreg.providers.accumulate import StreamAccumulator, request_chars
from modelreg.registry.usable import ensure_usable
from modelreg.types import (
    ChatResponse,
    Message,
    ReasoningDelta,
    RefusalDelta,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallEnd,
)

if TYPE_CHECKING:
    from modelreg.chat.usage import UsageRecorder
    from modelreg.client import UnifiedLLMClient
    from modelreg.db.engine import Database
    from modelreg.metrics import Metrics
    from modelreg.ratelimit import RateLimiter
    from modelreg.registry.service import ModelManagerService

__all__ = ["ChatEvent", "ChatService", "Turn", "TurnInput", "TurnResult"]

log = logging.getLogger(__name__)
MAX_TOOL_ROUNDS = 8


class ChatService:
    def __init__(
        self,
        db: Database,
        registry: ModelManagerService,
        client: UnifiedLLMClient,
        usage: UsageRecorder,
        limiter: RateLimiter,
        metrics: Metrics,
        enhancer: ContextEnhancer | None = None,
        tools: ToolRegistry | None = None,
    ) -> None:
        self.db = db
        self.registry = registry
        self.client = client
        self.usage = usage
        self.limiter = limiter
        self.metrics = metrics
        self.enhancer: ContextEnhancer = enhancer or NoopEnhancer()
        self.tools = tools or ToolRegistry()
        self.conversations = ConversationService(db, registry)
        self.writer = TurnWriter(db)
        self._saving: set[asyncio.Task[None]] = set()

    # --- phase 1: validate, read the conversation ----------------------------------------

    async def prepare(self, actor: Actor, inp: TurnInput) -> Turn:
        user_id = owner_id(actor)
        if not inp.messages:
            raise ValidationFailedError("send `message` or `messages`", field="message")
        if inp.conversation_id is None and not any(m.role == "user" for m in inp.messages):
            # nothing to answer: providers refuse it (Anthropic: the first turn must be a user's)
            raise ValidationFailedError(
                "a new conversation needs a user message to answer", field="messages"
            )
        model_of_conversation: uuid.UUID | None = None
        history: list[Message] = []
        has_collections = False  # a new conversation has none yet
        if inp.conversation_id is not None:
            model_of_conversation, history, has_collections = await read_history(
                self.db, actor, inp.conversation_id
            )
        model = await self._choose_model(
            actor, inp.model, inp.conversation_id is not None, model_of_conversation
        )
        ensure_usable(model)
        unknown = [name for name in inp.server_tools if name not in self.tools]
        if unknown:
            raise ValidationFailedError(f"no server-side tool named {unknown[0]!r}", field="tools")
        tools = (*self.tools.definitions(inp.server_tools), *inp.client_tools)
        if tools and not model.supports_functions:
            raise ValidationFailedError(
                f"model {model.name!r} does not support tool calling", field="tools"
            )
        await self.limiter.check_request(actor, model)
        await self.limiter.check_tokens(actor, model)

        now = utcnow()
        pending = TurnWrite(actor, user_id)
        if inp.conversation_id is None:
            conversation_id = uuid.uuid4()
            first_text = next((m.text for m in inp.messages if m.role == "user"), "")
            title = inp.title or title_from(first_text)
            pending.conversation = conversation_row(conversation_id, user_id, title, model, now)
        else:
            conversation_id = inp.conversation_id
            named = inp.model is not None  # a named model becomes the conversation's model
            pending.touch = ConversationTouch(
                conversation_id, now, named, uuid_or_none(model.id) if named else None
            )
        pending.messages = new_message_rows(conversation_id, user_id, inp.messages, start=now)
        # the input as it is stored (text only, as the history of later turns will have it)
        history.extend(history_messages([SimpleNamespace(**r) for r in pending.messages]))
        return Turn(
            actor=actor,
            conversation_id=conversation_id,
            user_id=user_id,
            model=model,
            history=history,
            tools=tuple(tools),
            server_tools=frozenset(inp.server_tools),
            input=inp,
            pending=pending,
            has_collections=has_collections,
        )

    async def store_input(self, turn: Turn) -> None:
        """Write the turn's input now (a stream does, before it starts); raises
        DatabaseUnavailableError when the database cannot be reached."""
        pending, turn.pending = turn.pending, None
        if pending is not None:
            await self.writer.write(pending)

    async def _choose_model(
        self,
        actor: Actor,
        requested: str | None,
        continuing: bool,
        conversation_model: uuid.UUID | None,
    ) -> ModelConfig:
        if requested:
            return await self.registry.resolve(actor, requested)
        if continuing and conversation_model is not None:
            with contextlib.suppress(UnknownModelError):
                return await self.registry.resolve(actor, str(conversation_model))
        default = await self.registry.get_default_model(actor)
        if default is None:
            raise ConfigError("no model given and no default model is configured")
        return default

    # --- phase 2a: one JSON answer -------------------------------------------------------

    async def complete(self, turn: Turn) -> TurnResult:
        progress = Progress()
        messages = await self._context(turn)
        try:
            response = await self.client.chat(
                turn.model, messages, tool_handler=self.tools.call,
                handles=self._handles(turn, progress), on_round=self._on_round(turn, progress),
                max_tool_rounds=MAX_TOOL_ROUNDS, **self._call_args(turn),
            )  # fmt: skip
        except ModelregError as exc:
            with contextlib.suppress(Exception):  # the model's error is the one to report
                await self._finish(turn, progress, Final(ChatResponse(usage=progress.usage)),
                                   "error", error=exc)  # fmt: skip
            raise
        if progress.ttft_ms is None:
            progress.ttft_ms = progress.latency_ms
        return await self._finish(turn, progress, Final(response, response.finish_reason),
                                  "complete")  # fmt: skip

    # --- phase 2b: events as they arrive -------------------------------------------------

    async def stream(self, turn: Turn) -> AsyncGenerator[ChatEvent, None]:
        """Events: meta, text_delta, reasoning_delta, tool_call, tool_result, usage, done —
        or error (then the message is stored as incomplete when text had arrived, else as
        error). If the consumer goes away, the upstream is read on for a short grace (for the
        usage), then the message is stored as incomplete with the tokens (or an estimate)."""
        progress = Progress()
        fold = StreamAccumulator()  # the client's tool loop folds each round into it
        events: DetachableStream[StreamEvent | ToolRound] | None = None
        saved = False
        yield (
            "meta",
            {
                "conversation_id": str(turn.conversation_id),
                "message_id": str(turn.assistant_id),
                "model": {"id": turn.model.id, "name": turn.model.name},
            },
        )
        try:
            messages = await self._context(turn)
            progress.prompt_chars = request_chars(messages, turn.tools)
            events = DetachableStream(self.client.stream_tool_loop(
                turn.model, messages, self.tools.call, max_tool_rounds=MAX_TOOL_ROUNDS,
                handles=self._handles(turn, progress), on_round=self._on_round(turn, progress),
                fold=fold, **self._call_args(turn),
            ))  # fmt: skip
            progress.sent = True
            async for item in events:
                for out in self._on_event(turn, progress, item):
                    yield out
            try:
                result = await self._finish(turn, progress, self._final(fold, progress), "complete")
            finally:
                saved = True  # tried: booked, and not written a second time as an error
            yield "usage", usage_json(result.usage)
            yield "done", result_json(result)
        except Exception as exc:
            if saved:
                if isinstance(exc, ModelregError):  # the answer could not be stored
                    yield "error", {
                        "type": error_type(exc), "message": exc.message,
                        "message_id": str(turn.assistant_id), "status": "error",
                    }  # fmt: skip
                    return
                raise
            if events is not None:
                events.cancel()
            if not isinstance(exc, ModelregError):
                log.exception("chat stream failed")
            error = exc if isinstance(exc, ModelregError) else ModelregError("internal error")
            status = "incomplete" if fold.text else "error"
            final = self._final(fold, progress)
            saved = True
            with contextlib.suppress(Exception):  # the first error is the one to report
                await self._finish(turn, progress, final, status, error=error)
            yield (
                "error",
                {
                    "type": error_type(error),
                    "message": error.message,
                    "message_id": str(turn.assistant_id),
                    "status": status,
                },
            )
        finally:
            if not saved:
                self._keep_after_leaving(turn, progress, fold, events)

    def _keep_after_leaving(
        self,
        turn: Turn,
        progress: Progress,
        fold: StreamAccumulator,
        events: DetachableStream[StreamEvent | ToolRound] | None,
    ) -> None:
        """The consumer went away mid-stream: no further tool round; the upstream is read on
        for a grace (for its usage), then what arrived is stored, in a task that the
        cancellation of this one cannot interrupt."""
        progress.left = True

        async def save(_: StreamEnd | None = None) -> None:
            await self._finish(turn, progress, self._final(fold, progress), "incomplete")

        if events is None:
            task = asyncio.create_task(save())
            self._saving.add(task)
            task.add_done_callback(self._saving.discard)
        else:
            events.detach(save)

    def _on_event(
        self, turn: Turn, progress: Progress, event: StreamEvent | ToolRound
    ) -> list[ChatEvent]:
        if isinstance(event, TextDelta | RefusalDelta):  # the chat shows a refusal as text
            progress.first_output()
            return [("text_delta", {"text": event.text})]
        if isinstance(event, ReasoningDelta):
            progress.first_output()
            return [("reasoning_delta", {"text": event.text})]
        if isinstance(event, ToolCallEnd):
            progress.first_output()
            server = event.call.name in turn.server_tools
            return [("tool_call", call_json(event.call, server=server))]
        if isinstance(event, ToolRound):
            calls = event.response.tool_calls
            return [
                ("tool_result", {"id": call.id, "name": call.name, "content": content})
                for call, content in zip(calls, event.results, strict=True)
            ]
        return []

    # --- shared pieces -------------------------------------------------------------------

    async def _context(self, turn: Turn) -> list[Message]:
        return list(
            await self.enhancer.enhance(turn.actor, turn.conversation_id, tuple(turn.history))
        )

    def _call_args(self, turn: Turn) -> dict[str, Any]:
        inp = turn.input
        return {
            "tools": turn.tools or None,
            "tool_choice": inp.tool_choice if turn.tools else None,
            "temperature": inp.temperature,
            "top_p": inp.top_p,
            "max_tokens": inp.max_tokens,
        }

    @staticmethod
    def _handles(turn: Turn, progress: Progress) -> Callable[[ToolCall], bool]:
        """The loop runs server-side tools only (a call to a client-declared tool ends the
        turn: the caller runs it and sends the result), and none once the reader left."""
        return lambda call: call.name in turn.server_tools and not progress.left

    def _on_round(self, turn: Turn, progress: Progress) -> OnRound:
        async def on_round(done: ToolRound) -> None:
            response = done.response
            progress.usage += response.usage
            if progress.ttft_ms is None and response.ttft_ms is not None:
                progress.ttft_ms = response.ttft_ms
            if done.results:  # a round that ran tools: its messages are stored with the turn
                progress.reasoning.append(response.reasoning)
                progress.rounds.extend(await self._round_rows(turn, done))

        return on_round

    async def _round_rows(self, turn: Turn, done: ToolRound) -> list[dict[str, Any]]:
        response = done.response
        served = await self.registry.served_config(turn.model, response.served_by_id)
        rows = [
            message_row(
                turn.conversation_id, turn.user_id, "assistant", utcnow(),
                content=response.text, tool_calls=tool_calls_json(response.tool_calls),
                llm_model_id=uuid_or_none(served.id), model_name=served.name,
                finish_reason="tool_calls",
            )
        ]  # fmt: skip
        for call, result in zip(response.tool_calls, done.results, strict=True):
            rows.append(
                message_row(
                    turn.conversation_id, turn.user_id, "tool", utcnow(),
                    content=result, tool_call_id=call.id,
                )
            )  # fmt: skip
        return rows

    @staticmethod
    def _final(fold: StreamAccumulator, progress: Progress) -> Final:
        """The last round as folded, with the usage of every round (the last one estimated
        when its usage never came)."""
        # a reader gone before the upstream call started: no prompt was sent, none to estimate
        stopped = progress.left and progress.sent
        usage, estimated = fold.usage_or_estimate(progress.prompt_chars, stopped=stopped)
        return Final(replace(fold.result(), usage=usage), fold.finish_reason, estimated)

    async def _finish(
        self,
        turn: Turn,
        progress: Progress,
        final: Final,
        status: str,
        *,
        error: ModelregError | None = None,
    ) -> TurnResult:
        """Store the assistant message, book usage, cost, metrics and token limits."""
        answer = final.response
        served = await self.registry.served_config(turn.model, answer.served_by_id)
        usage = answer.usage
        cost = served.usage_cost(usage)
        latency = progress.latency_ms
        calls = answer.tool_calls if status == "complete" else ()
        client_calls = tuple(c for c in calls if c.name not in turn.server_tools)
        finish = final.finish if final.finish is not None or status == "complete" else "error"
        row = message_row(
            turn.conversation_id,
            turn.user_id,
            "assistant",
            utcnow(),
            id=turn.assistant_id,
            reply_to_id=turn.reply_to_id,
            content=answer.text or answer.refusal or "",
            tool_calls=tool_calls_json(calls),
            llm_model_id=uuid_or_none(served.id),
            model_name=served.name,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cached_tokens=usage.cached_read_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            cost=cost,
            latency_ms=latency,
            ttft_ms=progress.ttft_ms,
            finish_reason=finish,
            status=status,
            error=error.message[:2000] if error is not None else None,
            usage_estimated=final.estimated,
            **price_columns(served.unit_prices()),
        )
        # the input too, when it has not been written yet: one transaction for the turn
        work = turn.pending or TurnWrite(turn.actor, turn.user_id)
        turn.pending = None
        work.messages = [*work.messages, *progress.rounds, row]
        if work.conversation is None and work.touch is None:
            work.touch = ConversationTouch(turn.conversation_id, utcnow())
        not_stored: Exception | None = None
        try:
            await self.writer.write(work)
        except Exception as exc:  # booked all the same: the tokens were spent
            not_stored = exc
        outcome = Booking(served, usage, cost, latency, status, error, final.estimated)
        account_turn(self.usage, self.metrics, turn.user_id, progress.ttft_ms, outcome)
        await self.limiter.add_tokens(turn.actor, served, usage.total_tokens)
        if not_stored is not None:  # an answer that is not stored is not given as complete
            raise not_stored
        return TurnResult(
            conversation_id=turn.conversation_id,
            message_id=turn.assistant_id,
            model_id=served.id,
            model_name=served.name,
            text=answer.text or answer.refusal or "",
            reasoning="".join((*progress.reasoning, answer.reasoning)),
            tool_calls=client_calls,
            usage=usage,
            cost=cost,
            latency_ms=latency,
            ttft_ms=progress.ttft_ms,
            finish_reason=finish,
            status=status,
            error=error.message if error is not None else None,
            fallback_reasons=answer.fallback_reasons,
        )
