"""Measure upstream HTTP clients: aiohttp, httpx and modelreg's own (transport.py on
http1.py); docs/decisions.md records the result. A trivial aiohttp server runs in a child
process on 127.0.0.1; each client sends N sequential requests, then N requests with C in
flight, over one pooled session, on uvloop as in the server. Besides requests per second
(which include the server's time) it prints the client process's own CPU time per request,
the figure a gateway pays.

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
import uvloop
from aiohttp import web

from modelreg.client.transport import HttpTransport
from modelreg.providers.base import HttpRequest

BODY = b'{"model":"m","messages":[{"role":"user","content":"hello"}]}'
ANSWER = b'{"id":"x","choices":[{"message":{"role":"assistant","content":"hi"}}]}'


def serve(port: int) -> None:
    async def handle(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=ANSWER, content_type="application/json")

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handle)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


async def run_aiohttp(url: str, n: int, c: int) -> Result:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=c)) as s:

        async def one() -> None:
            async with s.post(url, data=BODY, headers={"content-type": "application/json"}) as r:
                await r.read()

        return await _measure(one, n, c)


async def run_httpx(url: str, n: int, c: int) -> Result:
    limits = httpx.Limits(max_connections=c, max_keepalive_connections=c)
    async with httpx.AsyncClient(limits=limits) as s:

        async def one() -> None:
            r = await s.post(url, content=BODY, headers={"content-type": "application/json"})
            await r.aread()

        return await _measure(one, n, c)


async def run_modelreg(url: str, n: int, c: int) -> Result:
    transport = HttpTransport(limit=c)
    request = HttpRequest("POST", url, {"content-type": "application/json"}, BODY)

    async def one() -> None:
        async with transport.open(request, allow_private=True) as r:
            await r.read()

    try:
        return await _measure(one, n, c)
    finally:
        await transport.aclose()


Result = tuple[float, float, float, float]  # seconds and CPU seconds: sequential, concurrent


async def _measure(one, n: int, c: int) -> Result:  # type: ignore[no-untyped-def]
    for _ in range(50):  # warm the pool
        await one()
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        await one()
    sequential, sequential_cpu = time.perf_counter() - t0, time.process_time() - c0
    sem = asyncio.Semaphore(c)

    async def bounded() -> None:
        async with sem:
            await one()

    t0, c0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(bounded() for _ in range(n)))
    return sequential, time.perf_counter() - t0, sequential_cpu, time.process_time() - c0


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
        runners = (("aiohttp", run_aiohttp), ("httpx", run_httpx), ("modelreg", run_modelreg))
        for name, runner in runners:
            seq, conc, seq_cpu, conc_cpu = [], [], [], []
            for _ in range(args.rounds):
                a, b, ca, cb = uvloop.run(runner(url, args.n, args.concurrency))
                seq.append(args.n / a)
                conc.append(args.n / b)
                seq_cpu.append(ca / args.n * 1000)
                conc_cpu.append(cb / args.n * 1000)
            print(
                f"{name:8} sequential {statistics.median(seq):6.0f} req/s "
                f"{statistics.median(seq_cpu):.3f} ms CPU/req   "
                f"concurrent({args.concurrency}) {statistics.median(conc):6.0f} req/s "
                f"{statistics.median(conc_cpu):.3f} ms CPU/req"
            )
    finally:
        server.terminate()
        server.join()


if __name__ == "__main__":
    main()
