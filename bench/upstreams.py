"""Start and stop the mock upstreams and the gateways under test.

Upstreams (pinned to the load CPU):
  fast: nginx from the distribution when it is on PATH (config from nginx_conf.py), else the
        Python fallback `mock_upstream.py --mode fast` (same URLs and answers, much slower:
        its figures are labelled "python" so they are not mistaken for nginx's);
  slow: `mock_upstream.py --mode slow` (20 chunks 20 ms apart);
  open: optionally (open_stream=(chunks, delay_ms)) a second slow mock whose streams last long
        enough that thousands are open at once (chat_bench.py --open-streams: 20 × 500 ms).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import nginx_conf

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pinned(cmd: Sequence[str], cpu: str | None) -> list[str]:
    """Prefix `taskset -c CPU` when pinning is on and possible."""
    if cpu is None or not shutil.which("taskset"):
        return list(cmd)
    return ["taskset", "-c", cpu, *cmd]


def http_ok(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 - loopback URLs only
            return 200 <= int(r.status) < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> float:
    """Poll `url` every 25 ms until it answers 2xx; returns the seconds waited."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited early (rc={proc.returncode})")
        if http_ok(url, 0.5):
            return time.monotonic() - t0
        time.sleep(0.025)
    raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {url}")


def stop_pid(pid: int, sig: int = signal.SIGTERM, grace: float = 15.0) -> None:
    """Stop one process we started (by its PID only), SIGKILL after `grace` seconds."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
        t = time.monotonic() + grace
        while time.monotonic() < t:
            try:
                os.kill(pid, 0)
                with open(f"/proc/{pid}/stat") as f:
                    if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                        return
            except (ProcessLookupError, FileNotFoundError):
                return
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)


@dataclass
class Upstreams:
    fast_base: str  # .../v1 (JSON answers); the SSE answers are under fast_base_sse
    fast_base_sse: str
    slow_base: str
    kind: str  # "nginx" or "python"
    open_base: str = ""  # the long-stream mock (start_upstreams(open_stream=...)), else ""
    pids: list[int] = field(default_factory=list)
    _procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _nginx_pid: int | None = None

    def stop(self) -> None:
        if self._nginx_pid:
            stop_pid(self._nginx_pid, signal.SIGQUIT)
        for p in self._procs:
            stop_pid(p.pid)
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(5)


def _start_python_mock(
    mode: str, port: int, cpu: str | None, log: Path, extra: Sequence[str] = ()
) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable,
        str(HERE / "mock_upstream.py"),
        "--mode",
        mode,
        "--port",
        str(port),
        *extra,
    ]
    with open(log, "ab") as logf:
        return subprocess.Popen(
            pinned(cmd, cpu),
            stdout=logf,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def start_upstreams(
    workdir: Path,
    cpu: str | None,
    use_nginx: bool,
    open_stream: tuple[int, float] | None = None,
) -> Upstreams:
    fast_port, slow_port = free_port(), free_port()
    procs: list[subprocess.Popen[bytes]] = []
    nginx_pid = None
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None
    )
    if use_nginx and nginx:
        ndir = workdir / "nginx"
        # nginx started as root serves files as an unprivileged user: the SSE body file and
        # every directory above it must be readable by it (mkdtemp makes 0700 directories)
        workdir.chmod(0o755)
        conf = nginx_conf.write_config(ndir, fast_port)
        ndir.chmod(0o755)
        subprocess.run(
            pinned([nginx, "-p", str(ndir), "-c", str(conf)], cpu), check=True, capture_output=True
        )
        wait_http(f"http://127.0.0.1:{fast_port}/health", 10)
        nginx_pid = int((ndir / "nginx.pid").read_text())
        kind = "nginx"
    else:
        procs.append(_start_python_mock("fast", fast_port, cpu, workdir / "mock-fast.log"))
        kind = "python"
    procs.append(
        _start_python_mock(
            "slow",
            slow_port,
            cpu,
            workdir / "mock-slow.log",
            ["--chunks", "20", "--delay-ms", "20"],
        )
    )
    open_port = free_port() if open_stream else None
    if open_stream:
        chunks, delay_ms = open_stream
        procs.append(
            _start_python_mock(
                "slow",
                open_port or 0,
                cpu,
                workdir / "mock-open.log",
                ["--chunks", str(chunks), "--delay-ms", str(delay_ms)],
            )
        )
    ups = Upstreams(
        fast_base=f"http://127.0.0.1:{fast_port}/v1",
        fast_base_sse=f"http://127.0.0.1:{fast_port}/sse/v1",
        slow_base=f"http://127.0.0.1:{slow_port}/v1",
        kind=kind,
        open_base=f"http://127.0.0.1:{open_port}/v1" if open_port else "",
        pids=[p.pid for p in procs] + ([nginx_pid] if nginx_pid else []),
        _procs=procs,
        _nginx_pid=nginx_pid,
    )
    try:
        wait_http(f"http://127.0.0.1:{fast_port}/health", 10)
        wait_http(f"http://127.0.0.1:{slow_port}/health", 10)
        if open_port:
            wait_http(f"http://127.0.0.1:{open_port}/health", 10)
    except RuntimeError:
        ups.stop()
        raise
    return ups
