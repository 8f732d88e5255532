"""A small in-process TTL cache with generation-based invalidation.

`invalidate()` bumps the generation and drops everything. A reader takes `generation` before it
reads the database and passes it to `set()`; if a write invalidated the cache in between, the
(possibly stale) value is not stored. Several workers each have their own cache: a change made
through another process reaches this one through modelreg.invalidation (a generation in the
database, polled about once a second); the TTL is the bound when that poll cannot run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["TTLCache"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TTLCache(Generic[K, V]):
    def __init__(
        self,
        ttl: float,
        *,
        maxsize: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.maxsize = maxsize
        self._clock = clock
        self._data: dict[K, tuple[float, V]] = {}
        self.generation = 0

    def get(self, key: K) -> V | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        expires, value = entry
        if expires <= self._clock():
            self._data.pop(key, None)
            return None
        return value

    def set(self, key: K, value: V, *, generation: int | None = None) -> None:
        if self.ttl <= 0 or (generation is not None and generation != self.generation):
            return
        if len(self._data) >= self.maxsize:
            # crude but bounded: drop everything rather than track recency on the hot path
            self._data.clear()
        self._data[key] = (self._clock() + self.ttl, value)

    def pop(self, key: K) -> None:
        self._data.pop(key, None)

    def invalidate(self) -> None:
        self.generation += 1
        self._data.clear()

    def __len__(self) -> int:
        return len(self._data)
