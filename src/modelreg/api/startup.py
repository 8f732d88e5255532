"""A start that fails because the database cannot be reached says so in one line.

Starlette reports a failed lifespan to the server with the full traceback as its message,
which uvicorn logs before "Application startup failed. Exiting." (exit status 3). For a
database outage the lifespan records one line in `app.state.startup_failure` and the fast
path (the outermost ASGI app) sends that line instead; any other failure keeps its
traceback, which is what a bug needs.
"""

from __future__ import annotations

from starlette.datastructures import State
from starlette.types import Message, Send

from modelreg.settings import Settings

__all__ = ["report_startup_failure", "startup_failure"]


def startup_failure(exc: BaseException, settings: Settings) -> str | None:
    """One line for an unreachable database, else None (the traceback is reported)."""
    from modelreg.db.outage import unreachable_line

    line = unreachable_line(exc, settings.resolved_database_url)
    return f"modelreg: cannot start: {line}" if line else None


def report_startup_failure(state: State, send: Send) -> Send:
    """A `send` for the lifespan scope that replaces the traceback of a failed start by the
    line the lifespan recorded, when it recorded one."""

    async def wrapped(message: Message) -> None:
        line = getattr(state, "startup_failure", None)
        if message["type"] == "lifespan.startup.failed" and isinstance(line, str):
            message = {**message, "message": line}
        await send(message)

    return wrapped
