#!/usr/bin/env python3
"""`make bench-chat`: the chat application's path (POST /api/chat) next to the gateway path
(/v1/chat/completions) on the same server in the same run, on SQLite and on PostgreSQL, with
the goals of issue 15 printed as MET / NOT MET.

Per database (and per target: this checkout, plus --ref-src checkouts as `ref`, `ref2`, ...),
one `modelreg serve` worker pinned to --gateway-cpu, nginx's fixed answers, wrk and
loadclient.py on --load-cpu:
  gateway c=1, c=32     wrk POST /v1/chat/completions (non-streaming)
  chat c=1, c=32        wrk POST /api/chat, a new conversation per turn (non-streaming)
  history               loadclient.py c=1: a first turn vs a turn in a conversation with 50
                        earlier messages (one prepared conversation per request), p50 apart
  slow streams c=32     loadclient.py: TTFT of direct, /v1 and /api/chat streams (20 chunks
                        20 ms apart)
  open streams          (first, right after the warm-up) loadclient.py --mode open: --open-streams
                        streams (2,000), each on its own connection, opened over --open-ramp s,
                        on a mock that sends 20 chunks 500 ms apart, so all are open at once;
                        straight at the mock (direct), then /v1 (stream:true), then /api/chat
                        (stream:true), --open-rounds times each (a second round tells a leak
                        from allocator high-water marks). The server's RSS from /proc: before,
                        peak (every 0.2 s), and after --open-settle s. --with-litellm: the same
                        against LiteLLM (one worker, pip-installed into --litellm-venv).
PostgreSQL is not pinned: its backends share both cores with everything else.

--profile: instead of the goals, the server runs under cProfile (chat_profiled_serve.py) for
a chat c=1 and a chat c=32 run per database, and the CPU split by package and the database's
wall time by kind (statements, BEGIN, COMMIT) per turn are printed.

The machine is shared: compare ratios within one run (gateway vs chat on the same server),
and look at `other%` (foreign CPU during the test) before trusting an absolute figure.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import procstat
import targets
from loadclient import raise_nofile
from run import Load
from upstreams import Upstreams, free_port, pinned, start_upstreams, stop_pid, wait_http

HERE = Path(__file__).resolve().parent
PG = "postgresql://postgres@127.0.0.1:5432/"
HISTORY = 50  # earlier messages in the continuing conversation
OPEN_MODEL = "mock-open"  # the long-stream mock of the open-streams test
# issue 15: "TTFT p99 within 25 ms of direct, RSS <= 300 MB, memory back near its idle level"
OPEN_TTFT_P99_MS = 25.0
OPEN_RSS_MAX_MB = 300.0
OPEN_NEAR_IDLE_MB = 20.0  # "near": at most this much above the RSS before the first stream


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def chat_json(model: str, **extra: Any) -> str:
    return json.dumps({"model_id": model, "message": "Hello, how are you?", **extra})


def gateway_json(model: str) -> str:
    return json.dumps(
        {"model": model, "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 64}
    )


# ------------------------------------------------------------------------------ server
def _pg(sql: str, dbname: str = "postgres") -> None:
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", dbname, "-qAtc", sql],
        check=True,
        capture_output=True,
    )


class Server:
    """One `modelreg serve` (one worker) on SQLite or a fresh PostgreSQL database."""

    def __init__(self, name: str, db: str, workdir: Path, args: argparse.Namespace) -> None:
        from modelreg.crypto import generate_key

        self.name, self.db = name, db
        self.port = free_port()
        self.pg_name: str | None = None
        self.env = targets._modelreg_env(workdir / f"{name}-{db}-data", self.port)
        self.env["MODELREG_ACCESS_LOG_SAMPLE"] = "0"
        # an open stream holds an upstream connection: the pool must not be the limit
        self.env["MODELREG_UPSTREAM_MAX_CONNECTIONS"] = str(max(4096, 2 * args.open_streams))
        if args.src_for.get(name):
            self.env["PYTHONPATH"] = str(args.src_for[name])
        if db == "postgresql":
            self.pg_name = f"modelreg_chatbench_{uuid.uuid4().hex[:10]}"
            _pg(f'CREATE DATABASE "{self.pg_name}"')
            self.env |= {
                "MODELREG_DATABASE_URL": PG + self.pg_name,
                "MODELREG_ENCRYPTION_KEY": generate_key(),
                "MODELREG_SESSION_SECRET": uuid.uuid4().hex,
            }
            targets._cli(self.env, "db", "upgrade")
        cmd = [targets._modelreg_bin(), "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        self.profile_out: Path | None = None
        if args.profile:
            self.profile_out = workdir / f"profile-{name}-{db}.json"
            serve = str(HERE / "chat_profiled_serve.py")
            cmd = [sys.executable, serve, str(self.profile_out), "--", *cmd[1:]]
        with open(workdir / f"{name}-{db}.log", "ab") as out:
            self.proc = subprocess.Popen(
                pinned(cmd, args.gateway_cpu),
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.api = f"http://127.0.0.1:{self.port}"
        try:
            wait_http(self.api + "/healthz", 120, self.proc)
            self.key = targets._token_from(
                targets._cli(self.env, "tokens", "create", "admin", "--name", "bench")
            )
        except Exception:
            self.stop()
            raise

    def register(self, ups: Upstreams) -> None:
        t = targets.Target(self.name, "", "", "", key=self.key, extra={"api": self.api})
        for model, base in zip(
            targets.MODELS, (ups.fast_base, ups.fast_base_sse, ups.slow_base), strict=True
        ):
            targets.register_model(t, model, base)
        if ups.open_base:
            targets.register_model(t, OPEN_MODEL, ups.open_base)
        targets.first_chat(self.api + "/v1", self.key, targets.MODELS[0], 60)

    def stop(self) -> None:
        if self.proc.poll() is None:
            stop_pid(self.proc.pid, sig=2)  # SIGINT: a clean stop (the profile is written)
            self.proc.wait(30)
        if self.pg_name:
            _pg(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')


class CpuSeries:
    """The CPU of `pid`'s tree in % of one core, per second, in a thread (a context manager)."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        self.pcts: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        pids = procstat.proc_tree(self.pid) if self.pid else []
        last, t = procstat.pids_ticks(pids), time.monotonic()
        while not self._stop.wait(1.0):
            now, ticks = time.monotonic(), procstat.pids_ticks(pids)
            self.pcts.append(round(100.0 * (ticks - last) / procstat.CLK / (now - t), 1))
            last, t = ticks, now

    def __enter__(self) -> CpuSeries:
        if self.pid:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self.pid:
            self._thread.join()


# ------------------------------------------------------------------------------ tests
class Bench:
    def __init__(self, args: argparse.Namespace, load: Load, ups: Upstreams) -> None:
        self.args, self.load, self.ups = args, load, ups

    def measured(self, srv: Server | None, fn: Any) -> dict[str, Any]:
        pid = srv.proc.pid if srv else None
        roots = [pid, *self.ups.pids]
        procstat.wait_quiet(roots, self.args.quiet_pct, self.args.quiet_max_wait, log)
        with procstat.Sampler(pid, self.ups.pids) as s:
            started = time.monotonic()
            r: dict[str, Any] = fn()
            wall = time.monotonic() - started
        r.update(gw_cpu_pct=s.gw_cpu_pct, other_pct=s.other_pct)
        ok = r.get("ok") or 0
        if s.gw_cpu_pct is not None and ok:
            r["cpu_ms_per_req"] = round(s.gw_cpu_pct / 100 * wall * 1000 / ok, 3)
        return r

    def wrk(self, srv: Server, path: str, body: str, conc: int) -> dict[str, Any]:
        r = self.measured(
            srv, lambda: self.load.wrk(srv.api + path, body, srv.key, conc, self.args.duration)
        )
        log(
            f"  [{srv.name}/{srv.db}] {path} c={conc}: {r['req_per_s']}/s p50 {r['p50_ms']:.2f} "
            f"p99 {r['p99_ms']:.2f} ms err={r['errors']} cpu/req={r.get('cpu_ms_per_req')} ms "
            f"other={r['other_pct']}%"
        )
        return r

    def client(
        self, srv: Server | None, url: str, key: str, mode: str, conc: int, n: int, *extra: str
    ) -> dict[str, Any]:
        return self.measured(
            srv, lambda: self.load.client(url, key, "", mode, conc, n, 120, *extra)
        )

    def history(self, srv: Server, workdir: Path) -> dict[str, Any]:
        """p50 of a first turn vs a turn with HISTORY earlier messages, same client, c=1."""
        n = self.args.history_turns
        model = targets.MODELS[0]
        earlier = [
            {"role": "user" if i % 2 == 0 else "assistant", "content": f"message {i} " * 8}
            for i in range(HISTORY - 1)
        ]  # + the stored answer = HISTORY earlier messages
        ids = []
        for _ in range(n):
            made = targets.api_call(
                "POST", srv.api + "/api/chat", srv.key, {"model_id": model, "messages": earlier}
            )
            ids.append(made["conversation_id"])
        # interleaved, a first turn and a continuing turn one after the other: a busy
        # machine slows both alike
        mixed = workdir / f"history-{srv.name}-{srv.db}.jsonl"
        lines = [x for c in ids for x in (chat_json(model), chat_json(model, conversation_id=c))]
        mixed.write_text("\n".join(lines) + "\n")
        r = self.client(
            srv, srv.api + "/api/chat", srv.key, "json", 1, 2 * n,
            "--api", "chat", "--bodies", str(mixed), "--groups", "2",
        )  # fmt: skip
        first_p50 = round(r["groups"][0]["total_ms"]["p50"], 3)
        history_p50 = round(r["groups"][1]["total_ms"]["p50"], 3)
        out = {"run": r, "first_p50_ms": first_p50, "history_p50_ms": history_p50}
        out["delta_p50_ms"] = round(history_p50 - first_p50, 3)
        out["errors"] = r["errors"]
        log(
            f"  [{srv.name}/{srv.db}] history: first p50 {first_p50} ms, {HISTORY} earlier "
            f"p50 {history_p50} ms (+{out['delta_p50_ms']} ms), errors {r['errors']}"
        )
        return out

    def slow_streams(self, srv: Server) -> dict[str, Any]:
        conc = self.args.slow_conc
        n = conc * self.args.slow_per_conn
        out = {}
        model = targets.MODELS[2]
        cases = {
            "direct": (None, self.ups.slow_base + "/chat/completions", "", ("--model", model)),
            "gateway": (srv, srv.api + "/v1/chat/completions", srv.key, ("--model", model)),
            "chat": (srv, srv.api + "/api/chat", srv.key, ("--model", model, "--api", "chat")),
        }
        for label, (who, url, key, extra) in cases.items():
            r = self.client(who, url, key, "stream", conc, n, *extra)
            out[label] = r
            log(
                f"  [{srv.name}/{srv.db}] slow {label} c={conc}: ttft p50 {r['ttft_ms']['p50']} "
                f"p99 {r['ttft_ms']['p99']} ms, ok {r['ok']}/{r['sent']}, err {r['errors']} "
                f"{r['error_samples'][:1]}"
            )
        return out

    def open_round(self, pid: int | None, url: str, key: str, *extra: str) -> dict[str, Any]:
        """One round of --open-streams streams; the RSS of `pid`'s tree before, at its peak
        and after --open-settle seconds (sampled every 0.5 s while settling)."""
        a = self.args
        procstat.wait_quiet([pid, *self.ups.pids], a.quiet_pct, a.quiet_max_wait, log)
        before = procstat.tree_rss_mb(pid)
        max_s = a.open_chunks * a.open_delay_ms / 1000 + 30
        series = CpuSeries(pid)
        with procstat.Sampler(pid, self.ups.pids, interval=0.2) as s, series:
            r = self.load.client(
                url, key, OPEN_MODEL, "open", a.open_streams, a.open_streams, max_s,
                "--ramp", str(a.open_ramp), *extra,
            )  # fmt: skip
        settle = []
        t_end = time.monotonic() + a.open_settle
        while (now := time.monotonic()) < t_end:
            time.sleep(min(0.5, t_end - now))
            settle.append(procstat.tree_rss_mb(pid))
        r.update(
            rss_before_mb=before,
            rss_peak_mb=s.max_rss,
            rss_after_mb=settle[-1] if settle else procstat.tree_rss_mb(pid),
            rss_settle_mb=settle,
            gw_cpu_pct=s.gw_cpu_pct,
            other_pct=s.other_pct,
            cpu_busy_pct=s.cpu,  # per CPU: is the server's CPU shared with foreign work?
            # the server's CPU per second: the ramp (the starts) apart from the relaying
            gw_cpu_series_pct=series.pcts,
        )
        if series.pcts:
            ramp = series.pcts[: max(1, round(a.open_ramp))]
            r["gw_cpu_ramp_pct"] = round(sum(ramp) / len(ramp), 1)
        return r

    def open_streams(
        self, pid: int | None, where: str, label: str, url: str, key: str, *extra: str
    ) -> dict[str, Any]:
        """--open-rounds rounds; `pid`: the server whose RSS is sampled (None: direct)."""
        rounds = []
        for i in range(self.args.open_rounds):
            r = self.open_round(pid, url, key, *extra)
            rounds.append(r)
            log(
                f"  [{where}] open {label} round {i + 1}: ok {r['ok']}/{r['sent']} err "
                f"{r['errors_by_kind']} max open {r['max_open']}; ttft p50 {r['ttft_ms']['p50']} "
                f"p99 {r['ttft_ms']['p99']} ms; RSS {r['rss_before_mb']} -> peak "
                f"{r['rss_peak_mb']} -> {r['rss_after_mb']} MB; cpu {r['gw_cpu_pct']}% "
                f"(ramp {r.get('gw_cpu_ramp_pct')}%) "
                f"other {r['other_pct']}%"
            )
        return {"rounds": rounds}

    def open_all(self, srv: Server) -> dict[str, Any]:
        """Direct, then /v1 and /api/chat streams on `srv`, --open-rounds rounds each."""
        pid, where = srv.proc.pid, f"{srv.name}/{srv.db}"
        out: dict[str, Any] = {"rss_idle_mb": procstat.tree_rss_mb(pid)}
        direct = self.ups.open_base + "/chat/completions"
        out["direct"] = self.open_streams(None, "direct", "direct", direct, "")
        gw, chat = srv.api + "/v1/chat/completions", srv.api + "/api/chat"
        out["gateway"] = self.open_streams(pid, where, "/v1", gw, srv.key)
        out["chat"] = self.open_streams(pid, where, "/api/chat", chat, srv.key, "--api", "chat")
        return out

    def run(self, srv: Server, workdir: Path) -> dict[str, Any]:
        json_model = targets.MODELS[0]
        res: dict[str, Any] = {"rss_idle_mb": procstat.tree_rss_mb(srv.proc.pid)}
        # warm-up of both paths (profiles: at the lowest concurrency measured)
        warm = min(self.args.conc) if self.args.profile else 8
        self.load.wrk(srv.api + "/api/chat", chat_json(json_model), srv.key, warm, 2)
        self.load.wrk(srv.api + "/v1/chat/completions", gateway_json(json_model), srv.key, warm, 2)
        if self.args.open_streams and not self.args.profile:
            # first: "idle" is then a warmed-up server that has served nothing else
            res["open"] = self.open_all(srv)
        for conc in self.args.conc:
            if not (self.args.profile and self.args.chat_only):
                res[f"gateway_c{conc}"] = self.wrk(
                    srv, "/v1/chat/completions", gateway_json(json_model), conc
                )
            res[f"chat_c{conc}"] = self.wrk(srv, "/api/chat", chat_json(json_model), conc)
        if self.args.profile:
            return res
        if self.args.history_turns:
            res["history"] = self.history(srv, workdir)
        if self.args.slow_conc:
            res["slow"] = self.slow_streams(srv)
        res["rss_after_mb"] = procstat.tree_rss_mb(srv.proc.pid)
        return res


# ------------------------------------------------------------------------------ goals
def goals(name: str, db: str, r: dict[str, Any], ref: dict[str, Any] | None) -> list[str]:
    rows = []

    def row(goal: str, met: bool | None, figures: str) -> None:
        verdict = "NOT RUN" if met is None else ("MET" if met else "NOT MET")
        rows.append(f"| {db} | {name} | {goal} | **{verdict}** | {figures} |")

    c32, g32 = r.get("chat_c32"), r.get("gateway_c32")
    if c32:
        row(
            "chat c=32 ≥ 2,000 turns/s, p99 ≤ 30 ms",
            c32["req_per_s"] >= 2000 and c32["p99_ms"] <= 30 and not c32["errors"],
            f"{c32['req_per_s']:,.0f}/s, p50 {c32['p50_ms']:.1f} ms, p99 {c32['p99_ms']:.1f} ms "
            f"(gateway {g32['req_per_s']:,.0f}/s, p99 {g32['p99_ms']:.1f} ms)",
        )
    c1, g1 = r.get("chat_c1"), r.get("gateway_c1")
    if c1:
        delta = c1["p50_ms"] - g1["p50_ms"]
        row(
            "chat c=1 p50 ≤ gateway p50 + 1 ms",
            delta <= 1.0,
            f"chat {c1['p50_ms']:.2f} ms vs gateway {g1['p50_ms']:.2f} ms (+{delta:.2f} ms); "
            f"{c1['req_per_s']:,.0f}/s vs {g1['req_per_s']:,.0f}/s",
        )
    slow = r.get("slow")
    if slow:
        d, c = slow["direct"]["ttft_ms"], slow["chat"]["ttft_ms"]
        g = slow["gateway"]["ttft_ms"]
        ok = slow["chat"]["errors"] == 0 and c["p50"] - d["p50"] <= 2.0
        row(
            "chat stream TTFT (slow, c=32) within 2 ms of direct",
            ok,
            f"p50 chat {c['p50']:.1f} / gateway {g['p50']:.1f} / direct {d['p50']:.1f} ms "
            f"(+{c['p50'] - d['p50']:.1f} ms); p99 {c['p99']:.1f} / {g['p99']:.1f} / "
            f"{d['p99']:.1f} ms",
        )
    hist = r.get("history")
    if hist:
        row(
            f"turn with {HISTORY} earlier messages ≤ first turn + 1 ms (p50, c=1)",
            hist["delta_p50_ms"] <= 1.0 and not hist["errors"],
            f"first {hist['first_p50_ms']:.2f} ms, with history {hist['history_p50_ms']:.2f} ms "
            f"(+{hist['delta_p50_ms']:.2f} ms), interleaved",
        )
    if ref and g32 and ref.get("gateway_c32"):
        mine, theirs = g32.get("cpu_ms_per_req"), ref["gateway_c32"].get("cpu_ms_per_req")
        if mine and theirs:
            row(
                "gateway CPU ms/request within 5 % of ref",
                mine <= theirs * 1.05,
                f"{mine:.3f} vs ref {theirs:.3f} ms/request (c=32)",
            )
    return rows


def open_goals(db: str, name: str, r: dict[str, Any], n: int) -> list[str]:
    """Issue 15's open-streams goals per path; `r` as Bench.open_all returns it."""
    rows = []

    def row(goal: str, met: bool, figures: str) -> None:
        rows.append(f"| {db} | {name} | {goal} | **{'MET' if met else 'NOT MET'}** | {figures} |")

    direct = r["direct"]["rounds"]
    d99 = [x["ttft_ms"]["p99"] for x in direct]
    d50 = [x["ttft_ms"]["p50"] for x in direct]
    idle = r["rss_idle_mb"]
    for path, label in (("gateway", "/v1 stream"), ("chat", "/api/chat stream")):
        if path not in r:
            continue
        rounds = r[path]["rounds"]
        oks = "/".join(str(x["ok"]) for x in rounds)
        errs: dict[str, int] = {}
        for x in rounds:
            for k, v in x["errors_by_kind"].items():
                errs[k] = errs.get(k, 0) + v
        row(
            f"{n:,} open slow streams ({label}), no errors",
            all(x["ok"] == n and not x["errors"] for x in rounds),
            f"ok {oks} of {n:,} per round, errors {errs or 0}, most open at once "
            + "/".join(str(x["max_open"]) for x in rounds),
        )
        p99 = [x["ttft_ms"]["p99"] for x in rounds]
        p50 = [x["ttft_ms"]["p50"] for x in rounds]
        # the worst round against the worst direct round; a round without answers is no pass
        worst = None if None in p99 else max(p99) - max(d99)
        fmt = lambda v: "/".join(f"{x:.0f}" if x is not None else "–" for x in v)  # noqa: E731
        plus = f"+{worst:.0f}" if worst is not None else "a round without answers"
        row(
            f"TTFT p99 within {OPEN_TTFT_P99_MS:.0f} ms of direct ({label})",
            worst is not None and worst <= OPEN_TTFT_P99_MS,
            f"p99 {fmt(p99)} vs direct {fmt(d99)} ms ({plus}); p50 {fmt(p50)} vs "
            f"{fmt(d50)} ms; other% " + "/".join(f"{x['other_pct']:.0f}" for x in rounds),
        )
        peak = max(x["rss_peak_mb"] or 0 for x in rounds)
        row(
            f"RSS ≤ {OPEN_RSS_MAX_MB:.0f} MB ({label})",
            peak <= OPEN_RSS_MAX_MB,
            f"peak {'/'.join(str(x['rss_peak_mb']) for x in rounds)} MB (idle {idle} MB)",
        )
        after = rounds[-1]["rss_after_mb"] or 0
        row(
            f"RSS back near idle, ≤ idle + {OPEN_NEAR_IDLE_MB:.0f} MB ({label})",
            after - idle <= OPEN_NEAR_IDLE_MB,
            f"idle {idle} → before/after each round "
            + ", ".join(f"{x['rss_before_mb']}→{x['rss_after_mb']}" for x in rounds)
            + " MB",
        )
    return rows


def profile_table(name: str, db: str, r: dict[str, Any], prof: dict[str, Any]) -> str:
    turns = sum(v["requests"] for k, v in r.items() if k.startswith("chat_c"))
    gw = sum(v["requests"] for k, v in r.items() if k.startswith("gateway_c"))
    lines = [f"### {db} ({name}): {turns} chat turns + {gw} gateway calls under cProfile", ""]
    lines.append(f"CPU in the event-loop thread: {prof['cpu_s']} s")
    lines.append("")
    lines.append("| bucket | CPU s | share |")
    lines.append("|---|---|---|")
    for k, v in prof["cpu_by_bucket_s"].items():
        lines.append(f"| {k} | {v} | {100 * v / prof['cpu_s']:.0f} % |")
    lines.append("")
    lines.append("Database wall time, all runs together (background writers included):")
    lines.append("")
    lines.append("| kind | count | per chat turn | total s |")
    lines.append("|---|---|---|---|")
    for k, v in sorted(prof["db_wall"].items(), key=lambda kv: -kv[1]["s"]):
        lines.append(f"| {k} | {v['n']} | {v['n'] / turns:.2f} | {v['s']} |")
    lines.append("")
    lines.append(
        "Top functions by own time: "
        + "; ".join(f"{name} {t}" for t, name in prof["top_self"][:12])
    )
    return "\n".join(lines)


def bench_litellm(bench: Bench, workdir: Path) -> dict[str, Any]:
    """The open streams against LiteLLM (one worker on --gateway-cpu, no database), with a
    direct run of its own just before; /v1 only (it has no /api/chat)."""
    a = bench.args
    try:
        t = targets.litellm(
            bench.ups, workdir, a.gateway_cpu, a.litellm_venv, {OPEN_MODEL: bench.ups.open_base}
        )
    except Exception as e:  # no package index, or it does not start: said in the table
        log(f"[litellm] not run: {e!r}"[:500])
        return {"error": f"{type(e).__name__}: {e}"[:300]}
    try:
        pid = t.watch_pid
        out: dict[str, Any] = {"version": t.extra.get("version"), "startup": t.startup}
        # the same warm-up as modelreg's /v1
        bench.load.wrk(t.base + "/chat/completions", gateway_json(targets.MODELS[0]), t.key, 8, 2)
        out["open"] = {"rss_idle_mb": procstat.tree_rss_mb(pid)}
        direct = bench.ups.open_base + "/chat/completions"
        out["open"]["direct"] = bench.open_streams(None, "direct", "direct", direct, "")
        url = t.base + "/chat/completions"
        out["open"]["gateway"] = bench.open_streams(pid, "litellm", "/v1", url, t.key)
        return out
    finally:
        t.stop()


def main(argv: list[str] | None = None) -> int:
    ints = lambda s: [int(x) for x in s.split(",") if x.strip()]  # noqa: E731
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--dbs", default="sqlite,postgresql")
    ap.add_argument(
        "--ref-src",
        type=Path,
        action="append",
        default=[],
        help="src/ of another checkout: target `ref` (then `ref2`, ...)",
    )
    ap.add_argument("--duration", type=float, default=8.0, help="seconds per wrk test")
    ap.add_argument("--conc", type=ints, default=[1, 32])
    ap.add_argument("--slow-conc", type=int, default=32, help="0: skip the slow streams")
    ap.add_argument("--slow-per-conn", type=int, default=5)
    ap.add_argument("--history-turns", type=int, default=300, help="0: skip the history test")
    ap.add_argument(
        "--open-streams", type=int, default=2000, help="open slow streams at once; 0: skip"
    )
    ap.add_argument("--open-ramp", type=float, default=5.0, help="seconds to open them over")
    ap.add_argument("--open-rounds", type=int, default=2)
    ap.add_argument("--open-settle", type=float, default=3.0, help="seconds before RSS after")
    ap.add_argument("--open-chunks", type=int, default=20)
    ap.add_argument("--open-delay-ms", type=float, default=500.0)
    ap.add_argument(
        "--with-litellm",
        action="store_true",
        help="the open streams against LiteLLM too (pip-installs litellm[proxy] once)",
    )
    ap.add_argument("--litellm-venv", type=Path, default=Path("/tmp/litellm-venv"))
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--chat-only", action="store_true", help="--profile: no gateway runs")
    ap.add_argument("--gateway-cpu", default="1")
    ap.add_argument("--load-cpu", default="0")
    ap.add_argument("--quiet-pct", type=float, default=30.0)
    ap.add_argument("--quiet-max-wait", type=float, default=5.0)
    ap.add_argument("--label", default="chat")
    ap.add_argument("--out-dir", type=Path, default=HERE / "results")
    args = ap.parse_args(argv)
    # the Load helper of run.py reads these
    args.client, args.no_pin, args.requests = "wrk", False, 2000
    names = ["modelreg"] + [f"ref{i + 1 if i else ''}" for i in range(len(args.ref_src))]
    # this checkout's src/ (the venv's editable install may point at another checkout)
    args.src_for = {"modelreg": HERE.parent / "src"}
    args.src_for |= dict(zip(names[1:], args.ref_src, strict=True))
    load = Load(args)
    if not load.use_wrk:
        raise SystemExit("chat_bench needs wrk (apt-get install wrk)")
    if args.profile:
        args.open_streams = 0
    # a socket per open stream in the server (two: client and upstream), the mock, the client
    raise_nofile(4 * args.open_streams + 1024)
    workdir = Path(tempfile.mkdtemp(prefix="modelreg-chatbench-"))
    open_stream = (args.open_chunks, args.open_delay_ms) if args.open_streams else None
    ups = start_upstreams(workdir, args.load_cpu, use_nginx=True, open_stream=open_stream)
    bench = Bench(args, load, ups)
    results: dict[str, Any] = {"argv": sys.argv[1:], "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    report: list[str] = []
    try:
        for db in args.dbs.split(","):
            for name in names:
                log(f"[{name}/{db}] starting ...")
                srv = Server(name, db, workdir, args)
                try:
                    srv.register(ups)
                    results[f"{name}/{db}"] = bench.run(srv, workdir)
                finally:
                    srv.stop()
                if args.profile and srv.profile_out and srv.profile_out.exists():
                    prof = json.loads(srv.profile_out.read_text())
                    results[f"{name}/{db}"]["profile"] = prof
                    report.append(profile_table(name, db, results[f"{name}/{db}"], prof))
        if args.with_litellm and args.open_streams:
            results["litellm"] = bench_litellm(bench, workdir)
    finally:
        ups.stop()
    n_open = args.open_streams
    if not args.profile:
        report.append("| database | target | goal | verdict | figures |")
        report.append("|---|---|---|---|---|")
        for db in args.dbs.split(","):
            for name in names:
                ref = results.get(f"ref/{db}") if name == "modelreg" else None
                report.extend(goals(name, db, results[f"{name}/{db}"], ref))
            for name in names:
                if "open" in results[f"{name}/{db}"]:
                    report.extend(open_goals(db, name, results[f"{name}/{db}"]["open"], n_open))
        lite = results.get("litellm")
        if lite and "open" in lite:
            report.extend(open_goals("—", "litellm", lite["open"], n_open))
        elif lite:
            report.append(f"| — | litellm | open streams | **NOT RUN** | {lite.get('error')} |")
    text = "\n".join(report)
    print(text)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    stem = args.out_dir / f"{time.strftime('%Y-%m-%d-%H%M')}-{args.label}"
    stem.with_suffix(".json").write_text(json.dumps(results, indent=1, default=str))
    command = " ".join(sys.argv[1:])
    stem.with_suffix(".md").write_text(
        f"# chat bench {results['started']}\n\n`bench/chat_bench.py {command}`\n\n{text}\n"
    )
    print(f"results: {stem}.json / .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
