"""ChatService: one chat turn, with the model chosen per message, and its accounting.

A turn has two phases, so that bad input never leaves rows behind and a stream never starts
before the request is known to be valid:

1. `prepare()` checks everything (conversation ownership, model choice and usability, tool
   names, rate limits) and only then writes the conversation (when new) and the caller's
   messages, in one transaction.
2. `complete()` (JSON) or `stream()` (events) calls the model, runs server-side tool rounds,
   and stores the assistant message with the model that produced it (after fallback),
   token usage, cost, latency, time to first token, finish reason and status.

The model of a turn is, in order: the request's `model`, the conversation's model, the user's
default, the system default / first enabled global model (`registry.get_default_model`).
A request that names a model also makes it the conversation's model for later turns.

Tool rounds run here (with the client's `run_tool_calls` / `next_round_messages` helpers)
rather than inside the client, because a turn must stop as soon as the model calls a
client-declared tool, and each round's assistant and tool messages are stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from modelreg.actor import Actor
from modelreg.chat.conversations import ConversationService
from modelreg.chat.enhance import ContextEnhancer, NoopEnhancer
from modelreg.chat.events import call_json, error_type, result_json, usage_json
from modelreg.chat.store import (
    get_owned_conversation,
    history_messages,
    load_messages,
    new_message_rows,
    owner_id,
    title_from,
    tool_calls_json,
    uuid_or_none,
)
from modelreg.chat.tools import ToolRegistry
from modelreg.chat.turn import ChatEvent, Progress, Turn, TurnInput, TurnResult
from modelreg.client.tool_loop import next_round_messages, run_tool_calls
from modelreg.db.models import Conversation, utcnow
from modelreg.db.models import Message as MessageRow
from modelreg.errors import ConfigError, ModelregError, UnknownModelError, ValidationFailedError
from modelreg.model_config import ModelConfig
from modelreg.registry.usable import ensure_usable
from modelreg.types import (
    FinishEvent,
    Message,
    MetaEvent,
    ReasoningDelta,
    TextDelta,
    ToolCallEnd,
    Usage,
    UsageEvent,
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
        self._saving: set[asyncio.Task[TurnResult]] = set()

    # --- phase 1: validate, then store the input ----------------------------------------

    async def prepare(self, actor: Actor, inp: TurnInput) -> Turn:
        user_id = owner_id(actor)
        if not inp.messages:
            raise ValidationFailedError("send `message` or `messages`", field="message")
        conversation: Conversation | None = None
        if inp.conversation_id is not None:
            async with self.db.session(actor) as session:
                conversation = await get_owned_conversation(session, actor, inp.conversation_id)
        model = await self._choose_model(actor, inp.model, conversation)
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

        async with self.db.session(actor) as session:
            if conversation is None:
                first_text = next((m.text for m in inp.messages if m.role == "user"), "")
                conversation = Conversation(
                    id=uuid.uuid4(),
                    user_id=user_id,
                    title=inp.title or title_from(first_text),
                    llm_model_id=uuid_or_none(model.id),
                )
                session.add(conversation)
                await session.flush()
            else:
                conversation = await get_owned_conversation(session, actor, conversation.id)
                if inp.model is not None:
                    conversation.llm_model_id = uuid_or_none(model.id)
                conversation.updated_at = utcnow()
            session.add_all(new_message_rows(conversation, inp.messages))
            await session.flush()
            history = history_messages(await load_messages(session, conversation))
            conversation_id = conversation.id
        return Turn(
            actor=actor,
            conversation_id=conversation_id,
            user_id=user_id,
            model=model,
            history=history,
            tools=tuple(tools),
            server_tools=frozenset(inp.server_tools),
            input=inp,
        )

    async def _choose_model(
        self, actor: Actor, requested: str | None, conversation: Conversation | None
    ) -> ModelConfig:
        if requested:
            return await self.registry.resolve(actor, requested)
        if conversation is not None and conversation.llm_model_id is not None:
            with contextlib.suppress(UnknownModelError):
                return await self.registry.resolve(actor, str(conversation.llm_model_id))
        default = await self.registry.get_default_model(actor)
        if default is None:
            raise ConfigError("no model given and no default model is configured")
        return default

    # --- phase 2a: one JSON answer -------------------------------------------------------

    async def complete(self, turn: Turn) -> TurnResult:
        progress = Progress()
        messages = await self._context(turn)
        try:
            for round_no in range(MAX_TOOL_ROUNDS + 1):
                response = await self.client.chat(turn.model, messages, **self._call_args(turn))
                if response.ttft_ms is not None and progress.ttft_ms is None:
                    progress.ttft_ms = response.ttft_ms
                progress.served = await self.registry.served_config(
                    turn.model, response.served_by_id
                )
                progress.fallback_reasons = response.fallback_reasons
                progress.usage += response.usage
                progress.text = [response.text]
                progress.reasoning.append(response.reasoning)
                progress.calls = list(response.tool_calls)
                progress.finish = response.finish_reason
                if not self._runs_server_tools(turn, progress, round_no):
                    break
                messages = await self._tool_round(turn, progress, messages)
        except ModelregError as exc:
            await self._finish(turn, progress, "error", error=exc)
            raise
        if progress.ttft_ms is None:
            progress.ttft_ms = progress.latency_ms
        return await self._finish(turn, progress, "complete")

    # --- phase 2b: events as they arrive -------------------------------------------------

    async def stream(self, turn: Turn) -> AsyncIterator[ChatEvent]:
        """Events: meta, text_delta, reasoning_delta, tool_call, tool_result, usage, done —
        or error (then the message is stored as incomplete when text had arrived, else as
        error). If the consumer goes away, the text so far is stored as incomplete."""
        progress = Progress()
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
            for round_no in range(MAX_TOOL_ROUNDS + 1):
                progress.text, progress.calls, progress.round_usage = [], [], Usage()
                async for event in self.client.stream(
                    turn.model, messages, **self._call_args(turn)
                ):
                    out = await self._on_event(turn, progress, event)
                    if out is not None:
                        yield out
                progress.usage += progress.round_usage
                progress.round_usage = Usage()
                if not self._runs_server_tools(turn, progress, round_no):
                    break
                messages = await self._tool_round(turn, progress, messages)
                results = progress.rounds[-len(progress.calls) :]
                for call, row in zip(progress.calls, results, strict=True):
                    yield "tool_result", {"id": call.id, "name": call.name, "content": row.content}
            result = await self._finish(turn, progress, "complete")
            saved = True
            yield "usage", usage_json(result.usage)
            yield "done", result_json(result)
        except Exception as exc:
            if saved:
                raise
            if not isinstance(exc, ModelregError):
                log.exception("chat stream failed")
            error = exc if isinstance(exc, ModelregError) else ModelregError("internal error")
            status = "incomplete" if "".join(progress.text) else "error"
            result = await self._finish(turn, progress, status, error=error)
            saved = True
            yield (
                "error",
                {
                    "type": error_type(error),
                    "message": error.message,
                    "message_id": str(result.message_id),
                    "status": status,
                },
            )
        finally:
            if not saved:
                # the consumer went away mid-stream: keep what arrived, in a task that the
                # cancellation of this one cannot interrupt
                self._save_in_background(turn, progress)

    async def _on_event(self, turn: Turn, progress: Progress, event: Any) -> ChatEvent | None:
        if isinstance(event, TextDelta):
            progress.first_output()
            progress.text.append(event.text)
            return "text_delta", {"text": event.text}
        if isinstance(event, ReasoningDelta):
            progress.first_output()
            progress.reasoning.append(event.text)
            return "reasoning_delta", {"text": event.text}
        if isinstance(event, ToolCallEnd):
            progress.first_output()
            progress.calls.append(event.call)
            return "tool_call", call_json(event.call, server=event.call.name in turn.server_tools)
        if isinstance(event, UsageEvent):
            progress.round_usage = event.usage
        elif isinstance(event, FinishEvent):
            progress.finish = event.reason
        elif isinstance(event, MetaEvent) and event.served_by_id is not None:
            progress.served = await self.registry.served_config(turn.model, event.served_by_id)
            progress.fallback_reasons = event.fallback_reasons
        return None

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
    def _runs_server_tools(turn: Turn, progress: Progress, round_no: int) -> bool:
        """Another round only when every call is to a server-side tool (a call to a
        client-declared tool ends the turn: the caller runs it and sends the result)."""
        return (
            bool(progress.calls)
            and progress.finish == "tool_calls"
            and all(c.name in turn.server_tools for c in progress.calls)
            and round_no < MAX_TOOL_ROUNDS
        )

    async def _tool_round(
        self, turn: Turn, progress: Progress, messages: list[Message]
    ) -> list[Message]:
        text = "".join(progress.text)
        results = await run_tool_calls(progress.calls, self.tools.call)
        now = utcnow()
        served = progress.served or turn.model
        progress.rounds.append(
            MessageRow(
                id=uuid.uuid4(), conversation_id=turn.conversation_id, user_id=turn.user_id,
                role="assistant", content=text, tool_calls=tool_calls_json(progress.calls),
                llm_model_id=uuid_or_none(served.id), model_name=served.name,
                finish_reason="tool_calls", status="complete", created_at=now,
            )
        )  # fmt: skip
        for call, result in zip(progress.calls, results, strict=True):
            progress.rounds.append(
                MessageRow(
                    id=uuid.uuid4(), conversation_id=turn.conversation_id,
                    user_id=turn.user_id, role="tool", content=result, tool_call_id=call.id,
                    status="complete", created_at=utcnow(),
                )
            )  # fmt: skip
        return list(next_round_messages(messages, text, progress.calls, results))

    def _save_in_background(self, turn: Turn, progress: Progress) -> None:
        task = asyncio.create_task(self._finish(turn, progress, "incomplete"))
        self._saving.add(task)
        task.add_done_callback(self._saving.discard)

    async def _finish(
        self,
        turn: Turn,
        progress: Progress,
        status: str,
        *,
        error: ModelregError | None = None,
    ) -> TurnResult:
        """Store the assistant message, book usage, cost, metrics and token limits."""
        served = progress.served or turn.model
        usage = progress.usage if status == "complete" else progress.usage + progress.round_usage
        cost = served.cost(usage.input_tokens, usage.output_tokens)
        latency = progress.latency_ms
        text = "".join(progress.text)
        client_calls = tuple(c for c in progress.calls if c.name not in turn.server_tools)
        finish = progress.finish or ("error" if status == "error" else None)
        if status != "complete" and finish is None:
            finish = "error"
        row = MessageRow(
            id=turn.assistant_id,
            conversation_id=turn.conversation_id,
            user_id=turn.user_id,
            role="assistant",
            content=text,
            tool_calls=tool_calls_json(progress.calls if status == "complete" else ()),
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
            created_at=utcnow(),
        )
        try:
            async with self.db.session(turn.actor) as session:
                session.add_all([*progress.rounds, row])
                conversation = await session.get(Conversation, turn.conversation_id)
                if conversation is not None:
                    conversation.updated_at = utcnow()
        except Exception:
            log.exception("could not store the assistant message of %s", turn.conversation_id)
        self._account(turn, served, usage, cost, latency, progress.ttft_ms, status, error)
        await self.limiter.add_tokens(turn.actor, served, usage.total_tokens)
        return TurnResult(
            conversation_id=turn.conversation_id,
            message_id=turn.assistant_id,
            model_id=served.id,
            model_name=served.name,
            text=text,
            reasoning="".join(progress.reasoning),
            tool_calls=client_calls if status == "complete" else (),
            usage=usage,
            cost=cost,
            latency_ms=latency,
            ttft_ms=progress.ttft_ms,
            finish_reason=finish,
            status=status,
            error=error.message if error is not None else None,
            fallback_reasons=progress.fallback_reasons,
        )

    def _account(
        self,
        turn: Turn,
        served: ModelConfig,
        usage: Usage,
        cost: Decimal,
        latency_ms: float,
        ttft_ms: float | None,
        status: str,
        error: ModelregError | None,
    ) -> None:
        self.usage.record(
            user_id=turn.user_id,
            llm_model_id=served.id,
            model_name=served.name,
            source="chat",
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cached_tokens=usage.cached_read_tokens,
            cost=cost,
            latency_ms=latency_ms,
            ttft_ms=ttft_ms,
            status={"complete": "ok"}.get(status, status),
        )
        if error is not None:
            self.metrics.record_upstream_error(served.name, served.provider, type(error).__name__)
        else:
            self.metrics.observe_upstream(
                served.name,
                served.provider,
                latency_ms / 1000,
                ttft_ms / 1000 if ttft_ms is not None else None,
            )
        self.metrics.record_usage(served.name, usage.input_tokens, usage.output_tokens, cost)
