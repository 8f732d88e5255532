"""The house's rules on imports and module size (docs/architecture.md): arrows point down."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "modelreg"
LOWER = ("chat", "gateway", "registry", "client", "providers", "db")
MAX_LINES = 500


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize("package", LOWER)
def test_nothing_below_the_api_imports_it(package: str) -> None:
    offenders = [
        f"{path.relative_to(SRC)}: {name}"
        for path in sorted((SRC / package).rglob("*.py"))
        for name in _imports(path)
        if name.startswith(("modelreg.api", "modelreg.web", "modelreg.app"))
    ]
    assert offenders == []


def test_the_serving_code_never_imports_the_simulators() -> None:
    offenders = [
        str(path.relative_to(SRC))
        for path in sorted(SRC.rglob("*.py"))
        if "simulators" not in path.parts
        and path.relative_to(SRC).as_posix() != "cli/simulate.py"  # imported inside the command
        and any(n.startswith("modelreg.simulators") for n in _imports(path))
    ]
    assert offenders == []


def test_no_module_is_over_500_lines_without_saying_why() -> None:
    """A long module must give its reason in its docstring ("Over 500 lines: ...")."""
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        text = path.read_text()
        if text.count("\n") > MAX_LINES and "Over 500 lines:" not in text[:3000]:
            offenders.append(f"{path.relative_to(SRC)}: {text.count(chr(10))} lines")
    assert offenders == []
