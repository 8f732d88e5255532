#!/usr/bin/env python3
"""`modelreg serve` under cProfile, with the database's wall time split by kind of work.

Run by `chat_bench.py --profile` as the server process. On SIGINT (uvicorn's clean stop) it
writes `<out>.json`: CPU by package from cProfile's own time (the main thread: the event
loop), and the database's wall time, counted around SQLAlchemy's calls into the driver
(statements by kind, BEGIN, COMMIT), which includes the waits on a round trip or on SQLite's
thread. The wall figures are meant for a c=1 run, where turns do not overlap.

    chat_profiled_serve.py OUT -- serve --host ... --port ...
"""

from __future__ import annotations

import cProfile
import json
import pstats
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

WALL: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])  # kind -> [count, seconds]


def _kind(statement: str) -> str:
    head = statement.lstrip()[:200].upper()
    if "SET_CONFIG" in head:
        return "rls_context"
    word = head.split(None, 1)[0] if head else "?"
    if word in ("INSERT", "UPDATE", "DELETE"):
        table = head.split("INTO " if word == "INSERT" else word + " ", 1)[-1].split()[0]
        return f"{word.lower()} {table.lower().strip(chr(34))}"
    if word == "SELECT":
        table = head.split(" FROM ", 1)[-1].split()[0] if " FROM " in head else "-"
        return f"select {table.lower().strip(chr(34))}"
    return word.lower()


def _before(conn: Any, _cur: Any, _stmt: str, *_: Any) -> None:
    conn.info["_bench_t0"] = time.perf_counter()


def _after(conn: Any, _cur: Any, statement: str, *_: Any) -> None:
    started = conn.info.pop("_bench_t0", None)
    if started is not None:
        slot = WALL[_kind(statement)]
        slot[0] += 1
        slot[1] += time.perf_counter() - started


def _timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            slot = WALL[name]
            slot[0] += 1
            slot[1] += time.perf_counter() - started

    return wrapper


BUCKETS = (  # (label, substring of the file path); first match wins
    ("sqlalchemy ORM", "/sqlalchemy/orm/"),
    ("sqlalchemy core+engine", "/sqlalchemy/"),
    ("db driver (asyncpg/aiosqlite/sqlite3)", "asyncpg"),
    ("db driver (asyncpg/aiosqlite/sqlite3)", "aiosqlite"),
    ("db driver (asyncpg/aiosqlite/sqlite3)", "sqlite3"),
    ("greenlet", "greenlet"),
    ("pydantic", "/pydantic"),
    ("fastapi/starlette", "/fastapi/"),
    ("fastapi/starlette", "/starlette/"),
    ("uvicorn/httptools", "/uvicorn/"),
    ("modelreg chat", "/modelreg/chat/"),
    ("modelreg db", "/modelreg/db/"),
    ("modelreg client+providers", "/modelreg/client/"),
    ("modelreg client+providers", "/modelreg/providers/"),
    ("modelreg other", "/modelreg/"),
    ("asyncio/uvloop", "asyncio"),
    ("asyncio/uvloop", "uvloop"),
)


def _bucket(filename: str, func: str) -> str:
    if filename == "~":
        if "orjson" in func or "json" in func:
            return "json (orjson/json)"
        if "uvloop" in func or "select" in func or "epoll" in func:
            return "asyncio/uvloop"
        return "builtins"
    if "/json/" in filename:
        return "json (orjson/json)"
    for label, part in BUCKETS:
        if part in filename:
            return label
    return "other"


def summarize(profile: cProfile.Profile) -> dict[str, Any]:
    st = pstats.Stats(profile)
    by_bucket: dict[str, float] = defaultdict(float)
    total = 0.0
    tops = []
    for (filename, _line, func), (_cc, _nc, tt, _ct, _callers) in st.stats.items():  # type: ignore[attr-defined]
        if func in ("<method 'poll' of 'select.epoll' objects>", "_run_once", "lifespan"):
            continue  # idle wait, not work
        by_bucket[_bucket(filename, func)] += tt
        total += tt
        tops.append((tt, f"{filename.rsplit('/', 2)[-1]}:{func}"))
    tops.sort(reverse=True)
    return {
        "cpu_s": round(total, 3),
        "cpu_by_bucket_s": {
            k: round(v, 3) for k, v in sorted(by_bucket.items(), key=lambda x: -x[1])
        },
        "top_self": [(round(t, 3), name) for t, name in tops[:25]],
    }


def main() -> None:
    out, argv = sys.argv[1], sys.argv[sys.argv.index("--") + 1 :]
    event.listen(Engine, "before_cursor_execute", _before)
    event.listen(Engine, "after_cursor_execute", _after)
    Connection._begin_impl = _timed("BEGIN", Connection._begin_impl)  # type: ignore[method-assign]
    Connection._commit_impl = _timed("COMMIT", Connection._commit_impl)  # type: ignore[method-assign]
    Connection._rollback_impl = _timed("ROLLBACK", Connection._rollback_impl)  # type: ignore[method-assign]
    from modelreg.cli import main as cli_main

    sys.argv = ["modelreg", *argv]
    profile = cProfile.Profile()
    started = time.perf_counter()
    try:
        profile.runcall(cli_main)
    except SystemExit:
        pass
    finally:
        profile.dump_stats(out.removesuffix(".json") + ".pstats")  # for pstats / snakeviz
        result = summarize(profile)
        result["wall_s"] = round(time.perf_counter() - started, 3)
        result["db_wall"] = {k: {"n": n, "s": round(s, 4)} for k, (n, s) in WALL.items()}
        with open(out, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
