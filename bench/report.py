"""Aggregate runs (median of the repetitions, with min–max) and render the comparison table."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

# LiteLLM 1.108.7 on this machine (shared/bench/RESULTS.md, 2026-11-26): MEANS of 8 runs with
# min–max, same harness design (1 worker pinned to CPU 1, load on CPU 0). Shown as a labelled
# "reference" column when LiteLLM is not run in the same session.
LITELLM_REFERENCE: dict[str, tuple[float, float, float]] = {
    "nonstream/1/req_s": (81.2, 70.5, 95.3),
    "nonstream/1/p50": (11.9, 10.2, 13.4),
    "nonstream/1/p99": (60.7, 16.8, 352.0),
    "nonstream/32/req_s": (96.2, 76.7, 111.0),
    "nonstream/32/p50": (306.0, 263.0, 386.0),
    "nonstream/32/p99": (773.0, 658.0, 933.0),
    "nonstream/32/cpu_ms": (10.4, 9.0, 13.0),
    "sse/32/req_s": (20.4, 16.0, 23.7),
    "sse/32/cpu_ms": (49.0, 42.0, 62.0),
    "sse/32/p50": (1410.0, 1203.0, 1822.0),
    "slow/1/ttft_p50": (34.8, 33.1, 36.3),
    "slow/1/ttft_p99": (43.9, 38.0, 65.0),
    "slow/1/total_p50": (425.0, 422.0, 427.0),
    "slow/1/spread_p50": (378.0, 378.0, 378.4),
    "slow/32/req_s": (31.9, 27.3, 35.3),
    "slow/32/ttft_p50": (391.0, 309.0, 484.0),
    "slow/32/ttft_p99": (1062.0, 907.0, 1390.0),
    "slow/32/spread_p50": (248.0, 204.0, 282.0),
    "memory/idle_mb": (334.0, 334.0, 334.0),
    "memory/after_load_mb": (481.0, 480.4, 481.8),
    "startup/health_s": (6.9, 6.1, 7.6),
}
REFERENCE_LABEL = "LiteLLM 1.108.7 reference (shared/bench/RESULTS.md, 2026-11-26, mean of 8 runs)"

Getter = Callable[[dict[str, Any]], float | None]


def cpu_ms_per_request(r: dict[str, Any]) -> float | None:
    """Gateway CPU time per request: robust to a busy machine, unlike req/s (a starved gateway
    serves fewer requests but spends the same CPU on each)."""
    cpu, rate = r.get("gw_cpu_pct"), r.get("req_per_s")
    if not cpu or not rate:
        return None
    return round(10.0 * cpu / rate, 3)


def _ms(key: str, pct: str) -> Getter:
    return lambda r: r.get(key, {}).get(pct)


# (row key, test, conc, label, getter, kind): "rate" and "cpu" compare as a ratio, "ms" as a
# difference
ROWS: list[tuple[str, str, int, str, Getter, str]] = [
    ("nonstream/1/req_s", "nonstream", 1, "req/s", lambda r: r["req_per_s"], "rate"),
    ("nonstream/1/p50", "nonstream", 1, "p50 ms", lambda r: r["p50_ms"], "ms"),
    ("nonstream/1/p99", "nonstream", 1, "p99 ms", lambda r: r["p99_ms"], "ms"),
    ("nonstream/32/req_s", "nonstream", 32, "req/s", lambda r: r["req_per_s"], "rate"),
    ("nonstream/32/p50", "nonstream", 32, "p50 ms", lambda r: r["p50_ms"], "ms"),
    ("nonstream/32/p99", "nonstream", 32, "p99 ms", lambda r: r["p99_ms"], "ms"),
    ("nonstream/32/cpu_ms", "nonstream", 32, "CPU ms / request", cpu_ms_per_request, "cpu"),
    ("sse/32/req_s", "sse", 32, "streams/s", lambda r: r["req_per_s"], "rate"),
    ("sse/32/cpu_ms", "sse", 32, "CPU ms / stream", cpu_ms_per_request, "cpu"),
    ("sse/32/p50", "sse", 32, "p50 ms (whole stream)", lambda r: r["p50_ms"], "ms"),
    (
        "anthropic-nonstream/32/req_s",
        "anthropic-nonstream",
        32,
        "req/s",
        lambda r: r["req_per_s"],
        "rate",
    ),
    (
        "anthropic-nonstream/32/cpu_ms",
        "anthropic-nonstream",
        32,
        "CPU ms / request",
        cpu_ms_per_request,
        "cpu",
    ),
    ("anthropic-sse/32/req_s", "anthropic-sse", 32, "streams/s", lambda r: r["req_per_s"], "rate"),
    ("anthropic-sse/32/cpu_ms", "anthropic-sse", 32, "CPU ms / stream", cpu_ms_per_request, "cpu"),
    ("slow/1/ttft_p50", "slow", 1, "TTFT p50 ms", _ms("ttft_ms", "p50"), "ms"),
    ("slow/1/ttft_p99", "slow", 1, "TTFT p99 ms", _ms("ttft_ms", "p99"), "ms"),
    ("slow/1/total_p50", "slow", 1, "total p50 ms", _ms("total_ms", "p50"), "ms"),
    ("slow/1/spread_p50", "slow", 1, "first→last chunk p50 ms", _ms("spread_ms", "p50"), "ms"),
    ("slow/32/req_s", "slow", 32, "streams/s", lambda r: r["req_per_s"], "rate"),
    ("slow/32/ttft_p50", "slow", 32, "TTFT p50 ms", _ms("ttft_ms", "p50"), "ms"),
    ("slow/32/ttft_p99", "slow", 32, "TTFT p99 ms", _ms("ttft_ms", "p99"), "ms"),
    ("slow/32/spread_p50", "slow", 32, "first→last chunk p50 ms", _ms("spread_ms", "p50"), "ms"),
]

TEST_NAMES = {
    "nonstream": "non-stream",
    "sse": "SSE 50 events",
    "anthropic-nonstream": "Anthropic /v1/messages non-stream",
    "anthropic-sse": "Anthropic /v1/messages SSE 50 events",
    "slow": "slow stream 20×20 ms",
}


def summary(values: list[float | None]) -> dict[str, float] | None:
    """Median with min–max of the non-missing values."""
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}


def fmt_num(v: float | None) -> str:
    if v is None:
        return "-"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:.1f}"
    if abs(v) >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def fmt_summary(s: dict[str, float] | None) -> str:
    if s is None:
        return "-"
    if s["n"] == 1 or s["min"] == s["max"]:
        return fmt_num(s["median"])
    return f"{fmt_num(s['median'])} ({fmt_num(s['min'])}–{fmt_num(s['max'])})"


def aggregate(target: dict[str, Any]) -> dict[str, Any]:
    """Row key -> summary over the target's repetitions, plus CPU and noise per test."""
    out: dict[str, Any] = {}
    runs = target.get("runs", [])
    for key, test, conc, _, get, _ in ROWS:
        rs = [r for r in runs if r["test"] == test and r["conc"] == conc]
        if rs:
            out[key] = summary([get(r) for r in rs])
    for test, conc in {(r["test"], r["conc"]) for r in runs}:
        rs = [r for r in runs if r["test"] == test and r["conc"] == conc]
        out[f"{test}/{conc}/gw_cpu"] = summary([r.get("gw_cpu_pct") for r in rs])
        out[f"{test}/{conc}/other"] = summary([r.get("other_cpu_pct") for r in rs])
        out[f"{test}/{conc}/errors"] = sum(r.get("errors", 0) for r in rs)
    return out


def _compare(a: dict[str, float] | None, b: dict[str, float] | None, kind: str) -> str:
    if a is None or b is None:
        return "-"
    if kind in ("rate", "cpu"):
        return f"×{a['median'] / b['median']:.3g}" if b["median"] else "-"
    return f"{a['median'] - b['median']:+.2f} ms"


def _ref_summary(key: str) -> dict[str, float] | None:
    ref = LITELLM_REFERENCE.get(key)
    if ref is None:
        return None
    return {"median": ref[0], "min": ref[1], "max": ref[2], "n": 8}


def render_markdown(result: dict[str, Any]) -> str:
    """The comparison table (+ memory/startup lines) as Markdown."""
    targets = result["targets"]
    agg = {name: aggregate(t) for name, t in targets.items()}
    gw = "modelreg" if "modelreg" in agg else None
    lite_ran = "litellm" in agg
    lite_col = "LiteLLM (this run)" if lite_ran else "LiteLLM reference*"

    def lite(key: str) -> dict[str, float] | None:
        return agg["litellm"].get(key) if lite_ran else _ref_summary(key)

    lines = [
        f"| test | conc | metric | direct | modelreg | {lite_col} | modelreg vs direct "
        f"| modelreg vs LiteLLM |",
        "|---|---:|---|---|---|---|---|---|",
    ]
    for key, test, conc, label, _, kind in ROWS:
        d = agg.get("direct", {}).get(key)
        m = agg[gw].get(key) if gw else None
        ll = lite(key)
        if d is None and m is None:
            continue
        vs_lite = _compare(m, ll, kind)
        if kind == "ms" and m is not None and ll is not None:
            vs_lite = f"{m['median'] - ll['median']:+.1f} ms"
        lines.append(
            f"| {TEST_NAMES[test]} | {conc} | {label} | {fmt_summary(d)} | {fmt_summary(m)} "
            f"| {fmt_summary(ll)} | {_compare(m, d, kind)} | {vs_lite} |"
        )
    scaling = [n for n in agg if n.startswith("modelreg-w")]
    if scaling and gw:
        lines.append("")
        lines.append(
            "Workers (modelreg-wN: N workers on both cores, sharing them with the load "
            "generator and nginx):"
        )
        lines.append("")
        for key, label in (
            ("nonstream/32/req_s", "non-stream c=32 req/s"),
            ("sse/32/req_s", "SSE c=32 streams/s"),
        ):
            cells = [f"1 worker (CPU 1) {fmt_summary(agg[gw].get(key))}"]
            cells += [
                f"{n.removeprefix('modelreg-w')} workers {fmt_summary(agg[n].get(key))}"
                for n in scaling
            ]
            lines.append(f"- {label}: " + "; ".join(cells))
    lines.append("")
    lines.append("Gateway CPU (% of one core, median) / foreign CPU `other%` (max) / errors:")
    lines.append("")
    for name, a in agg.items():
        parts = []
        for test, conc in sorted({tuple(k.split("/")[:2]) for k in a if k.endswith("/gw_cpu")}):
            cpu = a.get(f"{test}/{conc}/gw_cpu")
            other = a.get(f"{test}/{conc}/other")
            errs = a.get(f"{test}/{conc}/errors")
            parts.append(
                f"{test} c={conc}: {fmt_num(cpu['median'] if cpu else None)}% / "
                f"{fmt_num(other['max'] if other else None)}% / {errs}"
            )
        lines.append(f"- {name}: " + "; ".join(parts))
    lines.append("")
    for name, t in targets.items():
        mem = t.get("memory", {})
        st = t.get("startup", {})
        bits = [
            f"RSS idle {mem.get('rss_idle_mb')} MB",
            f"after warm-up {mem.get('rss_after_warmup_mb')} MB",
            f"peak {mem.get('rss_peak_mb')} MB",
            f"after load {mem.get('rss_after_load_mb')} MB",
            f"VmHWM {mem.get('vmhwm_mb')} MB",
        ]
        if st:
            bits.append("start-to-healthy " + ", ".join(f"{k}={v}" for k, v in st.items()))
        lines.append(f"- {name}: " + "; ".join(bits))
        for extra_key in ("memory_soak", "models_list", "cold_start"):
            if extra_key in t:
                lines.append(f"  - {extra_key}: {t[extra_key]}")
    if not lite_ran:
        lines.append("")
        lines.append(
            f"\\* {REFERENCE_LABEL}: not measured in this run; its column holds means "
            "(min–max), the other columns medians (min–max) of this run. Memory: idle "
            "334 MB, after load 481 MB; start-to-healthy 6.1–7.6 s."
        )
    return "\n".join(lines) + "\n"
