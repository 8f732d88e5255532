"""A log line per outage, not per request: `ThrottledLog` writes at most one line per
`interval` seconds and says how many it held back, so a down dependency under load does not
flood the log (each suppressed event is still counted in the metrics)."""

from __future__ import annotations

import logging
import time

__all__ = ["ThrottledLog"]


class ThrottledLog:
    def __init__(self, logger: logging.Logger, *, interval: float = 60.0) -> None:
        self._log = logger
        self._interval = interval
        self._next = 0.0
        self._held = 0

    def warning(self, message: str, *args: object) -> None:
        now = time.monotonic()
        if now < self._next:
            self._held += 1
            return
        self._next = now + self._interval
        if self._held:
            message += " (%d similar held back)"
            args = (*args, self._held)
        self._held = 0
        self._log.warning(message, *args)

    def reset(self) -> None:
        """The outage is over: the next failure is news again and is logged at once."""
        self._next = 0.0
        self._held = 0
