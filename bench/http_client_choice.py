"""Measure aiohttp against httpx as the upstream HTTP client (docs/decisions.md records the
result). A trivial aiohttp server runs in a child process on 127.0.0.1; each client sends
N sequential requests, then N requests with C in flight, over one pooled session.

    .venv/bin/python bench/http_client_choice.py [--n 2000] [--concurrency 50]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import socket
import statistics
import time

import aiohttp
import httpx
from aiohttp import web

BODY = b'{"model":"m","messages":[{"role":"user","content":"hello"}]}'
ANSWER = b'{"id":"x","choices":[{"message":{"role":"assistant","content":"hi"}}]}'


def serve(port: int) -> None:
    async def handle(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=ANSWER, content_type="application/json")

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handle)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


async def run_aiohttp(url: str, n: int, c: int) -> tuple[float, float]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=c)) as s:

        async def one() -> None:
            async with s.post(url, data=BODY, headers={"content-type": "application/json"}) as r:
                await r.read()

        return await _measure(one, n, c)


async def run_httpx(url: str, n: int, c: int) -> tuple[float, float]:
    limits = httpx.Limits(max_connections=c, max_keepalive_connections=c)
    async with httpx.AsyncClient(limits=limits) as s:

        async def one() -> None:
            r = await s.post(url, content=BODY, headers={"content-type": "application/json"})
            await r.aread()

        return await _measure(one, n, c)


async def _measure(one, n: int, c: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    for _ in range(50):  # warm the pool
        await one()
    t0 = time.perf_counter()
    for _ in range(n):
        await one()
    sequential = time.perf_counter() - t0
    sem = asyncio.Semaphore(c)

    async def bounded() -> None:
        async with sem:
            await one()

    t0 = time.perf_counter()
    await asyncio.gather(*(bounded() for _ in range(n)))
    return sequential, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = multiprocessing.Process(target=serve, args=(port,), daemon=True)
    server.start()
    time.sleep(1.0)
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    try:
        for name, runner in (("aiohttp", run_aiohttp), ("httpx", run_httpx)):
            seq, conc = [], []
            for _ in range(args.rounds):
                a, b = asyncio.run(runner(url, args.n, args.concurrency))
                seq.append(args.n / a)
                conc.append(args.n / b)
            print(
                f"{name:8} sequential {statistics.median(seq):7.0f} req/s   "
                f"concurrent({args.concurrency}) {statistics.median(conc):7.0f} req/s"
            )
    finally:
        server.terminate()
        server.join()


if __name__ == "__main__":
    main()
