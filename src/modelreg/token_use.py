"""`api_tokens.last_used_at`: when a token was last used, so its owner can tell a forgotten
token from one in use before revoking it.

The time is informational, so it is written at most once a minute per token and off the
request path: `note` is a dictionary look-up on each request; when a token is due, one
background UPDATE writes it (a failure is logged and retried on a later use). Each process
keeps its own throttle, so with several replicas a token may be written once a minute by each.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Final

from sqlalchemy import update

from modelreg.actor import SYSTEM
from modelreg.db.engine import Database
from modelreg.db.models import ApiToken

__all__ = ["TokenUseRecorder"]

log = logging.getLogger(__name__)

_INTERVAL: Final = 60.0
_MAX_TRACKED: Final = 100_000  # hashes remembered before the throttle starts afresh


class TokenUseRecorder:
    def __init__(self, db: Database, *, interval: float = _INTERVAL) -> None:
        self.db = db
        self.interval = interval
        self._written: dict[str, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def note(self, digest: str) -> None:
        """A request was authenticated with the token of this hash."""
        now = time.monotonic()
        last = self._written.get(digest)
        if last is not None and now - last < self.interval:
            return
        if len(self._written) >= _MAX_TRACKED:
            self._written.clear()
        self._written[digest] = now
        task = asyncio.get_running_loop().create_task(self._write(digest))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _write(self, digest: str) -> None:
        try:
            async with self.db.session(SYSTEM) as session:
                await session.execute(
                    update(ApiToken)
                    .where(ApiToken.token_hash == digest)
                    .values(last_used_at=datetime.now(UTC))
                    .execution_options(synchronize_session=False)
                )
        except Exception:  # informational only: never fail or log a request for it
            self._written.pop(digest, None)
            log.warning("could not record a token's last use; retried on its next use")

    async def drain(self) -> None:
        """Wait for the writes under way (shutdown, tests)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
