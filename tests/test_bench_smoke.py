"""The benchmark harness works end to end (bench/run.py --smoke): the mock upstream, modelreg
started as `modelreg serve` with three registered models, the load clients and the report.

It asserts that every test produced throughput without errors, never how fast: timings on a
shared machine are not test material (see docs/performance.md for the figures).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXPECTED_TESTS = {("nonstream", 1), ("nonstream", 32), ("sse", 32), ("slow", 1), ("slow", 32)}


@pytest.mark.slow
def test_smoke_benchmark_produces_a_table_without_errors(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "run.py"), "--smoke", "--out-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    [result_file] = tmp_path.glob("*-smoke.json")
    result = json.loads(result_file.read_text())

    assert set(result["targets"]) == {"direct", "modelreg"}
    for name, target in result["targets"].items():
        assert target["check"]["ok"], (name, target["check"])
        runs = {(r["test"], r["conc"]): r for r in target["runs"]}
        assert set(runs) == EXPECTED_TESTS, name
        for key, run in runs.items():
            assert run["errors"] == 0, (name, key, run.get("error_samples"))
            assert run["req_per_s"] > 0, (name, key)
        streamed = runs[("slow", 1)]
        assert streamed["chunks"] == {"min": 20, "max": 20}, name
    assert result["targets"]["modelreg"]["memory"]["rss_idle_mb"] > 0

    table = result["table_md"]
    assert "| non-stream | 32 | req/s |" in table
    assert "| slow stream 20×20 ms | 32 | TTFT p50 ms |" in table
    assert (tmp_path / result_file.name.replace(".json", ".md")).exists()
    # the printed table is the same one that was written
    assert "| test | conc | metric | direct | modelreg |" in proc.stdout


@pytest.mark.slow
def test_open_streams_mode_holds_every_stream_on_its_own_connection(tmp_path: Path) -> None:
    """loadclient --mode open (chat_bench --open-streams) against the slow mock, at a tiny N:
    every stream answered in full, none failed, several open at the same time."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mock_args = ["--mode", "slow", "--port", str(port), "--chunks", "3", "--delay-ms", "200"]
    mock = subprocess.Popen(
        [sys.executable, str(REPO / "bench" / "mock_upstream.py"), *mock_args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        sys.path.insert(0, str(REPO / "bench"))
        from upstreams import wait_http

        wait_http(f"http://127.0.0.1:{port}/health", 30, mock)
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        load_args = ["--url", url, "--model", "m", "--mode", "open", "--concurrency", "20"]
        proc = subprocess.run(
            [sys.executable, str(REPO / "bench" / "loadclient.py"), *load_args, "--ramp", "0.1"],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        mock.terminate()
        mock.wait(10)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert (result["ok"], result["errors"], result["errors_by_kind"]) == (20, 0, {})
    assert result["chunks"] == {"min": 3, "max": 3}
    assert result["max_open"] > 1
    assert result["ttft_ms"]["p99"] is not None
