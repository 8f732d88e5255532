#!/usr/bin/env python3
"""`make bench`: gateway overhead of modelreg against the upstream directly and LiteLLM.

Starts the mock upstreams (nginx, or the Python fallback), then one target at a time — direct,
modelreg, LiteLLM (--with-litellm) — each gateway alone on --gateway-cpu with one worker, the
load generators (wrk, loadclient.py) and the upstreams on --load-cpu. Per repetition:
  nonstream c=1, c=32  wrk, --duration s: req/s, p50/p99 of whole responses
  sse c=32             wrk: streamed responses/s (fixed 50-event stream)
  anthropic-* c=32     modelreg only: the same two on /v1/messages, Anthropic pass-through
                       (nginx's fixed Anthropic answers), to compare CPU per request
  slow c=1, c=32       loadclient.py: TTFT, total, first→last chunk spread (buffering check)
Also: start-to-healthy, RSS idle / after warm-up / peak / after load, foreign CPU noise
(other%) per test; --memory-soak: RSS growth between 10k and 200k requests; /v1/models and
/api/models p50 with 1,000 registered models. Prints one table (medians of --repeat runs with
min–max) and writes bench/results/<date>-<label>.json and .md.

--smoke: a few hundred requests through the Python upstream with the Python client (no nginx,
no wrk needed), one repetition, < 60 s; tests/test_bench_smoke.py runs it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import procstat
import pyspy_profile
import report
import targets
from targets import Target
from upstreams import Upstreams, pinned, start_upstreams

HERE = Path(__file__).resolve().parent
MESSAGES = [{"role": "user", "content": "Hello, how are you?"}]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def messages_body(model: str, stream: bool) -> str:
    body: dict[str, Any] = {"model": model, "messages": MESSAGES, "max_tokens": 64}
    if stream:
        body["stream"] = True
    return json.dumps(body)


ANTHROPIC_MODELS = ("mock-anthropic-json", "mock-anthropic-sse")


def register_anthropic(t: Target, ups: Upstreams) -> None:
    """Two Anthropic-provider models on the nginx upstream's /v1/messages locations: the
    Anthropic pass-through, measured beside the OpenAI one in the same run."""
    for name, base in zip(ANTHROPIC_MODELS, (ups.fast_base, ups.fast_base_sse), strict=True):
        targets.api_call(
            "POST",
            t.extra["api"] + "/api/models",
            t.key,
            {
                "name": name,
                "provider": "anthropic",
                "base_url": base,
                "model_id": "claude-sonnet-4-5",
                "api_key": "sk-ant-upstream-dummy-key",
                "is_global": True,
                "price_per_input_token": targets.PRICE_IN,
                "price_per_output_token": targets.PRICE_OUT,
            },
        )


def chat_body(model: str, stream: bool) -> str:
    body: dict[str, Any] = {"model": model, "messages": MESSAGES, "max_tokens": 64}
    if stream:
        body.update(stream=True, stream_options={"include_usage": True})
    return json.dumps(body)


# ------------------------------------------------------------------------------ load runners
class Load:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.cpu = None if args.no_pin else args.load_cpu
        self.use_wrk = args.client == "wrk" or (args.client == "auto" and bool(shutil.which("wrk")))

    def wrk(self, url: str, body: str, key: str, conc: int, duration: float) -> dict[str, Any]:
        env = dict(os.environ, BENCH_BODY=body, BENCH_KEY=key)
        cmd = [
            "wrk",
            "-t1",
            f"-c{conc}",
            f"-d{max(1, round(duration))}s",
            "--timeout",
            "10s",
            "-s",
            str(HERE / "wrk_post.lua"),
            url,
        ]
        p = subprocess.run(
            pinned(cmd, self.cpu), env=env, capture_output=True, text=True, timeout=duration + 60
        )
        for line in p.stdout.splitlines():
            if line.startswith("BENCH_JSON "):
                d = json.loads(line[len("BENCH_JSON ") :])
                errs = sum(d[k] for k in d if k.startswith("err_"))
                ok = d["requests"] - d["err_status"]
                return {
                    "tool": "wrk",
                    "requests": d["requests"],
                    "ok": ok,
                    "errors": errs,
                    "err_detail": {k: v for k, v in d.items() if k.startswith("err_") and v},
                    "req_per_s": round(ok / (d["duration_us"] / 1e6), 1),
                    "p50_ms": d["lat_p50_us"] / 1000,
                    "p90_ms": d["lat_p90_us"] / 1000,
                    "p99_ms": d["lat_p99_us"] / 1000,
                    "max_ms": d["lat_max_us"] / 1000,
                }
        raise RuntimeError(f"wrk gave no summary (rc={p.returncode}): {p.stderr[-400:]}")

    def client(
        self,
        url: str,
        key: str,
        model: str,
        mode: str,
        conc: int,
        requests: int,
        max_seconds: float,
        *extra: str,
    ) -> dict[str, Any]:
        cmd = [
            sys.executable,
            str(HERE / "loadclient.py"),
            "--url",
            url,
            "--key",
            key,
            "--model",
            model,
            "--mode",
            mode,
            "--concurrency",
            str(conc),
            "--requests",
            str(requests),
            "--max-seconds",
            str(max_seconds),
            "--timeout",
            "30",
            *extra,
        ]
        p = subprocess.run(
            pinned(cmd, self.cpu), capture_output=True, text=True, timeout=max_seconds + 120
        )
        try:
            d: dict[str, Any] = json.loads(p.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise RuntimeError(
                f"loadclient failed (rc={p.returncode}): {p.stderr[-600:]}"
            ) from None
        d["tool"] = "loadclient"
        if "total_ms" in d and mode != "stream":
            d["p50_ms"], d["p99_ms"] = d["total_ms"]["p50"], d["total_ms"]["p99"]
        return d

    def whole_responses(
        self, url: str, body_model: str, stream: bool, key: str, conc: int, requests: int
    ) -> dict[str, Any]:
        """Closed-loop load of whole responses: wrk for --duration s, or the Python client."""
        if self.use_wrk:
            return self.wrk(url, chat_body(body_model, stream), key, conc, self.args.duration)
        mode = "json"
        if stream:  # the client times streams itself; whole-stream time is its "total"
            d = self.client(url, key, body_model, "stream", conc, requests, self.args.duration * 4)
            d["p50_ms"], d["p99_ms"] = d["total_ms"]["p50"], d["total_ms"]["p99"]
            return d
        return self.client(url, key, body_model, mode, conc, requests, self.args.duration * 4)


# ------------------------------------------------------------------------------ one target
def run_target(t: Target, args: argparse.Namespace, load: Load, ups: Upstreams) -> dict[str, Any]:
    json_model, sse_model, slow_model = t.models
    res: dict[str, Any] = {
        "base": t.base,
        "watch_pid": t.watch_pid,
        "startup": t.startup,
        "runs": [],
        **t.extra,
    }
    if t.watch_pid:
        res["cpus"] = procstat.affinity(t.watch_pid)
        with open(f"/proc/{t.watch_pid}/cmdline") as f:
            res["cmd"] = f.read().replace("\0", " ").strip()
    time.sleep(args.settle)
    mem: dict[str, Any] = {"rss_idle_mb": procstat.tree_rss_mb(t.watch_pid)}
    res["check"] = check_target(t, load)
    log(f"[{t.name}] idle RSS {mem['rss_idle_mb']} MB; check {json.dumps(res['check'])}")
    if args.warmup > 0:
        load.whole_responses(
            t.base + "/chat/completions", json_model, False, t.key, 8, args.requests
        )
        if load.use_wrk:
            load.wrk(t.sse_base + "/chat/completions", chat_body(sse_model, True), t.key, 8, 1)
    mem["rss_after_warmup_mb"] = procstat.tree_rss_mb(t.watch_pid)
    roots = [t.watch_pid, *ups.pids]
    peak: float | None = None

    def record(test: str, conc: int, rep: int, fn: Callable[[], dict[str, Any]]) -> None:
        nonlocal peak
        waited, quiet = procstat.wait_quiet(roots, args.quiet_pct, args.quiet_max_wait, log)
        with procstat.Sampler(t.watch_pid, ups.pids) as s:
            r = fn()
        r.update(
            test=test,
            conc=conc,
            rep=rep,
            gw_cpu_pct=s.gw_cpu_pct,
            cpu_busy=s.cpu,
            max_rss_mb=s.max_rss,
            other_cpu_pct=s.other_pct,
            quiet_wait_s=waited,
            foreign_before_pct=quiet,
        )
        if s.max_rss is not None:
            peak = max(peak or 0.0, s.max_rss)
        res["runs"].append(r)
        if test == "slow":
            log(
                f"[{t.name}] run {rep} {test} c={conc}: {r['req_per_s']} req/s ttft p50 "
                f"{r['ttft_ms']['p50']} ms spread {r['spread_ms']['p50']} ms err={r['errors']} "
                f"gwCPU={s.gw_cpu_pct}% other={s.other_pct}%"
            )
        else:
            log(
                f"[{t.name}] run {rep} {test} c={conc}: {r['req_per_s']} req/s p50 "
                f"{r['p50_ms']:.3f} p99 {r['p99_ms']:.3f} ms err={r['errors']} "
                f"gwCPU={s.gw_cpu_pct}% other={s.other_pct}%"
            )
        time.sleep(args.pause)

    json_url, sse_url = t.base + "/chat/completions", t.sse_base + "/chat/completions"
    slow_url = t.slow_base + "/chat/completions"
    scaling_only = t.name.startswith("modelreg-w")
    # the Anthropic pass-through (nginx has its fixed answers; wrk sends any body)
    anthropic = t.name == "modelreg" and ups.kind == "nginx" and load.use_wrk and args.anthropic
    if anthropic:
        register_anthropic(t, ups)
        messages_url = t.base + "/messages"
        for model, stream in zip(ANTHROPIC_MODELS, (False, True), strict=True):
            load.wrk(messages_url, messages_body(model, stream), t.key, 8, 1)  # warm-up
    for rep in range(1, args.repeat + 1):
        if scaling_only:  # throughput with N workers: the capacity tests only
            record(
                "nonstream",
                32,
                rep,
                lambda: load.whole_responses(json_url, json_model, False, t.key, 32, args.requests),
            )
            record(
                "sse",
                args.sse_conc,
                rep,
                lambda: load.whole_responses(
                    sse_url, sse_model, True, t.key, args.sse_conc, args.requests
                ),
            )
            continue
        for conc in args.conc:
            record(
                "nonstream",
                conc,
                rep,
                lambda c=conc: load.whole_responses(
                    json_url, json_model, False, t.key, c, args.requests
                ),
            )
        record(
            "sse",
            args.sse_conc,
            rep,
            lambda: load.whole_responses(
                sse_url, sse_model, True, t.key, args.sse_conc, args.requests
            ),
        )
        if anthropic:
            for test, model, stream in (
                ("anthropic-nonstream", ANTHROPIC_MODELS[0], False),
                ("anthropic-sse", ANTHROPIC_MODELS[1], True),
            ):
                record(
                    test,
                    args.sse_conc,
                    rep,
                    lambda m=model, s=stream: load.wrk(
                        messages_url, messages_body(m, s), t.key, args.sse_conc, args.duration
                    ),
                )
        for conc in args.slow_conc:
            n = args.slow_requests_c1 if conc == 1 else conc * args.slow_requests_per_worker
            record(
                "slow",
                conc,
                rep,
                lambda c=conc, n=n: load.client(
                    slow_url, t.key, slow_model, "stream", c, n, args.slow_max_seconds
                ),
            )
    time.sleep(args.pause)
    mem.update(
        rss_peak_mb=peak,
        rss_after_load_mb=procstat.tree_rss_mb(t.watch_pid),
        vmhwm_mb=procstat.tree_hwm_mb(t.watch_pid),
    )
    res["memory"] = mem
    if t.name == "modelreg" and args.memory_soak:
        res["memory_soak"] = memory_soak(t, load, args)
    if t.name in args.profile_targets and args.profile:
        res["profile"] = profile(t, load, args)
    if t.name == "modelreg" and args.models_list:
        res["models_list"] = models_list(t, load, ups, args.models_list)
    return res


def profile(t: Target, load: Load, args: argparse.Namespace) -> dict[str, Any]:
    """py-spy under non-stream c=32 and SSE c=32 load; collapsed stacks next to the results."""
    out: dict[str, Any] = {}
    assert t.watch_pid is not None
    stem = args.out_dir_resolved / f"{time.strftime('%Y-%m-%d-%H%M')}-{args.label}-{t.name}"
    scenarios = {
        "nonstream32": (t.base, t.models[0], False),
        "sse32": (t.sse_base, t.models[1], True),
    }
    for name, (base, model, stream) in scenarios.items():
        log(f"[{t.name}] py-spy during {name} for {args.profile} s ...")
        body = chat_body(model, stream)
        out[name] = pyspy_profile.record(
            t.watch_pid,
            args.profile,
            Path(f"{stem}-{name}"),
            load.cpu,
            lambda b=base, body=body: load.wrk(
                b + "/chat/completions", body, t.key, 32, args.profile
            ),
        )
        top = out[name].get("inclusive_pct", [])[:8]
        log(f"    top inclusive: {top}")
    return out


def check_target(t: Target, load: Load) -> dict[str, Any]:
    json_model, sse_model, slow_model = t.models
    chk = load.client(
        t.base + "/chat/completions",
        t.key,
        json_model,
        "json",
        1,
        1,
        30,
        "--check",
        "--stream-model",
        sse_model,
        "--stream-url",
        t.sse_base + "/chat/completions",
    )
    slow = load.client(t.slow_base + "/chat/completions", t.key, slow_model, "stream", 1, 1, 30)
    chk["slow_stream"] = {
        "ok": slow["ok"] == 1 and not slow["no_usage"],
        "chunks": slow["chunks"],
        "errors": slow["error_samples"],
    }
    chk["ok"] = bool(chk.get("ok")) and chk["slow_stream"]["ok"]
    return chk


def memory_soak(t: Target, load: Load, args: argparse.Namespace) -> dict[str, Any]:
    """RSS after 10k and after 200k non-streaming requests (c=32): the growth in between."""
    marks = (10_000, args.soak_requests)
    total, points = 0, []
    rss_at: dict[int, float | None] = {}
    log(f"[{t.name}] memory soak to {marks[1]:,} requests ...")
    while total < marks[1]:
        if load.use_wrk:
            r = load.wrk(t.base + "/chat/completions", chat_body(t.models[0], False), t.key, 32, 5)
        else:
            r = load.client(t.base + "/chat/completions", t.key, t.models[0], "json", 32, 5000, 60)
        total += int(r.get("requests", r.get("sent", 0)))
        rss = procstat.tree_rss_mb(t.watch_pid)
        points.append((total, rss))
        if len(points) % 6 == 0:
            log(f"    soak: {total:,} requests, RSS {rss} MB")
        for m in marks:
            if total >= m and m not in rss_at:
                rss_at[m] = rss
        if r.get("errors"):
            log(f"    soak slice had {r['errors']} errors")
    first, last = rss_at[marks[0]], rss_at[marks[1]]
    growth = round(100.0 * (last - first) / first, 2) if first and last else None
    out = {
        "rss_at_10k_mb": first,
        f"rss_at_{marks[1] // 1000}k_mb": last,
        "growth_pct": growth,
        "requests": total,
        "points": points,
    }
    log(f"[{t.name}] soak: {first} MB at 10k -> {last} MB at {total:,} ({growth} %)")
    return out


def models_list(t: Target, load: Load, ups: Upstreams, n_models: int) -> dict[str, Any]:
    """p50 of GET /v1/models and /api/models with `n_models` registered models."""
    api = t.extra["api"]
    have = len(targets.api_call("GET", api + "/api/models", t.key))
    names = [f"bench-m-{i:04d}" for i in range(n_models - have)]
    log(f"[{t.name}] registering {len(names)} models ...")
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: targets.register_model(t, n, ups.fast_base), names))
    out: dict[str, Any] = {"registered": len(targets.api_call("GET", api + "/api/models", t.key))}
    for path in ("/v1/models", "/api/models"):
        r = load.client(api + path, t.key, "", "get", 1, 300, 60)
        out[path] = {
            "p50_ms": r["p50_ms"],
            "p99_ms": r["p99_ms"],
            "errors": r["errors"],
            "req_per_s": r["req_per_s"],
        }
    log(f"[{t.name}] models list: {json.dumps(out)}")
    return out


# ------------------------------------------------------------------------------ metadata
def _cmd_version(cmd: list[str]) -> str | None:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return ((p.stdout or p.stderr).strip().splitlines() or [None])[0]
    return None


def machine_info() -> dict[str, Any]:
    cpu_model, mem_kb = None, None
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    return {
        "host": platform.node(),
        "kernel": platform.release(),
        "ncpu": os.cpu_count(),
        "cpu_model": cpu_model,
        "mem_gib": round(mem_kb / 1024**2, 1) if mem_kb else None,
        "python": platform.python_version(),
    }


def versions() -> dict[str, Any]:
    import importlib.metadata as md

    out: dict[str, Any] = {}
    for pkg in (
        "modelreg",
        "fastapi",
        "starlette",
        "uvicorn",
        "uvloop",
        "httptools",
        "aiohttp",
        "orjson",
        "pydantic",
        "sqlalchemy",
    ):
        with contextlib.suppress(md.PackageNotFoundError):
            out[pkg] = md.version(pkg)
    out["nginx"] = _cmd_version(["nginx", "-v"]) if shutil.which("nginx") else None
    out["wrk"] = _cmd_version(["wrk", "-v"]) if shutil.which("wrk") else None
    git = _cmd_version(["git", "-C", str(HERE.parent), "rev-parse", "--short", "HEAD"])
    dirty = _cmd_version(["git", "-C", str(HERE.parent), "status", "--porcelain", "--", "src"])
    out["git"] = f"{git}{'+dirty' if dirty else ''}" if git else None
    return out


# ------------------------------------------------------------------------------ main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ints = lambda s: [int(x) for x in s.split(",") if x.strip()]  # noqa: E731
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--smoke", action="store_true", help="tiny run for make test (< 60 s)")
    ap.add_argument(
        "--targets",
        default="direct,modelreg",
        help="comma-separated: direct, modelreg, litellm, modelreg-wN (N workers "
        "on both cores, capacity tests only), modelreg-ref (needs --ref-src), "
        "modelreg-nojournal, modelreg-fsync (the usage journal off, or with an fsync per "
        "event: `make bench-journal`), modelreg-budgets (budgets covering every request: "
        "`make bench-budgets`)",
    )
    ap.add_argument(
        "--ref-src",
        type=Path,
        action="append",
        default=[],
        help="src/ of another checkout (git worktree add /tmp/ref <commit>) served as the "
        "target modelreg-ref (repeat it for modelreg-ref2, -ref3, ...), to compare commits "
        "side by side in one run",
    )
    ap.add_argument(
        "--with-litellm",
        action="store_true",
        help="also run LiteLLM (pip-installs litellm[proxy] into --litellm-venv)",
    )
    ap.add_argument("--litellm-venv", type=Path, default=Path("/tmp/litellm-venv"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per wrk test")
    ap.add_argument(
        "--requests",
        type=int,
        default=2000,
        help="requests per non-stream test with the Python client",
    )
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--conc", type=ints, default=[1, 32])
    ap.add_argument("--sse-conc", type=int, default=32)
    ap.add_argument(
        "--no-anthropic",
        dest="anthropic",
        action="store_false",
        help="skip the Anthropic /v1/messages pass-through tests (modelreg target, nginx, wrk)",
    )
    ap.add_argument("--slow-conc", type=ints, default=[1, 32])
    ap.add_argument("--slow-requests-c1", type=int, default=30)
    ap.add_argument("--slow-requests-per-worker", type=int, default=10)
    ap.add_argument("--slow-max-seconds", type=float, default=60.0)
    ap.add_argument("--memory-soak", action="store_true", help="RSS between 10k and 200k requests")
    ap.add_argument("--soak-requests", type=int, default=200_000)
    ap.add_argument(
        "--models-list",
        type=int,
        default=1000,
        help="registered models for the /v1/models test (0: skip)",
    )
    ap.add_argument(
        "--client",
        choices=["auto", "wrk", "python"],
        default="auto",
        help="non-stream load generator (auto: wrk when installed)",
    )
    ap.add_argument(
        "--python-upstream",
        action="store_true",
        help="use the Python mock instead of nginx (the fallback when nginx is absent)",
    )
    ap.add_argument("--gateway-cpu", default="1")
    ap.add_argument("--load-cpu", default="0")
    ap.add_argument("--no-pin", action="store_true")
    ap.add_argument(
        "--quiet-pct",
        type=float,
        default=10.0,
        help="before each test wait until foreign CPU is below this %% of a core",
    )
    ap.add_argument("--quiet-max-wait", type=float, default=20.0)
    ap.add_argument("--pause", type=float, default=1.0)
    ap.add_argument("--settle", type=float, default=2.0)
    ap.add_argument(
        "--profile",
        type=int,
        default=0,
        help="seconds of py-spy sampling per scenario after the tests (needs wrk)",
    )
    ap.add_argument("--profile-targets", default="modelreg")
    ap.add_argument("--label", default="")
    ap.add_argument("--out-dir", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.smoke:
        args.__dict__.update(
            repeat=1,
            warmup=0,
            client="python",
            python_upstream=True,
            requests=150,
            duration=5.0,
            conc=[1, 32],
            sse_conc=32,
            slow_conc=[1, 32],
            slow_requests_c1=3,
            slow_requests_per_worker=1,
            slow_max_seconds=20.0,
            quiet_max_wait=0.0,
            pause=0.0,
            settle=0.5,
            models_list=0,
            memory_soak=False,
            label=args.label or "smoke",
        )
    if args.no_pin or (os.cpu_count() or 1) < 2:
        args.no_pin = True
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = [n.strip() for n in args.targets.split(",") if n.strip()]
    if args.with_litellm and "litellm" not in names:
        names.append("litellm")
    workdir = Path(tempfile.mkdtemp(prefix="modelreg-bench-"))
    out_dir = args.out_dir or (workdir if args.smoke else HERE / "results")
    args.out_dir_resolved = out_dir
    args.label = args.label or "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    gw_cpu = None if args.no_pin else args.gateway_cpu
    load_cpu = None if args.no_pin else args.load_cpu
    load = Load(args)
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    result: dict[str, Any] = {
        "meta": {
            "started": started,
            "label": args.label or "bench",
            "argv": sys.argv[1:],
            "smoke": args.smoke,
            "machine": machine_info(),
            "versions": versions(),
            "gateway_cpu": gw_cpu,
            "load_cpu": load_cpu,
            "load_client": "wrk" if load.use_wrk else "loadclient.py",
        },
        "targets": {},
    }
    if not args.smoke and any(n.startswith("modelreg") for n in names):
        result["meta"]["bytecode"] = targets.precompile_modelreg()
    log(f"workdir {workdir}; upstream {'python' if args.python_upstream else 'nginx'}")
    ups = start_upstreams(workdir, load_cpu, use_nginx=not args.python_upstream)
    result["meta"]["upstream"] = ups.kind
    try:
        for name in names:
            t = make_target(name, ups, workdir, gw_cpu, args)
            try:
                result["targets"][name] = run_target(t, args, load, ups)
            finally:
                t.stop()
            if name == "modelreg" and not args.smoke:
                result["targets"][name]["cold_start"] = [
                    targets.modelreg_cold_start(workdir / f"cold{i}", gw_cpu) for i in range(3)
                ]
    finally:
        ups.stop()
    result["meta"]["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    table = report.render_markdown(result)
    result["table_md"] = table
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{time.strftime('%Y-%m-%d-%H%M')}-{result['meta']['label']}"
    (out_dir / f"{stem}.json").write_text(json.dumps(result, indent=1, default=str))
    (out_dir / f"{stem}.md").write_text(render_md_file(result, table))
    print(table)
    print(f"results: {out_dir / stem}.json / .md")
    ok = all(t.get("check", {}).get("ok") for t in result["targets"].values())
    return 0 if ok else 1


# modelreg with the usage journal off, and with an fsync per event (default: on, no fsync)
JOURNAL_VARIANTS = {
    "modelreg-nojournal": {"MODELREG_USAGE_JOURNAL": "false"},
    "modelreg-fsync": {"MODELREG_USAGE_JOURNAL_FSYNC": "true"},
}


def set_budgets(t: Target) -> None:
    """Budgets that cover every benchmark request and are never reached: a company-wide one,
    one per model and one for the caller, so each admission checks three and every call's
    cost is booked against them (modelreg.budgets)."""
    api = t.extra["api"]
    budgets: list[dict[str, Any]] = [{"scope": "global"}, {"scope": "user"}]
    for model in targets.api_call("GET", api + "/api/models", t.key):
        budgets.append({"scope": "model", "model_id": model["id"]})
    for body in budgets:
        targets.api_call("POST", api + "/api/budgets", t.key, {**body, "limit_usd": "1000000000"})


def make_target(
    name: str, ups: Upstreams, workdir: Path, cpu: str | None, args: argparse.Namespace
) -> Target:
    log(f"starting target {name} ...")
    if name == "direct":
        return targets.direct(ups)
    if name == "modelreg":
        return targets.modelreg(ups, workdir, cpu)
    if name in JOURNAL_VARIANTS:  # the usage journal's cost: an A/B against "modelreg"
        return targets.modelreg(ups, workdir, cpu, name=name, extra_env=JOURNAL_VARIANTS[name])
    if name == "modelreg-budgets":  # the budget check's cost: an A/B against "modelreg"
        t = targets.modelreg(ups, workdir, cpu, name=name)
        set_budgets(t)
        return t
    if name.startswith("modelreg-w"):
        # several workers share both cores with the load generator: a scaling check only
        workers = int(name.removeprefix("modelreg-w"))
        return targets.modelreg(ups, workdir, None if cpu is None else "0,1", workers, name)
    if name.startswith("modelreg-ref"):
        # modelreg-ref serves the first --ref-src, modelreg-ref2 the second, ...
        index = int(name.removeprefix("modelreg-ref") or 1) - 1
        if not args.ref_src or index >= len(args.ref_src):
            raise SystemExit(f"the target {name} needs its --ref-src (another checkout's src/)")
        return targets.modelreg(ups, workdir, cpu, name=name, src=args.ref_src[index])
    if name == "litellm":
        return targets.litellm(ups, workdir, cpu, args.litellm_venv)
    raise SystemExit(f"unknown target {name!r}")


def render_md_file(result: dict[str, Any], table: str) -> str:
    m = result["meta"]
    head = [
        f"# Benchmark {m['label']} — {m['started']}",
        "",
        f"Command: `python bench/run.py {' '.join(m['argv'])}`",
        "",
        f"Machine: {json.dumps(m['machine'])}",
        "",
        f"Versions: {json.dumps(m['versions'])}",
        "",
        f"Upstream: {m['upstream']}; load client: {m['load_client']}; gateway CPU "
        f"{m['gateway_cpu']}, load CPU {m['load_cpu']}",
        "",
        "",
    ]
    return "\n".join(head) + table + "\n" + cpu_by_target(result)


def cpu_by_target(result: dict[str, Any]) -> str:
    """Gateway CPU ms per request (per stream) of every target and test, median (min-max) of
    the repetitions: the A/B figure of the variants (modelreg-budgets, -nojournal, ...)."""
    tests: dict[str, dict[str, list[float]]] = {}
    for name, target in result["targets"].items():
        for run in target.get("runs", []):
            if run.get("req_per_s") and run.get("gw_cpu_pct") is not None:
                per = run["gw_cpu_pct"] * 10 / run["req_per_s"]
                tests.setdefault(f"{run['test']} c={run['conc']}", {}).setdefault(name, []).append(
                    per
                )
    names = list(result["targets"])
    lines = ["", "CPU ms per request, every target (median (min-max) of the runs):", ""]
    lines += ["| test | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for test, by_target in tests.items():
        cells = []
        for name in names:
            values = sorted(by_target.get(name, []))
            cells.append(
                f"{statistics.median(values):.3f} ({values[0]:.3f}-{values[-1]:.3f})"
                if values
                else "-"
            )
        lines.append(f"| {test} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
