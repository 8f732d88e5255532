#!/usr/bin/env python3
"""Mock OpenAI-compatible upstreams (stdlib asyncio, uvloop when importable).

--mode fast  (the Python fallback for nginx, same URLs and answers as nginx_conf.py):
  POST /v1/chat/completions      -> the fixed chat.completion JSON, at once
  POST /sse/v1/chat/completions  -> the fixed 50-event SSE body, at once (Content-Length)
--mode slow:
  POST */chat/completions "stream": true -> headers at once, then --chunks content chunks,
       chunk i at (i+1) * --delay-ms after the request, then finish + usage + [DONE];
       otherwise the JSON answer after chunks * delay.
Both: GET /health, GET */models.

A client that timestamps each event can tell whether a gateway in between buffers the stream.

Usage: python3 mock_upstream.py --mode slow --port 18081 [--chunks 20] [--delay-ms 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import payloads

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found"}


def _response(status: int, body: bytes, ctype: str, keep_alive: bool) -> bytes:
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'OK')}\r\nContent-Type: {ctype}\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
    )
    return head.encode() + body


def _chunked(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


class MockServer:
    def __init__(self, mode: str, chunks: int, delay_s: float) -> None:
        self.mode = mode
        self.chunks = chunks
        self.delay_s = delay_s
        self.json_body = payloads.chat_completion().encode()
        self.sse_body = payloads.sse_body().encode()
        self.models = payloads.models_list().encode()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await self._one_request(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def _one_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Serve one request; False when the connection should be closed."""
        head = await reader.readuntil(b"\r\n\r\n")
        t0 = time.monotonic()
        lines = head.decode("latin-1").split("\r\n")
        method, path, version = ([*lines[0].split(" "), "", "", ""])[:3]
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        body = await self._read_body(reader, headers)
        keep_alive = headers.get("connection", "").lower() != "close" and version == "HTTP/1.1"
        path = path.split("?", 1)[0]
        if method == "POST" and path.endswith("/chat/completions"):
            await self._chat(writer, path, body, t0, keep_alive)
        elif method == "GET" and path.endswith("/models"):
            writer.write(_response(200, self.models, "application/json", keep_alive))
        elif method == "GET" and path == "/health":
            writer.write(_response(200, b"ok", "text/plain", keep_alive))
        else:
            writer.write(
                _response(404, b'{"error":{"message":"not found"}}', "application/json", keep_alive)
            )
        await writer.drain()
        return keep_alive

    @staticmethod
    async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")
                    return body
                body += await reader.readexactly(size)
                await reader.readexactly(2)
        n = int(headers.get("content-length", "0") or 0)
        return await reader.readexactly(n) if n else b""

    async def _chat(
        self, writer: asyncio.StreamWriter, path: str, body: bytes, t0: float, keep_alive: bool
    ) -> None:
        if self.mode == "fast":
            # like nginx: the body is not even parsed
            if path.startswith("/sse/"):
                writer.write(_response(200, self.sse_body, "text/event-stream", keep_alive))
            else:
                writer.write(_response(200, self.json_body, "application/json", keep_alive))
            return
        try:
            req = json.loads(body or b"{}")
        except ValueError:
            writer.write(
                _response(400, b'{"error":{"message":"bad json"}}', "application/json", keep_alive)
            )
            return
        if req.get("stream"):
            await self._slow_stream(writer, t0, keep_alive)
            return
        await asyncio.sleep(self.chunks * self.delay_s)
        content = "".join(f"tok{i} " for i in range(self.chunks))
        writer.write(
            _response(
                200, payloads.chat_completion(content).encode(), "application/json", keep_alive
            )
        )

    async def _slow_stream(self, writer: asyncio.StreamWriter, t0: float, keep_alive: bool) -> None:
        writer.write(
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
            "Transfer-Encoding: chunked\r\n"
            f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n".encode()
        )
        await writer.drain()
        for i in range(self.chunks):
            # absolute schedule, so a slow event loop does not stretch the stream
            wait = t0 + (i + 1) * self.delay_s - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            delta: dict[str, object] = {"content": f"tok{i} "}
            if i == 0:
                delta = {"role": "assistant", "content": "tok0 ", "refusal": None}
            writer.write(_chunked(payloads.chunk(delta, chunk_id="chatcmpl-slow").encode()))
            await writer.drain()
        tail = payloads.chunk({}, finish="stop", chunk_id="chatcmpl-slow")
        tail += payloads.chunk(
            None, usage=payloads.usage(self.chunks), with_choice=False, chunk_id="chatcmpl-slow"
        )
        tail += "data: [DONE]\n\n"
        writer.write(_chunked(tail.encode()) + b"0\r\n\r\n")


async def serve(args: argparse.Namespace) -> None:
    srv = MockServer(args.mode, args.chunks, args.delay_ms / 1000.0)
    server = await asyncio.start_server(srv.handle, args.host, args.port, backlog=4096)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for s in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(s, stop.set)
    print(f"mock upstream ({args.mode}) on http://{args.host}:{args.port}", flush=True)
    async with server:
        await stop.wait()


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--mode", choices=["fast", "slow"], default="slow")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=18081)
    ap.add_argument("--chunks", type=int, default=20)
    ap.add_argument("--delay-ms", type=float, default=20.0)
    args = ap.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
