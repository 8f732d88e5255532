"""The targets the load is driven against: the upstreams directly, modelreg and LiteLLM.

Each gateway runs alone on the gateway CPU with one worker, in front of the same mocks, with
three model names: mock-json (fixed JSON), mock-sse (fixed 50-event stream) and mock-slow
(20 chunks 20 ms apart).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import procstat
from upstreams import Upstreams, free_port, pinned, stop_pid, wait_http

REPO = Path(__file__).resolve().parent.parent
MODELS = ("mock-json", "mock-sse", "mock-slow")
LITELLM_KEY = "sk-bench-master-key-0123456789"
# the version shared/bench/RESULTS.md measured, so our run and the reference compare
LITELLM_REQUIREMENT = "litellm[proxy]==1.108.7"
# per-token prices, so the cost path is exercised as in production
PRICE_IN, PRICE_OUT = "0.00000015", "0.0000006"


@dataclass
class Target:
    name: str
    base: str  # .../v1 for the JSON model
    sse_base: str  # .../v1 for the SSE model (differs only for the direct target)
    slow_base: str
    key: str = ""
    models: tuple[str, str, str] = MODELS
    watch_pid: int | None = None
    startup: dict[str, Any] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def stop(self) -> None:
        if self.proc is not None:
            stop_pid(self.proc.pid)
            self.proc.wait(10)
            self.proc = None


def direct(ups: Upstreams) -> Target:
    fast_pid = ups.pids[-1] if ups.kind == "nginx" else ups.pids[0]
    return Target(
        "direct",
        ups.fast_base,
        ups.fast_base_sse,
        ups.slow_base,
        watch_pid=fast_pid,
        extra={"upstream": ups.kind},
    )


def api_call(method: str, url: str, key: str, body: Any = None, timeout: float = 30) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - loopback only
    req.add_header("Content-Type", "application/json")
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    with urllib.request.urlopen(req, timeout=timeout) as r:  # noqa: S310
        raw = r.read()
    return json.loads(raw) if raw else None


def first_chat(base: str, key: str, model: str, timeout: float) -> float:
    """Seconds until one chat completion through `base` succeeds."""
    t0 = time.monotonic()
    last = ""
    while time.monotonic() - t0 < timeout:
        try:
            obj = api_call(
                "POST",
                base + "/chat/completions",
                key,
                {
                    "model": model,
                    "messages": [{"role": "user", "content": "Hello"}],
                    "max_tokens": 8,
                },
                timeout=10,
            )
            if obj["choices"][0]["message"]["content"]:
                return time.monotonic() - t0
        except (urllib.error.URLError, OSError, ValueError, KeyError, IndexError) as e:
            last = repr(e)[:300]
        time.sleep(0.05)
    raise RuntimeError(f"no successful chat completion within {timeout:.0f}s: {last}")


def _modelreg_bin() -> str:
    exe = Path(sys.executable).with_name("modelreg")
    return str(exe) if exe.exists() else (shutil.which("modelreg") or "modelreg")


def _modelreg_env(data_dir: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELREG_")}
    env.update(
        MODELREG_DATA_DIR=str(data_dir),
        MODELREG_HOST="127.0.0.1",
        MODELREG_PORT=str(port),
        MODELREG_WORKERS="1",
        MODELREG_LOG_LEVEL="WARNING",
        MODELREG_ADMIN_PASSWORD="bench-admin-password-0123",  # noqa: S106 - throwaway instance
        # the mocks live on loopback
        MODELREG_ALLOW_PRIVATE_BASE_URLS="true",
    )
    return env


def _cli(env: dict[str, str], *args: str) -> str:
    p = subprocess.run(
        [_modelreg_bin(), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    if p.returncode != 0:
        raise RuntimeError(f"modelreg {' '.join(args)} failed: {p.stderr[-800:]}")
    return p.stdout


def _token_from(output: str) -> str:
    """The token printed by `modelreg tokens create`: the last line that is one long word."""
    for line in reversed(output.splitlines()):
        word = line.strip()
        if len(word) >= 20 and " " not in word:
            return word
    raise RuntimeError("no token in the output of `modelreg tokens create`")


def _start_serve(
    env: dict[str, str], port: int, cpu: str | None, log: Path, workers: int
) -> tuple[subprocess.Popen[bytes], float]:
    cmd = [
        _modelreg_bin(),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    t0 = time.monotonic()
    with open(log, "ab") as logf:
        proc = subprocess.Popen(
            pinned(cmd, cpu),
            env=env,
            stdout=logf,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", 120, proc)
    except RuntimeError:
        stop_pid(proc.pid)
        raise
    return proc, time.monotonic() - t0


def modelreg_cold_start(workdir: Path, cpu: str | None) -> dict[str, Any]:
    """Start-to-healthy on an empty data dir (secrets, schema and admin created at start),
    then again on the same data dir (a warm start: every start but the first)."""
    workdir.mkdir(parents=True, exist_ok=True)
    data = workdir / "modelreg-cold"
    out: dict[str, Any] = {}
    for kind in ("cold", "warm"):
        port = free_port()
        env = _modelreg_env(data, port)
        proc, secs = _start_serve(env, port, cpu, workdir / f"modelreg-{kind}.log", 1)
        time.sleep(1.0)  # idle: what a started server holds before any request
        rss = procstat.tree_rss_mb(proc.pid)
        stop_pid(proc.pid)
        proc.wait(10)
        out[f"{kind}_time_to_health_s"] = round(secs, 3)
        out[f"{kind}_rss_idle_mb"] = rss
    return out


def precompile_modelreg() -> str:
    """Write modelreg's bytecode the way installing its wheel does (pip compiles every module
    it installs); an editable install under PYTHONDONTWRITEBYTECODE never keeps any, which
    costs ~0.2 s of every start. Returns what was done, for the results."""
    import compileall

    import modelreg

    package = Path(modelreg.__file__).resolve().parent
    ok = compileall.compile_dir(str(package), quiet=1, workers=1)
    return f"precompiled {package} ({'ok' if ok else 'with errors'})"


def modelreg(
    ups: Upstreams,
    workdir: Path,
    cpu: str | None,
    workers: int = 1,
    name: str = "modelreg",
    src: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> Target:
    """`src`: another checkout's `src/` (e.g. a git worktree of the previous commit), served by
    the same interpreter and packages, to compare two versions in one run."""
    port = free_port()
    data = workdir / f"{name}-data"
    env = _modelreg_env(data, port) | (extra_env or {})
    if src is not None:
        env["PYTHONPATH"] = str(src)
    # `serve` on an empty data dir migrates and creates the first admin (from
    # MODELREG_ADMIN_PASSWORD): this start is also a cold start of the embedded default
    proc, secs = _start_serve(env, port, cpu, workdir / f"{name}.log", workers)
    try:
        key = _token_from(_cli(env, "tokens", "create", "admin", "--name", "bench"))
    except Exception:
        stop_pid(proc.pid)
        raise
    t = Target(
        name,
        f"http://127.0.0.1:{port}/v1",
        f"http://127.0.0.1:{port}/v1",
        f"http://127.0.0.1:{port}/v1",
        key=key,
        watch_pid=proc.pid,
        proc=proc,
    )
    t.extra["api"] = f"http://127.0.0.1:{port}"
    t.extra["workers"] = workers
    try:
        for name, base in zip(
            MODELS, (ups.fast_base, ups.fast_base_sse, ups.slow_base), strict=True
        ):
            register_model(t, name, base)
        t.startup = {
            "time_to_health_s": round(secs, 3),
            "rss_at_health_mb": procstat.tree_rss_mb(proc.pid),
        }
        t.startup["first_chat_after_register_s"] = round(first_chat(t.base, key, MODELS[0], 60), 3)
    except Exception:
        t.stop()
        raise
    return t


def register_model(t: Target, name: str, base_url: str) -> None:
    api_call(
        "POST",
        t.extra["api"] + "/api/models",
        t.key,
        {
            "name": name,
            "provider": "openai",
            "base_url": base_url,
            "model_id": "gpt-4o-mini",
            "api_key": "sk-upstream-dummy-key",
            "is_global": True,
            "price_per_input_token": PRICE_IN,
            "price_per_output_token": PRICE_OUT,
        },
    )


LITELLM_CONFIG = """# generated by bench/targets.py, as /work/shared/bench/litellm/config.yaml
model_list:
  - model_name: mock-json
    litellm_params: {{model: openai/gpt-4o-mini, api_base: "{json}", api_key: sk-upstream-dummy}}
  - model_name: mock-sse
    litellm_params: {{model: openai/gpt-4o-mini, api_base: "{sse}", api_key: sk-upstream-dummy}}
  - model_name: mock-slow
    litellm_params: {{model: openai/gpt-4o-mini, api_base: "{slow}", api_key: sk-upstream-dummy}}
{extra}general_settings:
  master_key: {key}
  disable_spend_logs: true
  disable_error_logs: true
litellm_settings:
  request_timeout: 600
  set_verbose: false
  json_logs: true
"""


def ensure_litellm(venv: Path, log: Path) -> Path:
    """The litellm executable in `venv`, pip-installing `litellm[proxy]` there when absent."""
    exe = venv / "bin" / "litellm"
    if exe.exists():
        return exe
    with open(log, "ab") as logf:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", LITELLM_REQUIREMENT],
            check=True,
            stdout=logf,
            stderr=subprocess.STDOUT,
        )
    return exe


def litellm_version(venv: Path) -> str | None:
    p = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import importlib.metadata as m; print(m.version('litellm'))",
        ],
        capture_output=True,
        text=True,
    )
    return p.stdout.strip() or None


def litellm(
    ups: Upstreams,
    workdir: Path,
    cpu: str | None,
    venv: Path,
    extra_models: dict[str, str] | None = None,
) -> Target:
    """`extra_models`: more model names -> upstream base URL (e.g. chat_bench's mock-open)."""
    exe = ensure_litellm(venv, workdir / "litellm-install.log")
    port = free_port()
    cfg = workdir / "litellm-config.yaml"
    extra = "".join(
        f"  - model_name: {name}\n    litellm_params: {{model: openai/gpt-4o-mini, "
        f'api_base: "{base}", api_key: sk-upstream-dummy}}\n'
        for name, base in (extra_models or {}).items()
    )
    cfg.write_text(
        LITELLM_CONFIG.format(
            json=ups.fast_base,
            sse=ups.fast_base_sse,
            slow=ups.slow_base,
            key=LITELLM_KEY,
            extra=extra,
        )
    )
    env = dict(
        os.environ,
        LITELLM_LOG="ERROR",
        LITELLM_MODE="PRODUCTION",
        LITELLM_LOCAL_MODEL_COST_MAP="True",
    )
    cmd = [
        str(exe),
        "--config",
        str(cfg),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--num_workers",
        "1",
    ]
    t0 = time.monotonic()
    with open(workdir / "litellm.log", "ab") as logf:
        proc = subprocess.Popen(
            pinned(cmd, cpu),
            env=env,
            stdout=logf,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}/v1"
    t = Target(
        "litellm",
        base,
        base,
        base,
        key=LITELLM_KEY,
        watch_pid=proc.pid,
        proc=proc,
        extra={"version": litellm_version(venv)},
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/health/liveliness", 180, proc)
        t.startup = {
            "time_to_health_s": round(time.monotonic() - t0, 3),
            "rss_at_health_mb": procstat.tree_rss_mb(proc.pid),
        }
        first_chat(base, LITELLM_KEY, MODELS[0], 60)
        t.startup["time_to_first_chat_s"] = round(time.monotonic() - t0, 3)
    except Exception:
        t.stop()
        raise
    return t
