"""Byte pass-through: a request in the upstream's own format, forwarded as it came.

When the caller speaks the upstream's wire format — OpenAI's chat completions to an
OpenAI-compatible adapter (OpenAI, vLLM, Groq, Ollama /v1, Azure, TGI, ...), or Anthropic's
Messages to the Anthropic adapter — there is nothing to translate: the body is forwarded with
only `model` replaced by the upstream's model id (plus the model's defaults where the caller
gave none), and the upstream's bytes go back unchanged, the `model` and `id` fields included.
What each format needs of its own (the body rewrite, which events carry the usage, how a
stream ends, what a good JSON answer looks like) is its `Wire` (gateway/passthrough_openai.py,
gateway/passthrough_anthropic.py); the rest is here, shared: the bounded byte relay
(gateway/sse.py), masking the model's credentials in relayed bytes, checking that a 200 is
what was asked for, booking before the last event leaves, and reading on for the usage after
a client left.

Models with a fallback chain go through the unified client instead (fallback may switch to
another provider's format). The upstream call itself is the client's (`send_raw`: breaker,
retries, status mapping, credential scrubbing).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final, Protocol

import orjson

from modelreg.client import UnifiedLLMClient
from modelreg.client.detached import DRAIN_GRACE_SECONDS, spawn
from modelreg.client.scrub import scrub_bytes, scrub_credentials
from modelreg.client.unified import RawResponse
from modelreg.errors import ProviderError, UnexpectedResponseError
from modelreg.gateway.sse import EventFramer
from modelreg.model_config import ModelConfig
from modelreg.providers.base import HttpRequest, ProviderAdapter
from modelreg.secret import scrub
from modelreg.types import Usage

__all__ = [
    "Forward",
    "RelayOutcome",
    "Wire",
    "data_json",
    "event_ends",
    "json_answer",
    "open_forward",
    "relay_headers",
    "relay_stream",
]

# after a client left, how much of the upstream is still read for its usage frame (and for
# how long: DRAIN_GRACE_SECONDS, the same grace as the translated streams')
_DRAIN_MAX_BYTES: Final = 1024 * 1024


class Wire(Protocol):
    """One request's view of its format: made per request, it may keep state (Anthropic's
    usage comes in two events)."""

    answer_noun: str  # what a good JSON answer is, for the error that says it was not

    def scan(self, block: bytes, outcome: RelayOutcome) -> bytes:
        """The complete events of `block` to pass on; notes the end, the usage, the count of
        content events and a relayed error event in `outcome`."""
        ...

    def check_answer(
        self, data: Any, body: bytes, forward: Forward, model: ModelConfig
    ) -> Usage | None:
        """The usage of a JSON answer; raises when it is not a good answer."""
        ...


@dataclass(slots=True)
class Forward:
    """An upstream answer whose status was good; the body is still unread."""

    raw: RawResponse
    wire: Wire
    secrets: tuple[bytes, ...]  # the credentials as they may appear in relayed bytes
    prompt_chars: int  # for an estimate of the input tokens if the usage never comes

    @property
    def started(self) -> float:
        return self.raw.started


async def open_forward(
    client: UnifiedLLMClient,
    adapter: ProviderAdapter,
    model: ModelConfig,
    http: HttpRequest,
    wire: Wire,
    secrets: tuple[bytes, ...],
    *,
    stream: bool,
) -> Forward:
    """Send the request through the client's one upstream call (`send_raw`)."""
    raw = await client.send_raw(adapter, model, http)
    forward = Forward(raw, wire, secrets, len(http.body or b""))
    if stream and _not_a_stream(raw.response.headers.get("content-type")):
        await json_answer(forward, model)  # raises the error the body describes
        raise not_an_answer(model, b"{", wire.answer_noun)  # an answer, where a stream was asked
    return forward


def _not_a_stream(content_type: str | None) -> bool:
    """A JSON or HTML answer to a streamed request: an error page or a stray completion,
    caught before our 200 goes out. (No content type at all is let through: some local
    servers send none and stream all the same.)"""
    if not content_type:
        return False
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind in ("application/json", "text/html", "text/plain")


# upstream response headers passed on to the caller on success: what the official SDKs and
# clients read (rate-limit state, retry hints, the provider's processing time). The upstream's
# request id is passed as `upstream-request-id`: `request-id` / `x-request-id` are ours.
_RELAYED_PREFIXES: Final = ("x-ratelimit-", "anthropic-ratelimit-")
_RELAYED_NAMES: Final = frozenset({"retry-after", "retry-after-ms", "openai-processing-ms"})
_UPSTREAM_IDS: Final = frozenset({"request-id", "x-request-id"})
UPSTREAM_REQUEST_ID: Final = "upstream-request-id"


def relay_headers(headers: Mapping[str, str], secrets: tuple[bytes, ...]) -> list[tuple[str, str]]:
    """The upstream's response headers to pass on (names lower-case, as received), with the
    model's credentials masked: an upstream may echo them anywhere, its ids included."""
    out: list[tuple[str, str]] = []
    for name in headers:
        if name.startswith(_RELAYED_PREFIXES) or name in _RELAYED_NAMES:
            out.append((name, headers[name]))
        elif name in _UPSTREAM_IDS:
            out.append((UPSTREAM_REQUEST_ID, headers[name]))
    if secrets and out:
        texts = [secret.decode("latin-1") for secret in secrets]
        out = [(name, scrub(value, texts)) for name, value in out]
    return out


async def json_answer(forward: Forward, model: ModelConfig) -> tuple[bytes, Usage | None]:
    """A non-streamed answer, read whole and checked: a 200 must be what the format answers
    (a chat completion, a message). An HTML page, an empty body, an error object or an event
    stream is the upstream's fault (`UnexpectedResponseError`, or the error it describes),
    never relayed as our 200."""
    async with forward.raw.stack:
        body = await forward.raw.response.read()
    body = scrub_bytes(body, forward.secrets)
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise not_an_answer(model, body, forward.wire.answer_noun) from None
    return body, forward.wire.check_answer(data, body, forward, model)


def not_an_answer(model: ModelConfig, body: bytes, noun: str) -> UnexpectedResponseError:
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
        what = f"a body that is not {noun}"
    return UnexpectedResponseError(
        f"{model.name}: the upstream answered 200 with {what}",
        provider=model.provider,
        model=model.name,
    )


def event_ends(block: bytes) -> Iterator[tuple[int, int]]:
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


def data_json(event: bytes) -> Any:
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
    usage_final: bool = False  # the usage seen is the last word (not only message_start's)
    ttft_ms: float | None = None
    complete: bool = False  # the stream's end came (`[DONE]`, `message_stop`)
    error: ProviderError | None = None
    error_relayed: bool = False  # `error` came as the upstream's own event, passed on
    events: int = 0  # content events relayed, for an estimate when the usage never comes
    client_left: bool = False
    estimated: bool = False
    prompt_chars: int = 0

    def settle(self) -> None:
        """Where the final usage never came but output was relayed, an estimate marked as
        such: about one token per content event (less one; at least one token); the input
        from the request's size (~4 bytes a token) unless the upstream already said it."""
        if self.usage_final or (self.usage is None and self.events == 0):
            return
        output = max(1, self.events - 1)
        if self.usage is not None:
            self.usage = replace(self.usage, output_tokens=max(self.usage.output_tokens, output))
        else:
            self.usage = Usage(input_tokens=max(1, self.prompt_chars // 4), output_tokens=output)
        self.estimated = True


async def relay_stream(
    forward: Forward,
    model: ModelConfig,
    outcome: RelayOutcome,
    error_frame: Callable[[ProviderError], bytes],
    on_end: Callable[[RelayOutcome], None],
) -> AsyncIterator[bytes]:
    """The upstream's SSE events, unchanged but for masked credentials, as they arrive.
    `outcome` is filled in as the stream goes (usage, time to first token, whether the end
    came); `on_end(outcome)` is called once, when it is final (at the end event, before it is
    passed on). A stream that breaks or ends without its end event ends with one error event
    in the caller's format (none more when the upstream's own error event was passed on). A
    client that leaves early does not end the books: the upstream is read on, in the
    background, for a short grace, so that its usage is booked (else an estimate, marked as
    such)."""
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
                        # booked (journaled) before the end leaves: a client that has seen
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
        if outcome.error is not None and not outcome.error_relayed:
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
                # on to the end, not only to the usage frame: the answer is complete (booked
                # "ok") only at the end, which may come in a later read than the usage
                if outcome.complete or outcome.error_relayed or read > _DRAIN_MAX_BYTES:
                    break
    except (TimeoutError, ProviderError):
        pass  # the estimate below stands in
    finally:
        await forward.raw.stack.aclose()
        outcome.settle()
        on_end(outcome)


def _look_at(block: bytes, forward: Forward, outcome: RelayOutcome) -> bytes:
    if forward.secrets:
        block = scrub_bytes(block, forward.secrets)
    return forward.wire.scan(block, outcome)
