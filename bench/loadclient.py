#!/usr/bin/env python3
"""Closed-loop HTTP/1.1 load client for OpenAI-compatible chat completions (stdlib asyncio).

Each of --concurrency workers keeps one keep-alive connection and sends requests back to back
until --requests were sent in total or --max-seconds passed (both bounds always apply).

--mode stream  POST {"stream": true}; per request: ttfb (headers), ttft (first event with
               non-empty delta.content), total (to "data: [DONE]"), spread (first to last
               content event: ~0 when something in between buffers the stream), max_gap,
               chunks, usage seen.
--mode json    POST without streaming; latency of whole responses (wrk's fallback).
--mode get     GET the URL (e.g. /v1/models); latency of whole responses.
--mode open    open streams at scale: --concurrency streams, each on its own new connection,
               started evenly over --ramp seconds (one request each, no reuse), so that with a
               slow upstream they are all open at once; TTFT per stream, errors counted by
               kind, the most streams open at the same time (uvloop when importable).
--check        one JSON and one streamed request, validated (content, usage, [DONE]).
--api chat     modelreg's own POST /api/chat ({"model_id", "message"}; its events
               `text_delta` ... `done`) instead of the OpenAI wire format.
--bodies FILE  one JSON request body per line, taken in turn (e.g. a different conversation
               for every request); --requests is bounded by their number. --groups N:
               line i is variant i % N, and latencies are also given per variant
               (interleaved, so that a busy machine slows every variant alike).

Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

MESSAGES = [{"role": "user", "content": "Hello, how are you?"}]


def chat_body(model: str, stream: bool, api: str = "openai") -> bytes:
    if api == "chat":  # modelreg's chat API: a new conversation per turn
        turn: dict[str, Any] = {"model_id": model, "message": MESSAGES[0]["content"]}
        return json.dumps(turn | ({"stream": True} if stream else {})).encode()
    body: dict[str, Any] = {"model": model, "messages": MESSAGES, "max_tokens": 64}
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return json.dumps(body).encode()


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    k = (len(v) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


class HttpError(Exception):
    pass


class Conn:
    """One keep-alive connection; reconnects when the server closed it."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes, on_data: Any = None
    ) -> tuple[int, dict[str, str], bytes, float]:
        """Returns (status, headers, body unless on_data was given, time headers arrived)."""
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), self.timeout
            )
        assert self.reader is not None
        hdrs = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        clen = f"Content-Length: {len(body)}\r\n" if body or method == "POST" else ""
        start = f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
        self.writer.write(f"{start}{hdrs}{clen}\r\n".encode() + body)
        r = self.reader
        head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), self.timeout)
        t_headers = time.monotonic()
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        rh: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                rh[k.strip().lower()] = v.strip()
        parts: list[bytes] = []
        sink = on_data if on_data is not None else parts.append
        if rh.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size_line = await asyncio.wait_for(r.readuntil(b"\r\n"), self.timeout)
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    while (await asyncio.wait_for(r.readuntil(b"\r\n"), self.timeout)) != b"\r\n":
                        pass
                    break
                data = await asyncio.wait_for(r.readexactly(size + 2), self.timeout)
                sink(data[:-2])
        elif "content-length" in rh:
            left = int(rh["content-length"])
            while left > 0:
                data = await asyncio.wait_for(r.read(min(left, 65536)), self.timeout)
                if not data:
                    raise HttpError("connection closed mid-body")
                left -= len(data)
                sink(data)
        else:
            while data := await asyncio.wait_for(r.read(65536), self.timeout):
                sink(data)
            self.close()
        if rh.get("connection", "").lower() == "close":
            self.close()
        return status, rh, b"".join(parts), t_headers


@dataclass
class SSEStats:
    """Folds SSE bytes as they arrive into timing figures."""

    buf: bytes = b""
    first_content: float | None = None
    last_content: float | None = None
    n_content: int = 0
    n_events: int = 0
    done_at: float | None = None
    usage: bool = False
    max_gap: float = 0.0
    bad_json: int = 0

    def feed(self, data: bytes) -> None:
        now = time.monotonic()
        self.buf += data.replace(b"\r\n", b"\n")
        while (i := self.buf.find(b"\n\n")) >= 0:
            event, self.buf = self.buf[:i], self.buf[i + 2 :]
            name = b""
            for line in event.split(b"\n"):
                if line.startswith(b"event:"):
                    name = line[6:].strip()
                elif line.startswith(b"data:"):
                    self._data(name, line[5:].strip(), now)

    def _data(self, name: bytes, payload: bytes, now: float) -> None:
        self.n_events += 1
        if payload == b"[DONE]" or name == b"done":  # OpenAI's end, or /api/chat's
            self.done_at = now
            self.usage = self.usage or name == b"done"
            return
        try:
            obj = json.loads(payload)
        except ValueError:
            self.bad_json += 1
            return
        if obj.get("usage") or name == b"usage":
            self.usage = True
        if name == b"text_delta":
            texts = [obj.get("text")]
        else:
            texts = [(c.get("delta") or {}).get("content") for c in obj.get("choices") or []]
        for text in texts:
            if text:
                if self.last_content is not None:
                    self.max_gap = max(self.max_gap, now - self.last_content)
                if self.first_content is None:
                    self.first_content = now
                self.last_content = now
                self.n_content += 1


async def one_stream(conn: Conn, path: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    t0 = time.monotonic()
    s = SSEStats()
    status, _, _, t_headers = await conn.request("POST", path, headers, body, on_data=s.feed)
    t_end = time.monotonic()
    return {
        "status": status,
        "ok": status == 200 and s.done_at is not None and s.n_content > 0 and not s.bad_json,
        "ttfb": t_headers - t0,
        "ttft": s.first_content - t0 if s.first_content else None,
        "total": (s.done_at or t_end) - t0,
        "spread": s.last_content - s.first_content if s.first_content and s.last_content else None,
        "max_gap": s.max_gap,
        "chunks": s.n_content,
        "done": s.done_at is not None,
        "usage": s.usage,
        "bad_json": s.bad_json,
    }


async def one_plain(
    conn: Conn, method: str, path: str, headers: dict[str, str], body: bytes
) -> dict[str, Any]:
    t0 = time.monotonic()
    status, _, data, _ = await conn.request(method, path, headers, body)
    return {"status": status, "ok": status == 200 and bool(data), "total": time.monotonic() - t0}


@dataclass
class Run:
    args: argparse.Namespace
    path: str
    headers: dict[str, str]
    body: bytes
    results: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    sent: int = 0
    bodies: list[bytes] = field(default_factory=list)  # one per request (--bodies)

    async def worker(self, deadline: float) -> None:
        conn = Conn(self.args.host, self.args.port, self.args.timeout)
        try:
            while time.monotonic() < deadline and self.sent < self.args.requests:
                self.sent += 1
                try:
                    body = self.bodies[self.sent - 1] if self.bodies else self.body
                    if self.args.mode == "stream":
                        rec = await one_stream(conn, self.path, self.headers, body)
                    else:
                        method = "GET" if self.args.mode == "get" else "POST"
                        rec = await one_plain(conn, method, self.path, self.headers, body)
                    rec["index"] = self.sent - 1
                    self.results.append(rec)
                    if not rec["ok"]:
                        self.errors.append(f"status {rec['status']} or incomplete")
                except Exception as e:
                    self.errors.append(f"{type(e).__name__}: {e}"[:200])
                    conn.close()
                    await asyncio.sleep(0.05)
        finally:
            conn.close()


def summarize(run: Run, wall: float) -> dict[str, Any]:
    ok = [r for r in run.results if r["ok"]]
    out: dict[str, Any] = {
        "mode": run.args.mode,
        "concurrency": run.args.concurrency,
        "sent": run.sent,
        "ok": len(ok),
        "errors": len(run.errors),
        "error_samples": sorted(set(run.errors))[:5],
        "wall_s": round(wall, 3),
        "req_per_s": round(len(ok) / wall, 2) if wall > 0 else None,
    }
    keys = ["total"]
    if run.args.mode == "stream":
        keys = ["ttfb", "ttft", "total", "spread", "max_gap"]
        chunks = [r["chunks"] for r in ok]
        out["chunks"] = {"min": min(chunks, default=None), "max": max(chunks, default=None)}
        out["no_usage"] = sum(1 for r in ok if not r["usage"])
    for key in keys:
        vals = [r[key] * 1000.0 for r in ok if r[key] is not None]
        stats = {p: percentile(vals, q) for p, q in (("p50", 50), ("p90", 90), ("p99", 99))}
        stats["max"] = max(vals, default=None)
        out[key + "_ms"] = {k: round(v, 3) if v is not None else None for k, v in stats.items()}
    if run.args.groups > 1:  # request i belongs to group i % groups (interleaved variants)
        out["groups"] = []
        for g in range(run.args.groups):
            vals = [r["total"] * 1000.0 for r in ok if r["index"] % run.args.groups == g]
            stats = {p: percentile(vals, q) for p, q in (("p50", 50), ("p90", 90), ("p99", 99))}
            out["groups"].append({"ok": len(vals), "total_ms": stats})
    return out


@dataclass
class OpenRun:
    """--mode open: every stream on its own connection, one request each."""

    args: argparse.Namespace
    path: str
    headers: dict[str, str]
    body: bytes
    results: list[dict[str, Any]] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)
    open_now: int = 0
    max_open: int = 0

    def error(self, kind: str, sample: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1
        if len(self.error_samples) < 5 and sample not in self.error_samples:
            self.error_samples.append(sample)

    async def stream(self, start_at: float) -> None:
        wait = start_at - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        conn = Conn(self.args.host, self.args.port, self.args.timeout)
        self.open_now += 1
        self.max_open = max(self.max_open, self.open_now)
        try:
            rec = await one_stream(conn, self.path, self.headers, self.body)
            self.results.append(rec)
            if rec["status"] != 200:
                self.error(f"status {rec['status']}", f"status {rec['status']}")
            elif not rec["ok"]:
                self.error("incomplete", f"incomplete: {rec['chunks']} chunks, done={rec['done']}")
        except Exception as e:
            self.error(type(e).__name__, f"{type(e).__name__}: {e}"[:200])
        finally:
            self.open_now -= 1
            conn.close()


async def open_streams(
    args: argparse.Namespace, path: str, headers: dict[str, str], body: bytes
) -> dict[str, Any]:
    run = OpenRun(args, path, headers, body)
    n = args.concurrency
    t0 = time.monotonic()
    step = args.ramp / n if n else 0.0
    tasks = [asyncio.create_task(run.stream(t0 + i * step)) for i in range(n)]
    # hard bound whatever happens: the ramp + max_seconds + one timeout
    _, pending = await asyncio.wait(tasks, timeout=args.ramp + args.max_seconds + args.timeout)
    for t in pending:
        t.cancel()
    if pending:
        await asyncio.wait(pending, timeout=5)
        run.errors["cancelled"] = len(pending)
    wall = time.monotonic() - t0
    ok = [r for r in run.results if r["ok"]]
    out: dict[str, Any] = {
        "mode": "open",
        "concurrency": n,
        "ramp_s": args.ramp,
        "sent": n,
        "ok": len(ok),
        "errors": sum(run.errors.values()),
        "errors_by_kind": run.errors,
        "error_samples": run.error_samples,
        "max_open": run.max_open,
        "wall_s": round(wall, 3),
        "loop": type(asyncio.get_running_loop()).__module__.split(".")[0],
    }
    chunks = [r["chunks"] for r in ok]
    out["chunks"] = {"min": min(chunks, default=None), "max": max(chunks, default=None)}
    out["no_usage"] = sum(1 for r in ok if not r["usage"])
    for key in ("ttfb", "ttft", "total", "max_gap"):
        vals = [r[key] * 1000.0 for r in ok if r[key] is not None]
        stats = {p: percentile(vals, q) for p, q in (("p50", 50), ("p90", 90), ("p99", 99))}
        stats["max"] = max(vals, default=None)
        out[key + "_ms"] = {k: round(v, 3) if v is not None else None for k, v in stats.items()}
    return out


def read_bodies(path: str) -> list[bytes]:
    with open(path, "rb") as f:
        return [line.strip() for line in f if line.strip()]


async def load(args: argparse.Namespace, path: str, headers: dict[str, str]) -> dict[str, Any]:
    streamed = args.mode in ("stream", "open")
    body = b"" if args.mode == "get" else chat_body(args.model, streamed, args.api)
    if args.mode == "open":
        return await open_streams(args, path, headers, body)
    run = Run(args, path, headers, body)
    if args.bodies:
        run.bodies = read_bodies(args.bodies)
        args.requests = min(args.requests, len(run.bodies))
    t0 = time.monotonic()
    tasks = [
        asyncio.create_task(run.worker(t0 + args.max_seconds)) for _ in range(args.concurrency)
    ]
    # hard bound whatever happens: max_seconds + one timeout
    _, pending = await asyncio.wait(tasks, timeout=args.max_seconds + args.timeout + 5)
    for t in pending:
        t.cancel()
    out = summarize(run, time.monotonic() - t0)
    if pending:
        out["cancelled_workers"] = len(pending)
    return out


async def check(args: argparse.Namespace, path: str, headers: dict[str, str]) -> dict[str, Any]:
    conn = Conn(args.host, args.port, args.timeout)
    res: dict[str, Any] = {}
    try:
        status, _, data, _ = await conn.request("POST", path, headers, chat_body(args.model, False))
        try:
            obj = json.loads(data)
            content = obj["choices"][0]["message"]["content"]
            res["nonstream"] = {
                "status": status,
                "usage": obj.get("usage"),
                "ok": status == 200 and bool(content) and bool(obj.get("usage")),
            }
        except (ValueError, KeyError, IndexError, TypeError) as e:
            res["nonstream"] = {
                "status": status,
                "ok": False,
                "error": repr(e),
                "body": data[:300].decode("utf-8", "replace"),
            }
        if args.stream_model:
            spath = urlsplit(args.stream_url).path if args.stream_url else path
            rec = await one_stream(conn, spath, headers, chat_body(args.stream_model, True))
            res["stream"] = {k: rec[k] for k in ("status", "ok", "chunks", "usage", "done")}
            res["stream"]["ok"] = rec["ok"] and rec["usage"]
    finally:
        conn.close()
    res["ok"] = all(v["ok"] for v in res.values())
    return res


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    u = urlsplit(args.url)
    args.host, args.port = u.hostname, u.port or 80
    path = u.path + (("?" + u.query) if u.query else "")
    headers = {"Accept": "text/event-stream, application/json"}
    if args.mode != "get":
        headers["Content-Type"] = "application/json"
    if args.key:
        headers["Authorization"] = f"Bearer {args.key}"
    if args.check:
        return await check(args, path, headers)
    return await load(args, path, headers)


def raise_nofile(need: int) -> None:
    """Raise the soft limit of open files towards the hard one (one socket per stream)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        target = need if hard == resource.RLIM_INFINITY else min(hard, max(need, soft))
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--url", required=True, help="full URL, e.g. .../v1/chat/completions")
    ap.add_argument("--key", default="")
    ap.add_argument("--model", default="")
    ap.add_argument("--mode", choices=["stream", "json", "get", "open"], default="stream")
    ap.add_argument("--concurrency", type=int, default=1)
    ap.add_argument("--requests", type=int, default=50, help="total requests (upper bound)")
    ap.add_argument("--max-seconds", type=float, default=30.0, help="time bound for sending")
    ap.add_argument("--timeout", type=float, default=30.0, help="per connect/read timeout")
    ap.add_argument(
        "--ramp", type=float, default=5.0, help="--mode open: seconds over which to open them"
    )
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--stream-model", default="", help="with --check: the streaming model")
    ap.add_argument("--stream-url", default="", help="with --check: its URL (same host:port)")
    ap.add_argument("--api", choices=["openai", "chat"], default="openai")
    ap.add_argument("--bodies", default="", help="a file of request bodies, one JSON per line")
    ap.add_argument(
        "--groups", type=int, default=1, help="with --bodies: line i is variant i %% groups"
    )
    args = ap.parse_args()
    if args.mode == "open":
        raise_nofile(args.concurrency + 64)
        try:  # many connections in one loop: uvloop when there is one (modelreg serves on it)
            import uvloop

            uvloop.install()
        except ImportError:
            pass
    json.dump(asyncio.run(main_async(args)), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
