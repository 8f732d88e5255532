"""Which database errors mean "the database is unavailable" (answered 503 with Retry-After)
rather than "this query is wrong" (a bug, answered 500).

Unavailable: any failure to open a connection (refused, DNS, timeout, authentication, the
database missing or not accepting connections), and on an open one: a dropped connection
(SQLAlchemy marks it `connection_invalidated`), socket errors and timeouts, PostgreSQL
SQLSTATE classes 08 (connection exception), 53 (insufficient resources) and 57P (server shut
down), SQLite's busy / locked / I/O / full / cannot-open. Constraint violations, syntax errors
and the like are not outages and keep their own handling.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from modelreg.errors import DatabaseUnavailableError
from modelreg.logthrottle import ThrottledLog

__all__ = ["Outage", "describe", "is_outage", "safe_url", "unreachable_line"]

log = logging.getLogger("modelreg.db")

# SQLSTATE prefixes of an unusable server or connection (asyncpg errors carry `.sqlstate`)
_PG_OUTAGE_STATES = ("08", "53", "57P", "28", "3D000", "55000")
# SQLite primary result codes: BUSY, LOCKED, IOERR, FULL, CANTOPEN
_SQLITE_OUTAGE_CODES = frozenset({5, 6, 10, 13, 14})
# the seconds a client is told to wait: pools reconnect on the next checkout
RETRY_AFTER = 2.0


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        err = todo.pop()
        if err is None or id(err) in seen:
            continue
        seen.add(id(err))
        yield err
        orig = getattr(err, "orig", None)
        todo.extend(
            (orig if isinstance(orig, BaseException) else None, err.__cause__, err.__context__)
        )


def is_outage(exc: BaseException) -> bool:
    for err in _chain(exc):
        if isinstance(err, sa_exc.DBAPIError) and err.connection_invalidated:
            return True
        if isinstance(err, sa_exc.DisconnectionError | sa_exc.TimeoutError):
            return True  # TimeoutError here is the pool's: every connection busy
        if isinstance(err, OSError | TimeoutError):
            return True  # the driver's socket: refused, reset, unreachable, timed out
        sqlstate = getattr(err, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(_PG_OUTAGE_STATES):
            return True
        code = getattr(err, "sqlite_errorcode", None)
        if isinstance(code, int) and code & 0xFF in _SQLITE_OUTAGE_CODES:
            return True
        if type(err).__module__.startswith("asyncpg") and "closed" in str(err):
            return True  # asyncpg's InterfaceError "connection is closed"
    return False


def describe(exc: BaseException) -> str:
    """The innermost cause, in one line: `ConnectionRefusedError: [Errno 111] ...`."""
    inner, seen = exc, {id(exc)}
    while True:
        orig = getattr(inner, "orig", None)
        step = orig if isinstance(orig, BaseException) else None
        step = step or inner.__cause__ or inner.__context__
        if step is None or id(step) in seen:
            break
        inner = step
        seen.add(id(step))
    text = str(inner).strip().splitlines()[0] if str(inner).strip() else ""
    return f"{type(inner).__name__}: {text}"[:300] if text else type(inner).__name__


def safe_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL: say nothing of it rather than leak it
        return "(unparsable database URL)"


class Outage:
    """One database's outage state: turns an outage error into the 503 error, logs the
    first failure and then at most one line per 30 s, and one line when it is over."""

    def __init__(self, url: str) -> None:
        self.url = safe_url(url)
        self.down = False
        self._log = ThrottledLog(log, interval=30.0)

    def unavailable(self, exc: BaseException) -> DatabaseUnavailableError:
        self.down = True
        self._log.warning("database %s unavailable: %s", self.url, describe(exc))
        return DatabaseUnavailableError(
            "The database is temporarily unavailable; retry shortly", retry_after=RETRY_AFTER
        )

    def recovered(self) -> None:
        if self.down:
            self.down = False
            self._log.reset()
            log.warning("database %s available again", self.url)


def unreachable_line(exc: BaseException, url: str) -> str | None:
    """One line naming the database and the cause, when `exc` is an outage; else None."""
    if not (isinstance(exc, DatabaseUnavailableError) or is_outage(exc)):
        return None
    cause = exc.__cause__ if isinstance(exc, DatabaseUnavailableError) else None
    return (
        f"the database at {safe_url(url)} is not reachable ({describe(cause or exc)}); "
        "check that it runs and MODELREG_DATABASE_URL"
    )
