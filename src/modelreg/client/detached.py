"""A stream that outlives its reader for a short grace, so a call is billed when the client
leaves early.

A streamed answer's usage comes last (OpenAI's usage chunk after the finish chunk, Ollama's
counts in its final line). A client that reads up to the finish and hangs up would make the
server stop reading — and book 0 tokens. `DetachableStream` reads the upstream in a task of
its own and hands events on through a small queue; when the reader leaves, `detach` lets
that task read on (handing nothing on) for `grace` seconds, then calls `on_done` with what
happened, so the caller books the usage that came, or an estimate.

Its own task is what makes this work: the server cancels the reader's task when the client
goes (Starlette cancels the response's task group, and keeps cancelling every await in it),
and a cancellation inside an async generator ends that generator for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

__all__ = ["DRAIN_GRACE_SECONDS", "DetachableStream", "StreamEnd", "spawn"]

log = logging.getLogger(__name__)

T = TypeVar("T")

# after a reader left, how long the upstream is still read (the usage frame follows at once)
DRAIN_GRACE_SECONDS: Final = 2.0
_DEPTH: Final = 8  # events read ahead of the reader: enough to overlap, small to bound memory


@dataclass(frozen=True, slots=True)
class StreamEnd:
    """How the upstream read ended: to its end (`error` None and not `timed_out`), with the
    upstream's error, or cut at the end of the grace."""

    error: Exception | None = None
    timed_out: bool = False


class _Marker:
    pass


_END = _Marker()
_running: set[asyncio.Task[None]] = set()


def spawn(work: Awaitable[None], what: str = "booking a stream after its reader left") -> None:
    """Run bookkeeping in the background: kept referenced until done (the loop holds tasks
    only weakly), its failure logged instead of lost."""

    async def run() -> None:
        try:
            await work
        except Exception:  # a bookkeeping task must not die silently
            log.exception("%s failed", what)

    task = asyncio.get_running_loop().create_task(run())
    _running.add(task)
    task.add_done_callback(_running.discard)


class DetachableStream(Generic[T]):
    """Iterate it as the stream itself; call `detach(on_done)` when the reader leaves."""

    def __init__(self, events: AsyncIterator[T], *, grace: float = DRAIN_GRACE_SECONDS) -> None:
        self._events = events
        self._grace = grace
        self._queue: asyncio.Queue[T | _Marker] = asyncio.Queue(_DEPTH)
        self._on_done: Callable[[StreamEnd], Awaitable[None]] | None = None
        self._timeout: asyncio.Timeout | None = None
        self._deadline: float | None = None
        self.end: StreamEnd | None = None
        self._task = asyncio.get_running_loop().create_task(self._pump())
        _running.add(self._task)
        self._task.add_done_callback(_running.discard)

    @property
    def detached(self) -> bool:
        return self._on_done is not None

    def __aiter__(self) -> DetachableStream[T]:
        return self

    async def __anext__(self) -> T:
        item = await self._queue.get()
        if isinstance(item, _Marker):
            self._queue.put_nowait(item)  # a second call ends the same way
            if self.end is not None and self.end.error is not None:
                raise self.end.error
            raise StopAsyncIteration
        return item

    def detach(self, on_done: Callable[[StreamEnd], Awaitable[None]]) -> None:
        """The reader left: read on for the grace, then `await on_done(end)` (once). Never
        awaits, so it is safe in the `finally` of a cancelled generator."""
        if self._on_done is not None:
            return
        self._on_done = on_done
        while not self._queue.empty():  # unblocks the pump if it waits for room
            self._queue.get_nowait()
        if self._task.done():
            spawn(on_done(self.end or StreamEnd()))
            return
        deadline = asyncio.get_running_loop().time() + self._grace
        if self._timeout is not None:
            self._timeout.reschedule(deadline)
        else:  # not reading yet (the pump has not started), or done reading
            self._deadline = deadline

    def cancel(self) -> None:
        """The reader failed itself: stop reading at once, nothing to book here."""
        self._task.cancel()

    async def _pump(self) -> None:
        error: Exception | None = None
        timed_out = False
        try:
            async with asyncio.timeout_at(self._deadline) as self._timeout:
                async for event in self._events:
                    if self._on_done is None:
                        await self._queue.put(event)
        except TimeoutError:
            if self._timeout is not None and self._timeout.expired():
                timed_out = True
            else:
                error = TimeoutError("the stream timed out")
        except Exception as e:
            error = e
        finally:
            self._timeout = None  # past its block: a late `detach` must not reschedule it
            if isinstance(self._events, AsyncGenerator):
                with contextlib.suppress(Exception):
                    await self._events.aclose()  # cut while we waited for room: close it
        self.end = StreamEnd(error, timed_out)
        if self._on_done is None:
            await self._queue.put(_END)
        if self._on_done is not None:
            try:
                await self._on_done(self.end)
            except Exception:
                log.exception("booking a stream after its reader left failed")
