"""`make audit` (scripts/audit_deps.py): real pip-audit runs against a fake OSV vulnerability
service on 127.0.0.1, so what the wrapper decides is checked end to end, without the internet."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
ADVISORY = "GHSA-test-0000-0001"


class FakeOsv(BaseHTTPRequestHandler):
    """OSV's POST /v1/query: one advisory against `vulnerable-pkg`, none for anything else."""

    def do_POST(self) -> None:
        query = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        body: dict[str, Any] = {}
        if query["package"]["name"] == "vulnerable-pkg":
            body = {"vulns": [{
                "id": ADVISORY,
                "summary": "a test advisory",
                "affected": [{
                    "package": {"name": "vulnerable-pkg", "ecosystem": "PyPI"},
                    "ranges": [{"type": "ECOSYSTEM",
                                "events": [{"introduced": "0"}, {"fixed": "1.0.1"}]}],
                }],
            }]}  # fmt: skip
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def osv_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOsv)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1/query"
    server.shutdown()
    server.server_close()
    thread.join()


def audit(
    tmp_path: Path, osv_url: str, *, ignore: str = "", flags: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("vulnerable-pkg==1.0.0\nsafe-pkg==2.0.0\n")
    ignore_file = tmp_path / "pip-audit-ignore"
    ignore_file.write_text(ignore)
    command = [
        sys.executable, str(ROOT / "scripts" / "audit_deps.py"), *flags,
        "--ignore-file", str(ignore_file), "--",
        "-r", str(requirements), "--disable-pip", "--no-deps",
        "-s", "osv", "--osv-url", osv_url, "--cache-dir", str(tmp_path / "cache"),
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_a_vulnerable_dependency_fails_naming_the_advisory_and_the_fix(
    tmp_path: Path, osv_url: str
) -> None:
    run = audit(tmp_path, osv_url)
    assert run.returncode == 1, run
    assert f"VULNERABLE vulnerable-pkg 1.0.0: {ADVISORY} (1.0.1)" in run.stderr
    assert "safe-pkg" not in run.stderr
    assert ".pip-audit-ignore" in run.stderr  # how to accept it


def test_an_accepted_advisory_passes_and_is_listed_with_its_reason(
    tmp_path: Path, osv_url: str
) -> None:
    ignore = f"# accepted advisories\n\n{ADVISORY}  not reachable: we never call the bad API\n"
    run = audit(tmp_path, osv_url, ignore=ignore)
    assert run.returncode == 0, run
    assert f"accepted advisory {ADVISORY}: not reachable: we never call the bad API" in run.stdout
    assert "2 dependencies audited, no known vulnerabilities" in run.stdout


def test_an_advisory_accepted_without_a_reason_is_refused(tmp_path: Path, osv_url: str) -> None:
    run = audit(tmp_path, osv_url, ignore=f"{ADVISORY}\n")
    assert run.returncode == 2, run
    assert f"pip-audit-ignore:1: {ADVISORY} has no reason" in run.stderr


def test_an_unreachable_service_is_said_loudly_and_fails_when_required(tmp_path: Path) -> None:
    dead = "http://127.0.0.1:9/v1/query"  # the discard port: nothing listens
    run = audit(tmp_path, dead)
    assert run.returncode == 0, run
    assert "NOT AUDITED: the vulnerability service cannot be reached" in run.stdout
    required = audit(tmp_path, dead, flags=("--require-service",))
    assert required.returncode == 1, required
    assert "NOT AUDITED" in required.stderr
