"""The gateway's CPU per request with an A/B experiment and without, side by side (issue 11,
"Performance": within 10 %).

One `modelreg serve` (one worker, pinned like `bench/run.py`) with two company models on the
same mock upstream and a running experiment over both. Alternating runs of non-streaming
load at c=32 name the model (A) or the experiment (B); each run's gateway CPU seconds over
its answered requests is its CPU ms per request. The experiment's cost is the resolution on
the hot path (modelreg.experiments.routing: one set lookup, a SHA-256 of the key, the arm's
model from the registry cache) and the two columns it adds to the usage row.

    .venv/bin/python bench/experiments_bench.py                 # ~1 min: 3 x (A, B) x 5 s
    .venv/bin/python bench/experiments_bench.py --repeat 5 --duration 10

Results: bench/results/<date>-experiments.json; the figures go to docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import procstat
import targets
from report import cpu_ms_per_request
from run import Load, log
from run import parse_args as run_args
from upstreams import start_upstreams

HERE = Path(__file__).resolve().parent
EXPERIMENT = "mock-experiment"
SECOND_MODEL = "mock-json-b"


def _setup(t: targets.Target, fast_base: str) -> None:
    targets.register_model(t, SECOND_MODEL, fast_base)
    made = targets.api_call(
        "POST",
        t.extra["api"] + "/api/experiments",
        t.key,
        {
            "name": EXPERIMENT,
            "is_global": True,
            "arms": [
                {"model_id": targets.MODELS[0], "weight": 1},
                {"model_id": SECOND_MODEL, "weight": 1},
            ],
        },
    )
    targets.api_call("POST", f"{t.extra['api']}/api/experiments/{made['id']}/start", t.key, {})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--duration", type=float, default=5.0, help="seconds per run")
    ap.add_argument("--conc", type=int, default=32)
    ap.add_argument("--python-upstream", action="store_true", help="no nginx / wrk needed")
    ap.add_argument("--no-pin", action="store_true")
    ap.add_argument("--out-dir", type=Path, default=HERE / "results")
    args = ap.parse_args(argv)
    load_args = run_args(["--duration", str(args.duration), "--requests", "3000"])
    load_args.no_pin = args.no_pin or (os.cpu_count() or 1) < 2
    if args.python_upstream:
        load_args.client = "python"
    load = Load(load_args)
    gw_cpu = None if load_args.no_pin else load_args.gateway_cpu
    workdir = Path(tempfile.mkdtemp(prefix="modelreg-bench-exp-"))
    ups = start_upstreams(workdir, load.cpu, use_nginx=not args.python_upstream)
    runs: list[dict[str, Any]] = []
    try:
        t = targets.modelreg(ups, workdir, gw_cpu, name="modelreg")
        try:
            _setup(t, ups.fast_base)
            url = t.base + "/chat/completions"
            for name in (targets.MODELS[0], EXPERIMENT):  # warm-up, and a check of both
                load.whole_responses(url, name, False, t.key, 8, 200)
            for rep in range(1, args.repeat + 1):
                for variant, name in (("model", targets.MODELS[0]), ("experiment", EXPERIMENT)):
                    procstat.wait_quiet([t.watch_pid, *ups.pids], 10.0, 20.0, log)
                    with procstat.Sampler(t.watch_pid, ups.pids) as s:
                        r = load.whole_responses(url, name, False, t.key, args.conc, 3000)
                    r.update(variant=variant, rep=rep, gw_cpu_pct=s.gw_cpu_pct,
                             other_cpu_pct=s.other_pct)  # fmt: skip
                    r["cpu_ms"] = cpu_ms_per_request(r)
                    runs.append(r)
                    log(f"run {rep} {variant}: {r['req_per_s']} req/s, {r['cpu_ms']} CPU ms/req, "
                        f"errors {r['errors']}, other {s.other_pct}%")  # fmt: skip
        finally:
            t.stop()
    finally:
        ups.stop()
    summary = {}
    for variant in ("model", "experiment"):
        values = [r["cpu_ms"] for r in runs if r["variant"] == variant and r["cpu_ms"]]
        summary[variant] = {
            "cpu_ms_median": round(statistics.median(values), 3) if values else None,
            "cpu_ms_min_max": [round(min(values), 3), round(max(values), 3)] if values else None,
            "req_per_s_median": statistics.median(
                r["req_per_s"] for r in runs if r["variant"] == variant
            ),
            "errors": sum(r["errors"] for r in runs if r["variant"] == variant),
        }
    base, exp = summary["model"]["cpu_ms_median"], summary["experiment"]["cpu_ms_median"]
    ratio = round(exp / base, 3) if base and exp else None
    result = {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "args": vars(args) | {"out_dir":
              str(args.out_dir)}, "upstream": ups.kind, "runs": runs, "summary": summary,
              "experiment_over_model": ratio}  # fmt: skip
    args.out_dir.mkdir(parents=True, exist_ok=True)
    path = args.out_dir / f"{time.strftime('%Y-%m-%d-%H%M')}-experiments.json"
    path.write_text(json.dumps(result, indent=1, default=str))
    print("| target | CPU ms / request (median, min–max) | req/s |\n|---|---|---|")
    for variant, row in summary.items():
        print(f"| {variant} | {row['cpu_ms_median']} ({row['cpu_ms_min_max']}) "
              f"| {row['req_per_s_median']} |")  # fmt: skip
    print(f"experiment / model: {ratio} (goal: at most 1.10); results: {path}")
    return 0 if summary["model"]["errors"] == summary["experiment"]["errors"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
