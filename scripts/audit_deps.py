"""`make audit`: pip-audit over the installed dependencies, with accepted advisories.

    python scripts/audit_deps.py [--require-service] [--ignore-file PATH] [-- PIP-AUDIT ARGS]

Runs pip-audit (PyPI's vulnerability data) on the environment of the Python running it, minus
editable installs (modelreg itself). Exit codes:

- 0: no known vulnerability, apart from those accepted in `.pip-audit-ignore`;
- 1: a vulnerable dependency (each printed with its advisory and fixed versions), or pip-audit
  failed for a reason other than the network;
- 0 with a loud NOT AUDITED notice when the vulnerability service cannot be reached (pip-audit
  could look up none of the dependencies): an offline machine cannot audit, and failing there
  would fail every run for a reason no change can fix. `--require-service` (or
  MODELREG_AUDIT_REQUIRED=1) turns that into exit 1.

pip-audit alone prints "No known vulnerabilities found" when it could look up nothing, so its
own exit code cannot tell an audit from no audit; that is why this wrapper exists.

`.pip-audit-ignore` (at the repository root) accepts an advisory: one per line, the id, then
why it is accepted (required), e.g. `GHSA-xxxx-xxxx-xxxx  only reachable through X, unused`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
IGNORE_FILE = ROOT / ".pip-audit-ignore"

# what pip-audit's PyPI service says for a package it could not look up
NOT_FOUND = "Dependency not found on PyPI"
NETWORK_ERRORS = ("ConnectionError", "NameResolutionError", "Max retries exceeded", "timed out")


class IgnoreFileError(ValueError):
    pass


def read_ignores(text: str, source: str = ".pip-audit-ignore") -> dict[str, str]:
    """Advisory id -> the reason it is accepted. A line without a reason is refused."""
    accepted: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        advisory, *reason = line.split(None, 1)
        if not reason:
            raise IgnoreFileError(
                f"{source}:{number}: {advisory} has no reason; write why it is accepted after it"
            )
        accepted[advisory] = reason[0]
    return accepted


@dataclass
class Verdict:
    code: int
    lines: list[str] = field(default_factory=list)


def judge(report: dict[str, Any], accepted: dict[str, str], *, require_service: bool) -> Verdict:
    """Turn pip-audit's JSON report into an exit code and what to print."""
    dependencies: list[dict[str, Any]] = report.get("dependencies", [])
    skipped = [d for d in dependencies if d.get("skip_reason")]
    audited = [d for d in dependencies if not d.get("skip_reason")]
    vulnerable = [d for d in audited if d.get("vulns")]
    lines = [f"accepted advisory {a}: {reason}" for a, reason in sorted(accepted.items())]
    if not audited:  # an audit of nothing is no audit: pip-audit would call it clean
        looked_up = [d for d in skipped if NOT_FOUND in d["skip_reason"]]
        why = f"none of {len(looked_up)} dependencies could be looked up"
        return unreachable(why, require_service, lines)
    for dep in vulnerable:
        for vuln in dep["vulns"]:
            fixed = ", ".join(vuln.get("fix_versions") or []) or "no fixed release"
            lines.append(f"VULNERABLE {dep['name']} {dep['version']}: {vuln['id']} ({fixed})")
    # e.g. a private package PyPI does not know; editable installs (modelreg) are ours
    lines += [
        f"not audited: {d['name']}: {d['skip_reason']}"
        for d in skipped
        if "editable" not in d["skip_reason"]
    ]
    if vulnerable:
        lines.append(
            "upgrade, or accept an advisory with its reason in .pip-audit-ignore "
            "(docs/operations.md)"
        )
        return Verdict(1, lines)
    lines.append(f"pip-audit: {len(audited)} dependencies audited, no known vulnerabilities")
    return Verdict(0, lines)


def unreachable(why: str, require_service: bool, lines: list[str]) -> Verdict:
    lines.append(
        f"pip-audit: NOT AUDITED: the vulnerability service cannot be reached ({why}); "
        "run `make audit` where PyPI's JSON API is reachable"
    )
    return Verdict(1 if require_service else 0, lines)


def pip_audit_command(accepted: dict[str, str], extra: list[str]) -> list[str]:
    command = [sys.executable, "-m", "pip_audit", "--skip-editable", "--format", "json",
               "--desc", "off", "--progress-spinner", "off"]  # fmt: skip
    for advisory in accepted:
        command += ["--ignore-vuln", advisory]
    return command + extra


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--require-service", action="store_true")
    parser.add_argument("--ignore-file", type=Path, default=IGNORE_FILE)
    parser.add_argument("pip_audit_args", nargs="*", help="after --, passed to pip-audit")
    args = parser.parse_args(argv)
    require_service = args.require_service or os.environ.get("MODELREG_AUDIT_REQUIRED") in {
        "1",
        "true",
    }
    try:
        text = args.ignore_file.read_text() if args.ignore_file.exists() else ""
        accepted = read_ignores(text, str(args.ignore_file))
    except IgnoreFileError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    command = pip_audit_command(accepted, args.pip_audit_args)
    run = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    try:
        report = json.loads(run.stdout)
    except json.JSONDecodeError:
        if any(marker in run.stderr for marker in NETWORK_ERRORS):
            verdict = unreachable("network error", require_service, [])
        else:
            verdict = Verdict(1, [f"pip-audit failed:\n{run.stderr[-3000:]}"])
    else:
        verdict = judge(report, accepted, require_service=require_service)
    for line in verdict.lines:
        print(line, file=sys.stderr if verdict.code else sys.stdout)
    return verdict.code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
