"""Linux /proc sampling: RSS and CPU of a process tree, per-CPU busy share, foreign CPU noise.

`other%` is the CPU used by anything but the watched tree, the upstream trees, this process and
its finished children (the load generators), in % of one core: the noise from the rest of the
machine (other engineers' tests), recorded with every run so noisy runs can be told apart.
"""

from __future__ import annotations

import os
import resource
import threading
import time
from collections.abc import Callable, Iterable
from types import TracebackType

CLK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    return s[s.rindex(")") + 2 :].split()


def proc_tree(pid: int) -> list[int]:
    """`pid` and all its living descendants."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit() and (fields := _stat_fields(int(d))) is not None:
            children.setdefault(int(fields[1]), []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def _status_kb(pid: int, field: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def tree_rss_mb(pid: int | None) -> float | None:
    """Summed VmRSS of the tree (a worker per process counts fully: what the host pays)."""
    if not pid:
        return None
    vals = [v for p in proc_tree(pid) if (v := _status_kb(p, "VmRSS")) is not None]
    return round(sum(vals) / 1024.0, 1) if vals else None


def tree_hwm_mb(pid: int | None) -> float | None:
    if not pid:
        return None
    vals = [v for p in proc_tree(pid) if (v := _status_kb(p, "VmHWM")) is not None]
    return round(sum(vals) / 1024.0, 1) if vals else None


def pids_ticks(pids: Iterable[int]) -> int:
    total = 0
    for p in pids:
        if (fields := _stat_fields(p)) is not None:
            total += int(fields[11]) + int(fields[12])  # utime + stime
    return total


def affinity(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("Cpus_allowed_list:"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


CpuStat = dict[str, tuple[int, int, int]]


def cpu_stat() -> CpuStat:
    """Per CPU: (total ticks, idle ticks, steal ticks)."""
    res: CpuStat = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                parts = line.split()
                vals = [
                    int(x) for x in parts[1:9]
                ]  # user nice system idle iowait irq softirq steal
                res[parts[0]] = (sum(vals), vals[3] + vals[4], vals[7])
    return res


def _busy_ticks(st: CpuStat) -> int:
    return sum(total - idle - steal for total, idle, steal in st.values())


def cpu_busy(before: CpuStat, after: CpuStat) -> dict[str, float | None]:
    """Busy % per CPU (steal excluded) and the largest steal % (hypervisor noise)."""
    out: dict[str, float | None] = {}
    steals = []
    for k, (tot1, idle1, steal1) in after.items():
        tot = tot1 - before[k][0]
        idle = idle1 - before[k][1]
        steal = steal1 - before[k][2]
        out[k] = round(100.0 * (tot - idle - steal) / tot, 1) if tot > 0 else None
        steals.append(100.0 * steal / tot if tot > 0 else 0.0)
    out["steal"] = round(max(steals, default=0.0), 1)
    return out


def _known_pids(roots: Iterable[int | None]) -> list[int]:
    out: set[int] = set()
    for r in roots:
        if r:
            out.update(proc_tree(r))
    return sorted(out)


def _children_ticks() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (ru.ru_utime + ru.ru_stime) * CLK


def foreign_pct(roots: list[int | None], seconds: float = 1.0) -> float:
    """CPU (% of one core) used over `seconds` by processes outside `roots` and this one."""
    pids = _known_pids([*roots, os.getpid()])
    c0, k0 = cpu_stat(), pids_ticks(pids)
    time.sleep(seconds)
    c1, k1 = cpu_stat(), pids_ticks(pids)
    return max(0.0, 100.0 * ((_busy_ticks(c1) - _busy_ticks(c0)) - (k1 - k0)) / CLK / seconds)


def wait_quiet(
    roots: list[int | None], threshold: float, max_wait: float, log: Callable[[str], None]
) -> tuple[float, float]:
    """Wait (at most max_wait s) until foreign CPU < threshold %; returns (waited s, last %)."""
    t0 = time.monotonic()
    v = foreign_pct(roots)
    while v >= threshold and time.monotonic() - t0 < max_wait:
        log(f"    waiting for a quiet machine: foreign CPU {v:.0f}% >= {threshold:.0f}%")
        v = foreign_pct(roots)
    return round(time.monotonic() - t0, 1), round(v, 1)


class Sampler:
    """Context manager: RSS peak of the watched tree (sampled every `interval` s in a thread),
    its CPU %, per-CPU busy % and foreign CPU % over the block."""

    def __init__(
        self, pid: int | None, upstream_pids: Iterable[int] = (), interval: float = 0.5
    ) -> None:
        self.pid = pid
        self.interval = interval
        self.roots: list[int | None] = [pid, *upstream_pids, os.getpid()]
        self.max_rss: float | None = None
        self.gw_cpu_pct: float | None = None
        self.other_pct: float = 0.0
        self.cpu: dict[str, float | None] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Sampler:
        if self.pid:
            self._thread = threading.Thread(target=self._sample_rss, daemon=True)
            self._thread.start()
        self._cpu0 = cpu_stat()
        self._tree0 = pids_ticks(proc_tree(self.pid)) if self.pid else 0
        self._known = _known_pids(self.roots)
        self._known0 = pids_ticks(self._known)
        self._children0 = _children_ticks()
        self._t0 = time.monotonic()
        return self

    def _sample_rss(self) -> None:
        while not self._stop.is_set():
            v = tree_rss_mb(self.pid)
            if v is not None and (self.max_rss is None or v > self.max_rss):
                self.max_rss = v
            self._stop.wait(self.interval)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        wall = time.monotonic() - self._t0
        c1 = cpu_stat()
        self.cpu = cpu_busy(self._cpu0, c1)
        ours = (pids_ticks(self._known) - self._known0) + (_children_ticks() - self._children0)
        busy = _busy_ticks(c1) - _busy_ticks(self._cpu0)
        self.other_pct = round(max(0.0, 100.0 * (busy - ours) / CLK / wall), 1)
        if self.pid:
            used = pids_ticks(proc_tree(self.pid)) - self._tree0
            self.gw_cpu_pct = round(100.0 * used / CLK / wall, 1)
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
