"""Profile a gateway under load with py-spy and summarise where its time goes.

py-spy samples the running process from outside (no code change, --nonblocking so it does
not pause the target); it runs on the load CPU. Writes collapsed stacks (open them in
speedscope, which reads that format, or feed them to flamegraph.pl) and returns the top frames
by inclusive and self share of the samples.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from upstreams import pinned


def pyspy_bin() -> str | None:
    exe = Path(sys.executable).with_name("py-spy")
    return str(exe) if exe.exists() else shutil.which("py-spy")


def record(
    pid: int,
    seconds: int,
    out_stem: Path,
    cpu: str | None,
    drive_load: Callable[[], dict[str, Any]],
) -> dict[str, Any]:
    """Sample `pid` for `seconds` while `drive_load()` runs; returns the summary."""
    exe = pyspy_bin()
    if exe is None:
        return {"error": "py-spy not installed (pip install py-spy)"}
    raw = out_stem.with_suffix(".collapsed.txt")
    cmd = [
        exe,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(seconds),
        "--rate",
        "250",
        "--nonblocking",
        "--format",
        "raw",
        "--output",
        str(raw),
    ]
    proc = subprocess.Popen(pinned(cmd, cpu), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    load = drive_load()
    _, err = proc.communicate(timeout=seconds + 60)
    if not raw.exists():
        return {"error": err.decode("utf-8", "replace")[-500:]}
    summary = summarise(raw.read_text())
    summary["load"] = {k: load.get(k) for k in ("req_per_s", "p50_ms", "errors")}
    summary["collapsed"] = str(raw)
    return summary


def _frame_name(frame: str) -> str:
    # py-spy raw frames look like "function (path/to/file.py:123)"; keep function + short file
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    path = where.rsplit(":", 1)[0]
    for marker in ("site-packages/", "/src/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{name} ({path})"


# Leaf frames of threads that wait: py-spy's idle detection misses them in --nonblocking mode.
IDLE_LEAVES = (
    "Condition.wait (",
    "Queue.get (",
    "_connection_worker_thread (aiosqlite",
    "select (",
    "poll (",
    "epoll",
)


OUTER_FRAMES = (
    "typer/",
    "_click/",
    "modelreg/cli/",
    "asyncio/runners.py",
    "uvicorn/server.py",
    "uvicorn/_compat.py",
    "uvicorn/main.py",
    "<module> (",
    "threading.py",
)


def summarise(collapsed: str, top: int = 30) -> dict[str, Any]:
    """Shares of the busy samples: per thread, and per frame (inclusive and self)."""
    inclusive: Counter[str] = Counter()
    self_: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = idle = 0
    for line in collapsed.splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not stack or not count_s.isdigit():
            continue
        count = int(count_s)
        raw_frames = [f for f in stack.split(";") if f]
        thread = (
            raw_frames[0] if raw_frames and raw_frames[0].startswith(("thread", "process")) else "?"
        )
        frames = [_frame_name(f) for f in raw_frames if not f.startswith(("process", "thread"))]
        if frames and frames[-1].startswith(IDLE_LEAVES):
            idle += count
            continue
        total += count
        threads[thread.split(" ")[1] if " " in thread else thread] += count
        for f in set(frames):
            inclusive[f] += count
        if frames:
            self_[frames[-1]] += count

    def pct(c: Counter[str]) -> list[tuple[str, float]]:
        return [(f, round(100.0 * n / total, 1)) for f, n in c.most_common(top)] if total else []

    # the frames every stack of the main thread shares (CLI, uvicorn.run) say nothing
    for f in [f for f in inclusive if any(m in f for m in OUTER_FRAMES)]:
        del inclusive[f]

    return {
        "busy_samples": total,
        "idle_samples_dropped": idle,
        "threads_pct": pct(threads),
        "inclusive_pct": pct(inclusive),
        "self_pct": pct(self_),
    }
