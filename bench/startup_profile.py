"""Start time and idle memory of `modelreg serve` (issue 6: start to healthy <= 1.5 s, idle
RSS <= 80 MB on the embedded SQLite default with one worker).

    .venv/bin/python bench/startup_profile.py starts [--runs 7] [--cold] [--workers N]
    .venv/bin/python bench/startup_profile.py imports

`starts` spawns the real command (`.venv/bin/modelreg serve`) N times and reports, per start:
the wall time from spawn to the first 200 on /healthz (polled every 10 ms), the CPU time
(user + sys) the process tree used until then (children already reaped included: /proc's
cutime/cstime), the RSS at healthy and after 3 s idle, per process (supervisor and workers
with --workers > 1). Warm starts reuse one data dir that a first, uncounted start created;
--cold gives every start an empty data dir (migrations, key file, first admin). Medians with
min-max: the machine is shared, so CPU time is the steadier figure.

`imports` imports what the server process loads, one package at a time in a fresh interpreter,
and prints VmRSS after each (the increments are what each package costs, in that order).

Profiles of a start, by hand (Ctrl-C when it is up):
    .venv/bin/python -X importtime .venv/bin/modelreg serve 2> importtime.txt
    .venv/bin/pyinstrument -o start.html -r html .venv/bin/modelreg serve

On this machine PYTHONDONTWRITEBYTECODE=1 is set and modelreg is an editable install, so
every start compiles modelreg's own sources (~0.2 s of CPU); an installed wheel has its
.pyc files. Both are reported in docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import procstat
from upstreams import free_port, http_ok, stop_pid

CLK = os.sysconf("SC_CLK_TCK")


def _modelreg_bin() -> str:
    exe = Path(sys.executable).with_name("modelreg")
    return str(exe) if exe.exists() else (shutil.which("modelreg") or "modelreg")


def _env(data_dir: Path, port: int, workers: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELREG_")}
    env.update(
        MODELREG_DATA_DIR=str(data_dir),
        MODELREG_HOST="127.0.0.1",
        MODELREG_PORT=str(port),
        MODELREG_WORKERS=str(workers),
        MODELREG_LOG_LEVEL="WARNING",
    )
    return env


def _cpu_seconds(pids: list[int]) -> float:
    """utime + stime + cutime + cstime: the tree's own CPU and that of reaped children."""
    ticks = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += sum(int(fields[i]) for i in (11, 12, 13, 14))
    return ticks / CLK


def _rss_by_pid(pids: list[int]) -> dict[int, float]:
    out = {}
    for pid in pids:
        kb = procstat._status_kb(pid, "VmRSS")
        if kb is not None:
            out[pid] = round(kb / 1024.0, 1)
    return out


def one_start(data_dir: Path, workers: int, idle_s: float = 3.0) -> dict[str, Any]:
    port = free_port()
    log = data_dir.parent / f"{data_dir.name}.log"
    t0 = time.monotonic()
    with open(log, "ab") as logf:
        proc = subprocess.Popen(
            [_modelreg_bin(), "serve", "--workers", str(workers)],
            env=_env(data_dir, port, workers),
            stdout=logf,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}/healthz"
        while not http_ok(url, 0.5):
            if proc.poll() is not None:
                raise RuntimeError(f"serve exited early (rc={proc.returncode}); see {log}")
            if time.monotonic() - t0 > 60:
                raise RuntimeError(f"not healthy after 60 s; see {log}")
            time.sleep(0.01)
        wall = time.monotonic() - t0
        tree = procstat.proc_tree(proc.pid)
        cpu = _cpu_seconds(tree)
        rss_healthy = _rss_by_pid(tree)
        time.sleep(idle_s)
        tree = procstat.proc_tree(proc.pid)
        rss_idle = _rss_by_pid(tree)
    finally:
        stop_pid(proc.pid, signal.SIGTERM)
        proc.wait(15)
    return {
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "rss_healthy_mb": sum(rss_healthy.values()),
        "rss_idle_mb": round(sum(rss_idle.values()), 1),
        # the supervisor (or the single process) first, then its workers
        "rss_idle_per_process_mb": [rss_idle[p] for p in sorted(rss_idle)],
    }


def _summary(values: list[float]) -> str:
    return f"{statistics.median(values):.3g} ({min(values):.3g}-{max(values):.3g})"


def starts(runs: int, cold: bool, workers: int) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="modelreg-startup-"))
    try:
        warm_dir = root / "warm"
        if not cold:
            one_start(warm_dir, workers, idle_s=0)  # creates the schema, keys and admin
        results = []
        for i in range(runs):
            data_dir = root / f"cold{i}" if cold else warm_dir
            r = one_start(data_dir, workers)
            results.append(r)
            print(json.dumps(r), file=sys.stderr)
        per_process = list(zip(*(r["rss_idle_per_process_mb"] for r in results), strict=False))
        return {
            "kind": "cold" if cold else "warm",
            "workers": workers,
            "runs": runs,
            "wall_s": _summary([r["wall_s"] for r in results]),
            "cpu_s": _summary([r["cpu_s"] for r in results]),
            "rss_healthy_mb": _summary([r["rss_healthy_mb"] for r in results]),
            "rss_idle_mb": _summary([r["rss_idle_mb"] for r in results]),
            "rss_idle_per_process_mb": [_summary(list(v)) for v in per_process],
            "load_avg_1m": round(os.getloadavg()[0], 2),
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


# what `modelreg serve` imports, roughly in the order it does (the CLI, then the app)
IMPORT_STEPS = [
    "typer",
    "pydantic",
    "pydantic_settings",
    "modelreg.cli",
    "uvicorn",
    "uvloop",
    "httptools",
    "fastapi",
    "sqlalchemy.ext.asyncio",
    "sqlalchemy.orm",
    "aiosqlite",
    "aiohttp",
    "cryptography.hazmat.primitives.ciphers.aead",
    "jinja2",
    "argon2",
    "alembic.command",
    "prometheus_client",
    "modelreg.app",
]

_IMPORTS_CHILD = """
import importlib, sys
def rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
print(f"{'(bare python)':45} {rss():7.1f} MB")
for name in sys.argv[1:]:
    before = rss()
    importlib.import_module(name)
    print(f"{name:45} {rss():7.1f} MB  +{rss() - before:5.1f}")
"""


def imports(steps: list[str]) -> None:
    subprocess.run([sys.executable, "-c", _IMPORTS_CHILD, *steps], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("starts", help="time and RSS of N starts")
    s.add_argument("--runs", type=int, default=7)
    s.add_argument("--cold", action="store_true", help="an empty data dir for every start")
    s.add_argument("--workers", type=int, default=1)
    i = sub.add_parser("imports", help="VmRSS after each import")
    i.add_argument("modules", nargs="*", help=f"default: {' '.join(IMPORT_STEPS)}")
    args = parser.parse_args()
    if args.cmd == "starts":
        print(json.dumps(starts(args.runs, args.cold, args.workers), indent=2))
    else:
        imports(args.modules or IMPORT_STEPS)


if __name__ == "__main__":
    main()
