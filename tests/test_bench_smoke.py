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
