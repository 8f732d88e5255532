"""Every model call of the knowledge feature: embeddings in batches and chat completions for
extraction and summaries, through the UnifiedLLMClient (retries, breaker), inside the
registry's rate limits, with usage and cost booked against the actor who pays (a
collection's owner while indexing; the asker for a query)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from modelreg.actor import Actor
from modelreg.chat.usage import UsageRecorder
from modelreg.client import UnifiedLLMClient
from modelreg.errors import ModelregError, ValidationFailedError
from modelreg.model_config import ModelConfig
from modelreg.ratelimit import RateLimiter
from modelreg.types import Message, Usage

__all__ = ["EMBED_BATCH", "ModelCalls", "Vectors"]

EMBED_BATCH = 32  # texts per embeddings request
SOURCE = "knowledge"  # usage_events.source of these calls

Vectors = npt.NDArray[np.float32]


@dataclass(slots=True)
class ModelCalls:
    client: UnifiedLLMClient
    usage: UsageRecorder
    limiter: RateLimiter

    async def embed(self, actor: Actor, model: ModelConfig, texts: Sequence[str]) -> Vectors:
        """L2-normalised float32 rows, one per text, in order; batched. Refuses a model
        whose answer changes size between batches or differs from its `dimensions`."""
        rows: list[Vectors] = []
        for start in range(0, len(texts), EMBED_BATCH):
            batch = list(texts[start : start + EMBED_BATCH])
            await self._admit(actor, model)
            started = time.perf_counter()
            try:
                answer = await self.client.embed(model, batch)
            except ModelregError:
                self._book(actor, model, None, started, "error")
                raise
            self._book(actor, model, answer.usage, started, "ok")
            matrix = np.asarray(answer.vectors, dtype=np.float32)
            if matrix.ndim != 2 or matrix.shape[0] != len(batch):
                raise ValidationFailedError(
                    f"embedding model {model.name!r} answered {len(answer.vectors)} vectors "
                    f"for {len(batch)} texts",
                    field="embedding_model_id",
                )
            rows.append(matrix)
        if not rows:
            return np.zeros((0, model.dimensions or 0), dtype=np.float32)
        sizes = {r.shape[1] for r in rows}
        expected = model.dimensions
        if len(sizes) > 1 or (expected is not None and sizes != {expected}):
            raise ValidationFailedError(
                f"embedding model {model.name!r} answered vectors of {sorted(sizes)} "
                f"dimensions; the model is registered with {expected}",
                field="dimensions",
            )
        return normalise(np.vstack(rows))

    async def chat(self, actor: Actor, model: ModelConfig, prompt: str) -> str:
        """One answer to a one-message prompt (temperature 0: extraction wants stable JSON)."""
        await self._admit(actor, model)
        started = time.perf_counter()
        try:
            answer = await self.client.chat(
                model, [Message(role="user", content=prompt)], temperature=0.0
            )
        except ModelregError:
            self._book(actor, model, None, started, "error")
            raise
        self._book(actor, model, answer.usage, started, "ok")
        await self.limiter.add_tokens(actor, model, answer.usage.total_tokens)
        return answer.text

    async def _admit(self, actor: Actor, model: ModelConfig) -> None:
        await self.limiter.check_request(actor, model)
        await self.limiter.check_tokens(actor, model)

    def _book(
        self, actor: Actor, model: ModelConfig, usage: Usage | None, started: float, status: str
    ) -> None:
        usage = usage or Usage()
        self.usage.record(
            user_id=actor.id,
            llm_model_id=model.id,
            model_name=model.name,
            source=SOURCE,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cost=model.cost(usage.input_tokens, usage.output_tokens),
            latency_ms=(time.perf_counter() - started) * 1000,
            status=status,
        )


def normalise(matrix: Vectors) -> Vectors:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    normalised: Vectors = (matrix / norms).astype(np.float32)
    return normalised
