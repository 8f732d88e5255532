"""A stream's commit point.

A stream is retried and may fall back until its first real event has arrived; `first_event`
waits for it and `OpenStream` hands the stream on from there, turning any later failure into a
`StreamInterruptedError` because the caller has already seen output.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import replace

from modelreg.client.scrub import scrub_credentials
from modelreg.errors import ModelregError, StreamInterruptedError, UnexpectedResponseError
from modelreg.model_config import ModelConfig
from modelreg.types import FinishEvent, MetaEvent, StreamEvent

__all__ = ["OpenStream", "aclose_events", "first_event"]


class OpenStream:
    """A stream whose first event arrived: from here on nothing is retried."""

    def __init__(
        self,
        stack: AsyncExitStack,
        events: AsyncIterator[StreamEvent],
        first: tuple[MetaEvent | None, StreamEvent],
        model: ModelConfig,
    ) -> None:
        self._stack = stack
        self._events = events
        self._meta, self._first = first
        self._model = model

    async def hand_on(self, route: MetaEvent) -> AsyncIterator[StreamEvent]:
        # the stack closes the upstream response whichever way this generator ends:
        # exhausted, an error, the consumer's aclose() or a cancelled task
        async with self._stack:
            meta, first = self._meta, self._first
            if meta is not None:
                route = replace(
                    route, response_id=meta.response_id, model=meta.model, usage=meta.usage
                )
            yield route
            yield first
            finished = isinstance(first, FinishEvent)
            try:
                async for event in self._events:
                    finished = finished or isinstance(event, FinishEvent)
                    yield event
            except ModelregError as e:
                raise self._interrupted(e) from e
            except Exception as e:
                raise self._interrupted(None) from e
            if not finished:
                raise self._interrupted(None)

    def _interrupted(self, cause: ModelregError | None) -> StreamInterruptedError:
        detail = (
            scrub_credentials(cause, self._model).message if cause else "the stream ended early"
        )
        return StreamInterruptedError(
            f"{self._model.name}: stream interrupted after output was sent: {detail}",
            provider=self._model.provider,
            model=self._model.name,
        )


async def first_event(
    events: AsyncIterator[StreamEvent], model: ModelConfig
) -> tuple[MetaEvent | None, StreamEvent]:
    """The first event worth committing to. MetaEvents (ids, model name) are held back and
    merged into it, so a stream that breaks after its preamble is still retried."""
    meta: MetaEvent | None = None
    try:
        async for event in events:
            if not isinstance(event, MetaEvent):
                return meta, event
            meta = event
    except ModelregError as e:
        raise scrub_credentials(e, model) from e.__cause__
    except Exception as e:
        raise UnexpectedResponseError(
            f"{model.name}: could not read the upstream's stream ({type(e).__name__})",
            provider=model.provider,
            model=model.name,
        ) from e
    raise UnexpectedResponseError(
        f"{model.name}: the stream ended before any output",
        provider=model.provider,
        model=model.name,
    )


async def aclose_events(events: AsyncIterator[StreamEvent]) -> None:
    aclose = getattr(events, "aclose", None)
    if aclose is not None:
        await aclose()
