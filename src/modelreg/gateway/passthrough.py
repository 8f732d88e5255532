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
another provider's format). The upstream call itself is the client's (`send_raw`: breaker,
retries, status mapping, credential scrubbing); what is left here is the pass-through's own:
the body rewrite, the bounded byte relay (gateway/sse.py), usage sniffing, checking that a
200 answer is what was asked for, and masking the model's credentials in relayed bytes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

import orjson

from modelreg.client import UnifiedLLMClient
from modelreg.client.detached import DRAIN_GRACE_SECONDS, spawn
from modelreg.client.scrub import credential_bytes, scrub_bytes, scrub_credentials
from modelreg.client.unified import RawResponse
from modelreg.errors import ProviderError, UnexpectedResponseError
from modelreg.gateway.sse import EventFramer
from modelreg.model_config import ModelConfig
from modelreg.providers.base import HttpRequest
from modelreg.providers.lookup import get_adapter
from modelreg.providers.openai_compat import OpenAICompatAdapter
from modelreg.types import Usage

__all__ = [
    "Forward",
    "RelayOutcome",
    "json_answer",
    "open_forward",
    "passthrough_adapter",
    "relay_stream",
    "usage_of",
]


_DONE = b"data: [DONE]"
# after a client left, how much of the upstream is still read for its usage frame (and for
# how long: DRAIN_GRACE_SECONDS, the same grace as the translated streams')
_DRAIN_MAX_BYTES: Final = 1024 * 1024


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
) -> tuple[HttpRequest, bool, _Target]:
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
    return HttpRequest("POST", target.url, headers, orjson.dumps(body)), added_usage, target


@dataclass(frozen=True, slots=True)
class _Target:
    """What a model's upstream requests share: URL and headers, built once per ModelConfig
    (the registry's cache hands out the same object until the model changes)."""

    model: ModelConfig  # keeps the object alive, so its id() stays unique while cached
    url: str
    json_headers: dict[str, str]
    sse_headers: dict[str, str]
    secrets: tuple[bytes, ...]  # the credentials as they may appear in relayed bytes


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
        credential_bytes(model),
    )
    if len(_targets) >= _MAX_TARGETS:
        _targets.clear()  # stale models (changed, or cached per user) are dropped wholesale
    _targets[id(model)] = target
    return target


@dataclass(slots=True)
class Forward:
    """An upstream answer whose status was good; the body is still unread."""

    raw: RawResponse
    added_usage: bool
    secrets: tuple[bytes, ...]
    prompt_chars: int  # for an estimate of the input tokens if the usage never comes

    @property
    def started(self) -> float:
        return self.raw.started


async def open_forward(
    client: UnifiedLLMClient,
    adapter: OpenAICompatAdapter,
    model: ModelConfig,
    data: dict[str, Any],
    *,
    stream: bool,
) -> Forward:
    """Send the request through the client's one upstream call (`send_raw`)."""
    http, added_usage, target = _request(adapter, model, data, stream)
    raw = await client.send_raw(adapter, model, http)
    forward = Forward(raw, added_usage, target.secrets, len(http.body or b""))
    if stream and _not_a_stream(raw.response.headers.get("content-type")):
        await json_answer(forward, model)  # raises the error the body describes
        raise _not_a_completion(model, b"{")  # a completion, where a stream was asked for
    return forward


def _not_a_stream(content_type: str | None) -> bool:
    """A JSON or HTML answer to a streamed request: an error page or a stray completion,
    caught before our 200 goes out. (No content type at all is let through: some local
    servers send none and stream all the same.)"""
    if not content_type:
        return False
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind in ("application/json", "text/html", "text/plain")


async def json_answer(forward: Forward, model: ModelConfig) -> tuple[bytes, Usage | None]:
    """A non-streamed answer, read whole and checked: a 200 must be a chat completion. An
    HTML page, an empty body, an error object or an event stream is the upstream's fault
    (`UnexpectedResponseError`, or the error it describes), never relayed as our 200."""
    async with forward.raw.stack:
        body = await forward.raw.response.read()
    body = scrub_bytes(body, forward.secrets)
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise _not_a_completion(model, body) from None
    if not isinstance(data, dict) or "choices" not in data:
        if isinstance(data, dict) and data.get("error"):
            error = get_adapter(model).map_error(502, forward.raw.response.headers, body, model)
            raise scrub_credentials(error, model)
        raise _not_a_completion(model, body)
    return body, usage_of(data)


def _not_a_completion(model: ModelConfig, body: bytes) -> UnexpectedResponseError:
    stripped = body.lstrip()
    if not stripped:
        what = "an empty body"
    elif stripped.startswith((b"data:", b"event:", b":")):
        what = "an event stream to a request that did not ask for one"
    elif stripped[:1] == b"<":
        what = "an HTML page"
    elif stripped == b"{":
        what = "a complete answer to a request for a stream"
    else:
        what = "a body that is not a chat completion"
    return UnexpectedResponseError(
        f"{model.name}: the upstream answered 200 with {what}",
        provider=model.provider,
        model=model.name,
    )


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
    complete: bool = False  # `[DONE]` came
    error: ProviderError | None = None
    events: int = 0  # events relayed, for an estimate when the usage never comes
    client_left: bool = False
    estimated: bool = False
    prompt_chars: int = 0

    def settle(self) -> None:
        """Where the usage never came but output was relayed, an estimate marked as such:
        OpenAI-compatible servers send about one token per content event (less the finish
        event; at least one token); the input from the request's size (~4 bytes a token)."""
        if self.usage is not None or self.events == 0:
            return
        self.usage = Usage(
            input_tokens=max(1, self.prompt_chars // 4), output_tokens=max(1, self.events - 1)
        )
        self.estimated = True


async def relay_stream(
    forward: Forward,
    model: ModelConfig,
    outcome: RelayOutcome,
    error_frame: Callable[[ProviderError], bytes],
    on_end: Callable[[RelayOutcome], None],
) -> AsyncIterator[bytes]:
    """The upstream's SSE events, unchanged but for masked credentials, as they arrive.
    `outcome` is filled in as the stream goes (usage, time to first token, whether `[DONE]`
    came); `on_end(outcome)` is called once, when it is final (at `[DONE]`, before it is
    passed on). A stream that breaks or ends
    without `[DONE]` ends with one error event in the caller's format. A client that leaves
    early does not end the books: the upstream is read on, in the background, for a short
    grace, so that its usage frame is booked (else an estimate, marked as such)."""
    outcome.prompt_chars = forward.prompt_chars
    framer = EventFramer(provider=model.provider, model=model.name)
    response = forward.raw.response
    drained = booked = False
    try:
        try:
            async for chunk in response.iter_chunks():
                if outcome.ttft_ms is None:
                    outcome.ttft_ms = (time.perf_counter() - forward.started) * 1000
                ready = framer.feed(chunk)
                if ready:
                    out = _look_at(ready, forward, outcome)
                    if outcome.complete and not booked:
                        # booked (journaled) before `[DONE]` leaves: a client that has seen
                        # the end of its stream has its usage on disk, even if we die now
                        booked = True
                        outcome.settle()
                        on_end(outcome)
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
    except (GeneratorExit, asyncio.CancelledError):
        outcome.client_left = True
        if not outcome.complete and outcome.error is None:
            drained = True
            _start_drain(forward, model, framer, outcome, on_end)
        raise
    finally:
        if not drained:
            await forward.raw.stack.aclose()
            if not booked:
                outcome.settle()
                on_end(outcome)


def _start_drain(
    forward: Forward,
    model: ModelConfig,
    framer: EventFramer,
    outcome: RelayOutcome,
    on_end: Callable[[RelayOutcome], None],
) -> None:
    spawn(_drain(forward, model, framer, outcome, on_end), f"reading the usage of {model.name}")


async def _drain(
    forward: Forward,
    model: ModelConfig,
    framer: EventFramer,
    outcome: RelayOutcome,
    on_end: Callable[[RelayOutcome], None],
) -> None:
    """Read what the upstream still sends, for its usage, after the client left."""
    read = 0
    try:
        async with asyncio.timeout(DRAIN_GRACE_SECONDS):
            async for chunk in forward.raw.response.iter_chunks():
                read += len(chunk)
                ready = framer.feed(chunk)
                if ready:
                    _look_at(ready, forward, outcome)
                # on to `[DONE]`, not only to the usage frame: the answer is complete (booked
                # "ok") only at the end, which may come in a later read than the usage
                if outcome.complete or read > _DRAIN_MAX_BYTES:
                    break
    except (TimeoutError, ProviderError):
        pass  # the estimate below stands in
    finally:
        await forward.raw.stack.aclose()
        outcome.settle()
        on_end(outcome)


def _look_at(block: bytes, forward: Forward, outcome: RelayOutcome) -> bytes:
    """The complete events of `block` to pass on: all of them, with the model's credentials
    masked, except the usage-only chunk that only we asked for. Notes `[DONE]`, the usage
    and the number of events in `outcome`."""
    if forward.secrets:
        block = scrub_bytes(block, forward.secrets)
    kept: list[bytes] = []
    run = 0  # start of the events not yet copied into `kept`
    events = 0
    for start, end in _event_ends(block):
        events += 1
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
    outcome.events += events
    if run == 0:
        return block
    kept.append(block[run:])
    return b"".join(kept)
