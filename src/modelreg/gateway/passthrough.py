"""Byte pass-through for OpenAI-format requests to OpenAI-compatible upstreams.

When the caller speaks OpenAI and the model's adapter is the OpenAI-compatible one (OpenAI,
vLLM, Groq, Ollama /v1, Azure, TGI, ...), there is nothing to translate: the request body is
forwarded with only `model` replaced by the upstream's model id (plus the model's default
temperature / top_p / max tokens where the caller gave none, and
`stream_options.include_usage` so the usage can be recorded), and the upstream's bytes go back
unchanged — including the `model` field, which therefore shows the upstream's own model name,
as OpenAI itself reports a dated snapshot name. The SSE stream is relayed event by event; each
event is looked at only when it contains `"usage"`. When the caller did not ask for usage,
the usage-only chunk we asked for (empty `choices`) is left out so strict clients never see
it.

Models with a fallback chain go through the unified client instead (fallback may switch to
another provider's format). Retries and the circuit breaker follow the client's policy, on
the client's shared transport.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import orjson

from modelreg.client import UnifiedLLMClient
from modelreg.client.resilience import apply_retry_headers, counts_against_breaker
from modelreg.client.stream_commit import scrub_credentials
from modelreg.client.transport import MAX_ERROR_BODY, UpstreamResponse
from modelreg.errors import (
    CircuitOpenError,
    ProviderError,
    ProviderStatusError,
    UnexpectedResponseError,
)
from modelreg.model_config import ModelConfig
from modelreg.providers.base import HttpRequest
from modelreg.providers.lookup import get_adapter
from modelreg.providers.openai_compat import OpenAICompatAdapter
from modelreg.types import Usage

__all__ = [
    "Forward",
    "RelayOutcome",
    "open_forward",
    "passthrough_adapter",
    "relay_stream",
    "usage_of",
]

_DONE = b"data: [DONE]"


def passthrough_adapter(model: ModelConfig) -> OpenAICompatAdapter | None:
    """The adapter to forward through, or None when the request must be translated."""
    if model.fallback_model_ids:
        return None
    adapter = get_adapter(model)
    return adapter if isinstance(adapter, OpenAICompatAdapter) else None


def usage_of(data: Any) -> Usage | None:
    usage = data.get("usage") if isinstance(data, dict) else None
    if not isinstance(usage, dict):
        return None
    prompt = usage.get("prompt_tokens") or 0
    completion = usage.get("completion_tokens") or 0
    details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    return Usage(
        input_tokens=int(prompt),
        output_tokens=int(completion),
        cached_read_tokens=int(details.get("cached_tokens") or 0),
        reasoning_tokens=int(completion_details.get("reasoning_tokens") or 0),
    )


def _request(
    adapter: OpenAICompatAdapter, model: ModelConfig, data: dict[str, Any], stream: bool
) -> tuple[HttpRequest, bool]:
    body = dict(data)
    body["model"] = model.model_id
    if model.default_temperature is not None and body.get("temperature") is None:
        body["temperature"] = model.default_temperature
    if model.default_top_p is not None and body.get("top_p") is None:
        body["top_p"] = model.default_top_p
    if (
        model.max_output_tokens is not None
        and body.get("max_tokens") is None
        and body.get("max_completion_tokens") is None
    ):
        body[adapter.max_tokens_field(model)] = model.max_output_tokens
    added_usage = False
    if stream and adapter.profile.include_usage and model.options.get("include_usage", True):
        options = body.get("stream_options") or {}
        if not options.get("include_usage"):
            body["stream_options"] = {**options, "include_usage": True}
            added_usage = True
    extra_body = model.options.get("extra_body")
    if isinstance(extra_body, dict):
        for key, value in extra_body.items():
            body.setdefault(key, value)
    target = _target(adapter, model)
    headers = target.sse_headers if stream else target.json_headers
    return HttpRequest("POST", target.url, headers, orjson.dumps(body)), added_usage


@dataclass(frozen=True, slots=True)
class _Target:
    """What a model's upstream requests share: URL and headers, built once per ModelConfig
    (the registry's cache hands out the same object until the model changes)."""

    model: ModelConfig  # keeps the object alive, so its id() stays unique while cached
    url: str
    json_headers: dict[str, str]
    sse_headers: dict[str, str]


_targets: dict[int, _Target] = {}
_MAX_TARGETS = 4096


def _target(adapter: OpenAICompatAdapter, model: ModelConfig) -> _Target:
    target = _targets.get(id(model))
    if target is not None and target.model is model:
        return target
    auth = adapter.auth_headers(model)
    target = _Target(
        model,
        adapter.chat_url(model),
        {"Content-Type": "application/json", "Accept": "application/json", **auth},
        {"Content-Type": "application/json", "Accept": "text/event-stream", **auth},
    )
    if len(_targets) >= _MAX_TARGETS:
        _targets.clear()  # stale models (changed, or cached per user) are dropped wholesale
    _targets[id(model)] = target
    return target


@dataclass(slots=True)
class Forward:
    """An upstream response whose status was good; the body is still unread."""

    stack: AsyncExitStack
    response: UpstreamResponse
    added_usage: bool
    started: float


async def open_forward(
    client: UnifiedLLMClient,
    adapter: OpenAICompatAdapter,
    model: ModelConfig,
    data: dict[str, Any],
    *,
    stream: bool,
    allow_private: bool,
) -> Forward:
    """Send the request, retrying retryable failures before any byte was read, and keep the
    model's circuit breaker informed, like the client does."""
    http, added_usage = _request(adapter, model, data, stream)
    breaker = client.breakers.get(model.id)
    retry_index = 0
    started = time.perf_counter()
    while True:
        if not breaker.allow():
            raise CircuitOpenError(
                f"{model.name} is failing; its circuit breaker is open",
                provider=model.provider,
                model=model.name,
            )
        stack = AsyncExitStack()
        try:
            response = await stack.enter_async_context(
                client.transport.open(
                    http, allow_private=allow_private, provider=model.provider, model=model.name
                )
            )
            if response.status >= 300:
                body = await response.read(MAX_ERROR_BODY)
                error = _status_error(adapter, model, response, body)
                raise error
        except ProviderError as e:
            await stack.aclose()
            if counts_against_breaker(e):
                breaker.record_failure()
            elif isinstance(e, ProviderStatusError):
                breaker.record_success()
            else:
                breaker.release_probe()
            if retry_index >= client.retry.max_retries or not client.retry.is_retryable(e):
                raise scrub_credentials(e, model) from None
            retry_after = e.retry_after if isinstance(e, ProviderStatusError) else None
            await asyncio.sleep(client.retry.delay(retry_index, retry_after))
            retry_index += 1
            continue
        except BaseException:
            await stack.aclose()
            breaker.release_probe()
            raise
        breaker.record_success()
        return Forward(stack, response, added_usage, started)


def _status_error(
    adapter: OpenAICompatAdapter, model: ModelConfig, response: UpstreamResponse, body: bytes
) -> ProviderError:
    if 300 <= response.status < 400:
        return UnexpectedResponseError(
            f"{model.name}: the upstream answered with a redirect ({response.status})",
            provider=model.provider,
            model=model.name,
        )
    error: ProviderError
    try:
        error = adapter.map_error(response.status, response.headers, body, model)
    except Exception:
        error = UnexpectedResponseError(
            f"{model.name}: unreadable error answer ({response.status})",
            provider=model.provider,
            model=model.name,
        )
    apply_retry_headers(error, response.headers)
    return error


def _last_event_end(buf: bytes) -> int:
    """End (exclusive) of the last complete SSE event in `buf`, or -1."""
    lf = buf.rfind(b"\n\n")
    crlf = buf.rfind(b"\r\n\r\n")
    return max(lf + 2 if lf != -1 else -1, crlf + 4 if crlf != -1 else -1)


def _event_ends(block: bytes) -> Iterator[tuple[int, int]]:
    """(start, end) of each event in `block`, which ends at an event boundary. Linear: the
    CRLF boundary is searched for only when the block has a CR at all."""
    has_cr = b"\r" in block
    start, size = 0, len(block)
    while start < size:
        lf = block.find(b"\n\n", start)
        end = lf + 2 if lf != -1 else size
        if has_cr:
            crlf = block.find(b"\r\n\r\n", start)
            if crlf != -1 and crlf + 4 <= end:
                end = crlf + 4
        yield start, end
        start = end


def _has_usage_object(block: bytes, start: int, end: int) -> bool:
    """Whether the event holds a `"usage"` that is not null (OpenAI sends `"usage":null` in
    every chunk of a stream that asked for usage; only the last one carries the numbers)."""
    at = block.find(b'"usage"', start, end)
    while at != -1:
        value = block[at + 7 : at + 40].lstrip()
        if not value.startswith(b":") or not value[1:].lstrip().startswith(b"null"):
            return True
        at = block.find(b'"usage"', at + 7, end)
    return False


def _data_json(event: bytes) -> Any:
    for line in event.splitlines():
        if line.startswith(b"data:"):
            try:
                return orjson.loads(line[5:].strip())
            except orjson.JSONDecodeError:
                return None
    return None


@dataclass(slots=True)
class RelayOutcome:
    usage: Usage | None = None
    ttft_ms: float | None = None
    complete: bool = False
    error: ProviderError | None = None


async def relay_stream(
    forward: Forward,
    model: ModelConfig,
    outcome: RelayOutcome,
    error_frame: Callable[[ProviderError], bytes],
) -> AsyncIterator[bytes]:
    """The upstream's SSE events, unchanged, as they arrive. `outcome` is filled in as the
    stream goes (usage, time to first token, whether `[DONE]` came). A stream that breaks or
    ends without `[DONE]` ends with one error event in the caller's format."""
    buf = b""
    async with forward.stack:
        try:
            async for chunk in forward.response.iter_chunks():
                if outcome.ttft_ms is None:
                    outcome.ttft_ms = (time.perf_counter() - forward.started) * 1000
                buf = buf + chunk if buf else chunk
                end = _last_event_end(buf)
                if end == -1:
                    continue
                if end == len(buf):
                    ready, buf = buf, b""
                else:
                    ready, buf = buf[:end], buf[end:]
                out = _look_at(ready, forward, outcome)
                if out:
                    yield out
        except ProviderError as e:
            outcome.error = scrub_credentials(e, model)
        if not outcome.complete and outcome.error is None:
            outcome.error = UnexpectedResponseError(
                f"{model.name}: the stream ended early",
                provider=model.provider,
                model=model.name,
            )
        if outcome.error is not None:
            yield error_frame(outcome.error)


def _look_at(block: bytes, forward: Forward, outcome: RelayOutcome) -> bytes:
    """The complete events of `block` to pass on: all of them, unchanged, except the
    usage-only chunk that only we asked for. Notes `[DONE]` and the usage in `outcome`."""
    kept: list[bytes] = []
    run = 0  # start of the events not yet copied into `kept`
    for start, end in _event_ends(block):
        if block.startswith(_DONE, start):
            outcome.complete = True
        elif _has_usage_object(block, start, end):
            data = _data_json(block[start:end])
            usage = usage_of(data)
            if usage is not None:
                outcome.usage = usage
                if forward.added_usage and not data.get("choices"):
                    kept.append(block[run:start])  # the usage chunk only we asked for
                    run = end
    if run == 0:
        return block
    kept.append(block[run:])
    return b"".join(kept)
