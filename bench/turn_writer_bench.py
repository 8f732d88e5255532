"""The chat turn writer alone on PostgreSQL: the Core transaction against one statement.

    .venv/bin/python bench/turn_writer_bench.py [--conc 1,8,32] [--users 1] [--rounds 6]

Creates a fresh database (migrated to head), then per concurrency runs both writers of
`modelreg.chat.turn_writer.TurnWriter` (`one_statement=False`: BEGIN, RLS context, INSERTs,
COMMIT; `True`: `SELECT modelreg_store_turns($1)`), interleaved round by round so that the
machine's noise hits both alike. Each turn: a new conversation, a user message, an answer.
Prints turns/s, this process's CPU per turn, p50 of a `write()` and the mean batch size.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from datetime import UTC, datetime

import asyncpg
from sqlalchemy import text

from modelreg.actor import Actor
from modelreg.chat.store import message_row
from modelreg.chat.turn_writer import TurnWrite, TurnWriter
from modelreg.db.engine import Database
from modelreg.db.migrate import upgrade_database

PG = "postgresql://postgres@127.0.0.1:5432/"


def _turn(actor: Actor) -> TurnWrite:
    assert actor.id is not None
    cid, now = uuid.uuid4(), datetime.now(UTC)
    work = TurnWrite(actor, actor.id)
    work.conversation = {"id": cid, "user_id": actor.id, "title": "t", "llm_model_id": None,
                         "created_at": now, "updated_at": now}  # fmt: skip
    work.messages = [
        message_row(cid, actor.id, "user", now, content="hello"),
        message_row(cid, actor.id, "assistant", now, content="answer " * 20, output_tokens=20),
    ]
    return work


async def _run(db: Database, conc: int, users: int, rounds: int) -> None:
    actors = []
    for _ in range(users):
        uid = uuid.uuid4()
        async with db.engine.begin() as conn:
            await conn.execute(
                text("INSERT INTO users (id, username, role, is_active, created_at)"
                     " VALUES (:i, :n, 'user', true, now())"),
                {"i": uid, "n": "bench-" + uid.hex[:12]},
            )  # fmt: skip
        actors.append(Actor(id=uid, username="bench", role="user"))
    writers = {"core": TurnWriter(db, one_statement=False), "one": TurnWriter(db)}
    sizes: dict[str, list[int]] = {k: [] for k in writers}
    waits: dict[str, list[float]] = {k: [] for k in writers}
    for name, writer in writers.items():
        commit = writer._commit

        async def counting(batch: list, commit=commit, name=name) -> None:  # type: ignore[no-untyped-def]
            sizes[name].append(len(batch))
            await commit(batch)

        writer._commit = counting  # type: ignore[method-assign]

    async def client(name: str, actor: Actor, n: int) -> None:
        for _ in range(n):
            t0 = time.perf_counter()
            await writers[name].write(_turn(actor))
            waits[name].append(time.perf_counter() - t0)

    per_client = max(20, 600 // conc)
    for name in writers:  # warm-up: connections, prepared statements, plans
        await asyncio.gather(*(client(name, actors[i % users], 10) for i in range(conc)))
    for k in writers:
        sizes[k].clear()
        waits[k].clear()
    cpu = dict.fromkeys(writers, 0.0)
    wall = dict.fromkeys(writers, 0.0)
    for _ in range(rounds):
        for name in writers:
            c0, t0 = time.process_time(), time.perf_counter()
            await asyncio.gather(
                *(client(name, actors[i % users], per_client) for i in range(conc))
            )
            cpu[name] += time.process_time() - c0
            wall[name] += time.perf_counter() - t0
    for name in writers:
        n = len(waits[name])
        print(
            f"conc {conc:>3} users {users:>3} {name:>4}: {n / wall[name]:7.0f} turns/s, "
            f"CPU {cpu[name] / n * 1000:.3f} ms/turn, write p50 "
            f"{statistics.median(waits[name]) * 1000:.2f} ms, "
            f"mean batch {statistics.mean(sizes[name]):.1f}"
        )


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--conc", default="1,8,32")
    ap.add_argument("--users", type=int, default=1, help="distinct users (RLS groups)")
    ap.add_argument("--rounds", type=int, default=6)
    args = ap.parse_args()
    name = f"modelreg_writerbench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(PG + "postgres")
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = "postgresql+asyncpg" + PG[len("postgresql") :] + name
        await upgrade_database(url)
        db = Database(url)
        try:
            for conc in (int(c) for c in args.conc.split(",")):
                await _run(db, conc, min(args.users, conc), args.rounds)
        finally:
            await db.dispose()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
