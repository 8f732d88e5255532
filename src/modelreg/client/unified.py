"""UnifiedLLMClient: one way to talk to any registered model.

A call flows: resolve the candidates (the model, then its fallbacks) → for each candidate ask
its circuit breaker → send through the provider adapter and the shared transport, retrying
retryable failures with backoff → on a failure another model might not have, record the reason
and try the next candidate. Streams follow the same path until their first event has been
handed on; from then on a failure is a `StreamInterruptedError` and nothing is retried.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass, replace
from typing import Any, Final, TypedDict, TypeVar, Unpack

from modelreg.client.connection_check import ConnectionResult, connection_reason
from modelreg.client.resilience import (
    CircuitBreakerRegistry,
    RetryPolicy,
    apply_retry_headers,
    judged,
    should_fall_back,
)
from modelreg.client.scrub import credential_bytes, scrub_bytes, scrub_chunks, scrub_credentials
from modelreg.client.stream_commit import OpenStream, aclose_events, first_event
from modelreg.client.tool_loop import (
    Handles,
    OnRound,
    ToolHandler,
    ToolRound,
    run_tool_loop,
    stream_tool_loop,
)
from modelreg.client.transport import HttpTransport
from modelreg.client.transport_api import MAX_ERROR_BODY, Timeouts, Transport, UpstreamBody
from modelreg.errors import (
    CircuitOpenError,
    ConfigError,
    ModelregError,
    ProviderError,
    ProviderStatusError,
    UnexpectedResponseError,
)
from modelreg.model_config import ModelConfig
from modelreg.providers.accumulate import StreamAccumulator
from modelreg.providers.base import ConnectionChecker, HttpRequest, ProviderAdapter
from modelreg.providers.lookup import get_adapter
from modelreg.types import (
    ChatRequest,
    ChatResponse,
    EmbeddingResponse,
    Message,
    MetaEvent,
    NativeFields,
    StreamEvent,
    ToolChoice,
    ToolDefinition,
)

__all__ = ["CallOptions", "ConnectionResult", "RawResponse", "UnifiedLLMClient"]

T = TypeVar("T")
AdapterFor = Callable[[ModelConfig], ProviderAdapter]
ResolveFallback = Callable[[str], Awaitable[ModelConfig | None]]

CONNECTION_TEST_TIMEOUTS: Final = Timeouts(connect=5.0, read=10.0, total=15.0)


@dataclass(slots=True)
class RawResponse:
    """An upstream answer whose status was good; its body is still unread. Leaving `stack`
    closes the connection (or returns it to the pool once the body was read to its end)."""

    stack: AsyncExitStack
    response: UpstreamBody
    started: float  # perf_counter() when the first attempt began


def _reason_text(model: ModelConfig, error: ModelregError) -> str:
    return f"{model.name}: {type(error).__name__}: {error.message}"[:300]


class UnifiedLLMClient:
    def __init__(
        self,
        transport: Transport | None = None,
        *,
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 -- frozen, shared safely
        breaker: CircuitBreakerRegistry | None = None,
        resolve_fallback: ResolveFallback | None = None,
        allow_private: Callable[[ModelConfig], bool] = lambda m: m.is_global,
        adapter_for: AdapterFor | None = None,
        connection_test_timeouts: Timeouts = CONNECTION_TEST_TIMEOUTS,
    ) -> None:
        self.transport: Transport = transport or HttpTransport()
        self.retry = retry
        self.breakers = breaker or CircuitBreakerRegistry()
        self._resolve_fallback = resolve_fallback
        self._allow_private = allow_private
        self._adapter_for = adapter_for or get_adapter
        self._connection_test_timeouts = connection_test_timeouts

    async def aclose(self) -> None:
        await self.transport.aclose()

    # --- public calls --------------------------------------------------------------------

    async def chat(
        self,
        model: ModelConfig,
        messages: Sequence[Message],
        *,
        tool_handler: ToolHandler | None = None,
        max_tool_rounds: int = 8,
        fallbacks: Sequence[ModelConfig] | None = None,
        handles: Handles | None = None,
        on_round: OnRound | None = None,
        **call: Unpack[CallOptions],
    ) -> ChatResponse:
        """One answer. `call`: what the request asks for (CallOptions: tools, tool_choice,
        temperature, top_p, max_tokens, stop, parallel_tool_calls, seed, extra)."""
        request = _build_request(messages, call, stream=False)

        async def send(req: ChatRequest) -> ChatResponse:
            return await self._chat_routed(model, fallbacks, req)

        if tool_handler is None:
            return await send(request)
        return await run_tool_loop(
            send, request, tool_handler, max_tool_rounds, handles=handles, on_round=on_round
        )

    async def stream(
        self,
        model: ModelConfig,
        messages: Sequence[Message],
        *,
        tool_handler: ToolHandler | None = None,
        max_tool_rounds: int = 8,
        fallbacks: Sequence[ModelConfig] | None = None,
        **call: Unpack[CallOptions],
    ) -> AsyncIterator[StreamEvent]:
        """Events as they arrive. The first is a `MetaEvent` naming the serving model. With a
        `tool_handler`, each round's events follow one another; a round that ends with
        finish reason "tool_calls" is followed by the next round's MetaEvent. (`call`: as for
        `chat`.)"""
        if tool_handler is None:
            request = _build_request(messages, call, stream=True)
            async for event in self._stream_routed(model, fallbacks, request):
                yield event
            return
        rounds = self.stream_tool_loop(
            model, messages, tool_handler, max_tool_rounds=max_tool_rounds,
            fallbacks=fallbacks, **call,
        )  # fmt: skip
        async for item in rounds:
            if not isinstance(item, ToolRound):
                yield item

    def stream_tool_loop(
        self,
        model: ModelConfig,
        messages: Sequence[Message],
        tool_handler: ToolHandler | None,
        *,
        max_tool_rounds: int = 8,
        handles: Handles | None = None,
        on_round: OnRound | None = None,
        fold: StreamAccumulator | None = None,
        fallbacks: Sequence[ModelConfig] | None = None,
        **call: Unpack[CallOptions],
    ) -> AsyncIterator[StreamEvent | ToolRound]:
        """The streamed tool loop (client/tool_loop.py): each round's events, folded into
        `fold`, and after a round that ran tools its `ToolRound` with the results."""
        request = _build_request(messages, call, stream=True)

        def open_round(req: ChatRequest) -> AsyncIterator[StreamEvent]:
            return self._stream_routed(model, fallbacks, req)

        return stream_tool_loop(
            open_round, request, tool_handler, max_tool_rounds,
            handles=handles, on_round=on_round, fold=fold,
        )  # fmt: skip

    async def embed(
        self, model: ModelConfig, inputs: Sequence[str], *, dimensions: int | None = None
    ) -> EmbeddingResponse:
        """Embeddings never fall back: another model's vectors live in another space.
        `dimensions` overrides the model's `options["dimensions"]` for this call."""
        if dimensions is not None:
            model = replace(model, options={**model.options, "dimensions": dimensions})
        adapter = self._adapter_for(model)
        http = adapter.build_embeddings_request(list(inputs), model)

        async def attempt() -> EmbeddingResponse:
            body = await self._send(adapter, http, model)
            return self._parse(lambda: adapter.parse_embeddings(body, model), model)

        return await self._with_retries(model, attempt)

    async def test_connection(self, model: ModelConfig) -> ConnectionResult:
        """One cheap request (no retries) that proves reachability and credentials."""
        started = time.perf_counter()

        def result(reason: str | None, message: str, status: int | None) -> ConnectionResult:
            latency = (time.perf_counter() - started) * 1000
            return ConnectionResult(reason is None, latency, reason, message, status)

        try:
            adapter = self._adapter_for(model)
            http = adapter.build_connection_test(model)
            async with self._open(http, model, self._connection_test_timeouts) as resp:
                await self._raise_for_status(adapter, model, resp)
                body = await resp.read()
                status = resp.status
        except ModelregError as e:
            error = scrub_credentials(e, model)
            return result(connection_reason(error), error.message, getattr(error, "status", None))
        try:
            if isinstance(adapter, ConnectionChecker):  # e.g. Ollama: is the model pulled?
                self._parse(lambda: adapter.check_connection_response(body, model), model)
        except ModelregError as e:
            error = scrub_credentials(e, model)
            return result(connection_reason(error), error.message, status)
        return result(None, "connected", status)

    # --- routing: candidates and fallback --------------------------------------------------

    async def _candidates(
        self, model: ModelConfig, fallbacks: Sequence[ModelConfig] | None, reasons: list[str]
    ) -> AsyncIterator[ModelConfig]:
        yield model
        if fallbacks is not None:
            for candidate in fallbacks:
                yield candidate
            return
        for model_id in model.fallback_model_ids:
            resolved = await self._resolve_fallback(model_id) if self._resolve_fallback else None
            if resolved is None:
                reasons.append(f"fallback {model_id}: not available")
                continue
            yield resolved

    def _skip_reason(self, model: ModelConfig, request: ChatRequest) -> str | None:
        if not model.enabled:
            return f"{model.name}: disabled"
        if request.tools and not model.supports_functions:
            return f"{model.name}: does not support tools"
        return None

    async def _route(
        self,
        model: ModelConfig,
        fallbacks: Sequence[ModelConfig] | None,
        request: ChatRequest,
        once: Callable[[ModelConfig, ChatRequest], Awaitable[T]],
    ) -> tuple[ModelConfig, T, tuple[str, ...]]:
        """Try the candidates in order; the first success wins. Returns who served it and
        why the ones before it were passed over."""
        reasons: list[str] = []
        last_error: ModelregError | None = None
        async for candidate in self._candidates(model, fallbacks, reasons):
            skip = self._skip_reason(candidate, request) if candidate is not model else None
            if skip:
                reasons.append(skip)
                continue
            try:
                outcome = await once(candidate, _with_defaults(request, candidate))
            except (ProviderError, ConfigError) as e:  # ConfigError: e.g. a missing key
                if isinstance(e, ProviderError) and not should_fall_back(e):
                    raise
                reasons.append(_reason_text(candidate, e))
                last_error = e
                continue
            return candidate, outcome, tuple(reasons)
        raise _exhausted(last_error, reasons)

    async def _chat_routed(
        self, model: ModelConfig, fallbacks: Sequence[ModelConfig] | None, request: ChatRequest
    ) -> ChatResponse:
        served, response, reasons = await self._route(model, fallbacks, request, self._chat_once)
        return replace(
            response,
            served_by_id=served.id,
            served_by_name=served.name,
            fallback_reasons=reasons,
        )

    async def _stream_routed(
        self, model: ModelConfig, fallbacks: Sequence[ModelConfig] | None, request: ChatRequest
    ) -> AsyncIterator[StreamEvent]:
        served, opened, reasons = await self._route(model, fallbacks, request, self._open_stream)
        route = MetaEvent(
            served_by_id=served.id, served_by_name=served.name, fallback_reasons=reasons
        )
        async for event in opened.hand_on(route):
            yield event

    # --- one model: breaker and retries ------------------------------------------------------

    async def _with_retries(self, model: ModelConfig, attempt: Callable[[], Awaitable[T]]) -> T:
        breaker = self.breakers.get(model.id)
        retry_index = 0
        while True:
            if not breaker.allow():
                raise CircuitOpenError(
                    f"{model.name} is failing; its circuit breaker is open",
                    provider=model.provider,
                    model=model.name,
                )
            try:
                outcome = await judged(breaker, attempt)
            except ProviderError as e:
                if retry_index >= self.retry.max_retries or not self.retry.is_retryable(e):
                    raise
                retry_after = e.retry_after if isinstance(e, ProviderStatusError) else None
                await asyncio.sleep(self.retry.delay(retry_index, retry_after))
                retry_index += 1
                continue
            return outcome

    async def _chat_once(self, model: ModelConfig, request: ChatRequest) -> ChatResponse:
        adapter = self._adapter_for(model)
        http = adapter.build_request(request, model)

        async def attempt() -> ChatResponse:
            started = time.perf_counter()
            body = await self._send(adapter, http, model)
            response = self._parse(lambda: adapter.parse_response(body, model), model)
            return replace(response, latency_ms=(time.perf_counter() - started) * 1000)

        return await self._with_retries(model, attempt)

    async def _open_stream(self, model: ModelConfig, request: ChatRequest) -> OpenStream:
        adapter = self._adapter_for(model)
        http = adapter.build_request(request, model)

        async def attempt() -> OpenStream:
            stack = AsyncExitStack()
            try:
                resp = await stack.enter_async_context(self._open(http, model))
                await self._raise_for_status(adapter, model, resp)
                # the upstream may echo the key inside its answer: mask it before parsing
                chunks = scrub_chunks(resp.iter_chunks(), credential_bytes(model))
                events = adapter.parse_stream(chunks, model)
                stack.push_async_callback(aclose_events, events)
                first = await first_event(events, model)
            except BaseException:
                await stack.aclose()
                raise
            return OpenStream(stack, events, first, model)

        return await self._with_retries(model, attempt)

    # --- the raw send: the pass-through's one upstream call ---------------------------------

    async def send_raw(
        self, adapter: ProviderAdapter, model: ModelConfig, http: HttpRequest
    ) -> RawResponse:
        """Send a request the caller built and hand back the open answer, its body unread:
        the same breaker, retries (before any byte of the body was read), status mapping and
        credential scrubbing as every other call, without parsing. No fallback: the caller
        relays the bytes in the upstream's own format."""
        started = time.perf_counter()

        async def attempt() -> RawResponse:
            stack = AsyncExitStack()
            try:
                response = await stack.enter_async_context(self._open(http, model))
                await self._raise_for_status(adapter, model, response)
            except BaseException:
                await stack.aclose()
                raise
            return RawResponse(stack, response, started)

        try:
            return await self._with_retries(model, attempt)
        except ModelregError as e:
            raise scrub_credentials(e, model) from e.__cause__

    # --- HTTP ---------------------------------------------------------------------------------

    def _open(
        self, http: HttpRequest, model: ModelConfig, timeouts: Timeouts | None = None
    ) -> AbstractAsyncContextManager[UpstreamBody]:
        return self.transport.open(
            http,
            allow_private=self._allow_private(model),
            provider=model.provider,
            model=model.name,
            timeouts=timeouts,
        )

    async def _send(self, adapter: ProviderAdapter, http: HttpRequest, model: ModelConfig) -> bytes:
        try:
            async with self._open(http, model) as response:
                await self._raise_for_status(adapter, model, response)
                # the upstream may echo the key inside its answer: mask it before parsing
                return scrub_bytes(await response.read(), credential_bytes(model))
        except ModelregError as e:
            raise scrub_credentials(e, model) from e.__cause__

    async def _raise_for_status(
        self, adapter: ProviderAdapter, model: ModelConfig, response: UpstreamBody
    ) -> None:
        if response.status >= 300:
            body = await response.read(MAX_ERROR_BODY)
            raise self._status_error(adapter, model, response.status, response.headers, body)

    def _status_error(
        self,
        adapter: ProviderAdapter,
        model: ModelConfig,
        status: int,
        headers: Any,
        body: bytes,
    ) -> ProviderError:
        if 300 <= status < 400:
            return UnexpectedResponseError(
                f"{model.name}: the upstream answered with a redirect ({status}); "
                "redirects are not followed, check the base URL",
                provider=model.provider,
                model=model.name,
            )
        error = self._parse(lambda: adapter.map_error(status, headers, body, model), model)
        apply_retry_headers(error, headers)
        return scrub_credentials(error, model)

    def _parse(self, parse: Callable[[], T], model: ModelConfig) -> T:
        """Run an adapter parser; a parser crash is the upstream's odd answer, not ours."""
        try:
            return parse()
        except ModelregError:
            raise
        except Exception as e:
            raise UnexpectedResponseError(
                f"{model.name}: could not read the upstream's answer ({type(e).__name__})",
                provider=model.provider,
                model=model.name,
            ) from e


def _exhausted(last_error: ModelregError | None, reasons: list[str]) -> ModelregError:
    assert last_error is not None  # the first candidate is never skipped
    if len(reasons) > 1:
        last_error.add_note("tried: " + "; ".join(reasons))
    return last_error


class CallOptions(TypedDict, total=False):
    """What one call asks of the model, beyond its messages."""

    tools: Sequence[ToolDefinition] | None
    tool_choice: ToolChoice | None
    temperature: float | None
    top_p: float | None
    max_tokens: int | None
    stop: str | Sequence[str] | None
    parallel_tool_calls: bool | None
    seed: int | None
    extra: dict[str, Any] | None
    reasoning_effort: str | None
    thinking_budget: int | None
    user: str | None
    top_k: int | None
    service_tier: str | None
    native: NativeFields | None


def _build_request(messages: Sequence[Message], call: CallOptions, *, stream: bool) -> ChatRequest:
    stop = call.get("stop")
    rest: dict[str, Any] = {k: v for k, v in call.items() if k not in ("tools", "stop", "extra")}
    return ChatRequest(
        messages=tuple(messages),
        tools=tuple(call.get("tools") or ()),
        stop=(stop,) if isinstance(stop, str) else tuple(stop or ()),
        stream=stream,
        extra=dict(call.get("extra") or {}),
        **rest,
    )


def _with_defaults(request: ChatRequest, model: ModelConfig) -> ChatRequest:
    """The model's defaults where the call did not say (per candidate: fallbacks differ)."""
    return replace(
        request,
        temperature=request.temperature
        if request.temperature is not None
        else model.default_temperature,
        top_p=request.top_p if request.top_p is not None else model.default_top_p,
        max_tokens=request.max_tokens
        if request.max_tokens is not None
        else model.max_output_tokens,
    )
