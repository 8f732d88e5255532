"""The documentation stays in sync with the code it describes.

- every CLI command that `modelreg --help` offers is in README.md, and every `modelreg ...`
  command README.md shows exists;
- every MODELREG_* setting is in README.md's configuration table, and no other;
- every path and method of the OpenAPI document is in docs/api.md.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from modelreg.app import create_app
from modelreg.cli import app as cli_app
from modelreg.settings import LegacySettings, Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
API_DOC = (ROOT / "docs" / "api.md").read_text()


def _leaf_commands(group: Any, prefix: tuple[str, ...] = ()) -> list[str]:
    # duck-typed: typer ships its own copy of click, so isinstance(click.Group) says no
    found = []
    for name, command in sorted(group.commands.items()):
        path = (*prefix, name)
        if isinstance(getattr(command, "commands", None), dict):
            found.extend(_leaf_commands(command, path))
        else:
            found.append(" ".join(path))
    return found


CLI_COMMANDS = _leaf_commands(typer.main.get_group(cli_app))


def test_the_cli_walk_sees_what_help_lists() -> None:
    # the walk above is what `modelreg --help` shows, one level at a time
    result = CliRunner().invoke(cli_app, ["--help"])
    assert result.exit_code == 0
    top_level = {command.split()[0] for command in CLI_COMMANDS}
    listed = set(re.findall(r"│ (\w[\w-]*)\s{2,}", result.stdout))
    assert top_level == listed
    assert {"serve", "tokens create", "models add", "keys rotate"} <= set(CLI_COMMANDS)


@pytest.mark.parametrize("command", CLI_COMMANDS)
def test_every_cli_command_is_in_the_readme(command: str) -> None:
    assert f"`modelreg {command}" in README, f"README.md does not show `modelreg {command}`"


def test_the_readme_shows_only_commands_that_exist() -> None:
    groups = {command.split()[0] for command in CLI_COMMANDS if " " in command}
    shown = set()
    # commands in code: `modelreg ...` or .venv/bin/modelreg ..., not the name in prose
    pattern = r"(?:`|bin/)modelreg ([a-z][a-z-]*(?: [a-z][a-z-]*)?)"
    for words in re.findall(pattern, README):
        first, *rest = words.split()
        shown.add(f"{first} {rest[0]}" if first in groups and rest else first)
    assert "tokens create" in shown
    unknown = {c for c in shown if c not in CLI_COMMANDS and c not in groups}
    assert not unknown, f"README.md shows commands that do not exist: {sorted(unknown)}"


def _documented_settings(doc: str) -> set[str]:
    return set(re.findall(r"^\| `(MODELREG_[A-Z_]+)`", doc, flags=re.MULTILINE))


def test_every_setting_is_in_the_readme_table() -> None:
    expected = {f"MODELREG_{name.upper()}" for name in Settings.model_fields}
    documented = _documented_settings(README)
    # the CLI's own variable (`models add --api-key`), not a server setting
    documented.discard("MODELREG_MODEL_API_KEY")
    assert documented == expected


def test_every_legacy_variable_is_in_the_readme_table() -> None:
    for name in LegacySettings.model_fields:
        assert f"| `{name.upper()}` |" in README, f"README.md lacks {name.upper()}"


def _normalise_path(path: str) -> str:
    # docs/api.md may call a path parameter {id} where the route says {model_id}
    return re.sub(r"\{[^}]+\}", "{}", path)


def _openapi_operations(tmp_path: Path) -> list[tuple[str, str]]:
    # the schema is built from the routes alone; the lifespan (database) never runs
    document = create_app(Settings(data_dir=tmp_path)).openapi()
    return [
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def test_docs_api_documents_every_openapi_operation(tmp_path: Path) -> None:
    operations = _openapi_operations(tmp_path)
    assert ("POST", "/v1/chat/completions") in operations
    doc = _normalise_path(API_DOC)
    missing = []
    for method, path in operations:
        normalised = _normalise_path(path)
        # a heading or table row names the method with the path, alone or among others
        # ("`GET /api/models/{id}`, `PATCH /api/models/{id}`")
        if f"{method} {normalised}" not in doc:
            missing.append(f"{method} {path}")
    assert not missing, f"docs/api.md does not document: {missing}"


def test_docs_api_names_no_path_the_app_lacks(tmp_path: Path) -> None:
    known = {_normalise_path(path) for _, path in _openapi_operations(tmp_path)}
    known |= {"/openapi.json", "/docs"}  # FastAPI's own, outside the schema
    named = {
        _normalise_path(path.rstrip("`.,"))
        for path in re.findall(r"(?:GET|POST|PUT|PATCH|DELETE) (/[\w/{}.-]*)", API_DOC)
    }
    assert not named - known, f"docs/api.md names unknown paths: {sorted(named - known)}"


def test_forwarded_allow_ips_docs_warn_that_a_wildcard_defeats_the_login_limit() -> None:
    """`*` lets any client name any address in X-Forwarded-For, and the sign-in limit counts
    per address: the README must not offer `*` as a plain example."""
    row = next(line for line in README.splitlines() if "`MODELREG_FORWARDED_ALLOW_IPS`" in line)
    assert "sign-in limit" in row
    assert "proxy's address" in row
    operations = (ROOT / "docs" / "operations.md").read_text()
    assert "MODELREG_FORWARDED_ALLOW_IPS" in operations
