"""The modelreg CLI, run in-process with typer's CliRunner against real databases."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelreg.accounts import AccountService
from modelreg.actor import SYSTEM
from modelreg.cli import app
from modelreg.crypto import KeyRing, generate_key
from modelreg.db.engine import Database
from modelreg.db.migrate import head_revision
from modelreg.registry.service import ModelManagerService
from modelreg.settings import Settings
from tests.fixtures.db import run_sync


@pytest.fixture
def cli_env(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name in ("LLM_PROVIDER", "OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    return {
        "MODELREG_DATA_DIR": str(tmp_path / "data"),
        "MODELREG_DATABASE_URL": db_url,
        "MODELREG_ENCRYPTION_KEY": generate_key(),
    }


def invoke(env: dict[str, str], *args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=env, input=input)
    return result.exit_code, result.stdout, result.stderr


def test_db_upgrade_on_the_embedded_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MODELREG_DATABASE_URL", raising=False)
    env = {"MODELREG_DATA_DIR": str(tmp_path / "data")}
    code, out, _ = invoke(env, "db", "upgrade")
    assert code == 0, out
    assert f"revision {head_revision()}" in out
    assert (tmp_path / "data" / "modelreg.db").exists()


def test_users_tokens_and_login(cli_env: dict[str, str]) -> None:
    code, out, err = invoke(cli_env, "users", "create", "ops", "--admin", input="ops-password-1\n")
    assert code == 0, err
    assert "created admin ops" in out
    code, token, err = invoke(cli_env, "tokens", "create", "ops", "--name", "ci")
    assert code == 0, err
    token = token.strip()
    assert token.startswith("mr-")

    async def check() -> None:
        settings = Settings(**{"database_url": cli_env["MODELREG_DATABASE_URL"]})
        db = Database.from_settings(settings)
        try:
            accounts = AccountService(db, settings)
            actor = await accounts.resolve_token(token)
            assert actor is not None
            assert actor.username == "ops"
            assert actor.role == "admin"
            assert await accounts.authenticate_password("ops", "ops-password-1") == actor
        finally:
            await db.dispose()

    run_sync(check)
    code, out, _ = invoke(cli_env, "users", "list")
    assert "ops" in out


def test_user_errors_exit_non_zero(cli_env: dict[str, str]) -> None:
    code, _, err = invoke(cli_env, "users", "create", "bad name", input="long-enough-pw\n")
    assert code == 1
    assert "username" in err
    code, _, err = invoke(cli_env, "users", "create", "shorty", input="short\n")
    assert code == 1
    assert "password" in err
    code, _, err = invoke(cli_env, "tokens", "create", "ghost")
    assert code == 1
    assert "unknown user" in err


def test_set_password_replaces_a_lost_one(cli_env: dict[str, str]) -> None:
    code, _, err = invoke(cli_env, "users", "create", "ops", input="first-password-1\n")
    assert code == 0, err
    code, out, err = invoke(cli_env, "users", "set-password", "ops", input="second-password-2\n")
    assert code == 0, err
    assert "password of ops changed" in out

    async def check() -> None:
        settings = Settings(**{"database_url": cli_env["MODELREG_DATABASE_URL"]})
        db = Database.from_settings(settings)
        try:
            accounts = AccountService(db, settings)
            assert await accounts.authenticate_password("ops", "first-password-1") is None
            assert await accounts.authenticate_password("ops", "second-password-2") is not None
        finally:
            await db.dispose()

    run_sync(check)
    code, _, err = invoke(cli_env, "users", "set-password", "ops", input="short\n")
    assert code == 1
    assert "password" in err
    code, _, err = invoke(cli_env, "users", "set-password", "ghost", input="long-enough-pw\n")
    assert code == 1
    assert "unknown user" in err


def test_a_new_default_database_is_announced(tmp_path: Path) -> None:
    # run from the wrong directory, a command would otherwise work on an empty database
    env = {"MODELREG_DATA_DIR": str(tmp_path / "elsewhere")}
    code, _, err = invoke(env, "users", "list")
    assert code == 0, err
    assert "no database in" in err
    assert "MODELREG_DATA_DIR" in err
    code, _, err = invoke(env, "users", "list")
    assert "no database in" not in err


def test_models_add_list_remove(cli_env: dict[str, str]) -> None:
    code, out, err = invoke(
        cli_env, "models", "add", "gpt", "--template", "openai", "--api-key-stdin",
        input="sk-cli-secret-key-1234\n",
    )  # fmt: skip
    assert code == 0, err
    assert "sk-cli-secret" not in out
    code, out, err = invoke(
        cli_env, "models", "add", "local", "--provider", "ollama",
        "--base-url", "http://127.0.0.1:11434", "--model-id", "llama3.2", "--auth-type", "none",
    )  # fmt: skip
    assert code == 0, err
    code, out, _ = invoke(cli_env, "models", "list")
    assert [line.split()[0] for line in out.splitlines()] == ["gpt", "local"]
    code, out, _ = invoke(cli_env, "models", "list", "--json")
    assert '"api_key_hint": "1234"' in out
    assert "sk-cli-secret" not in out

    code, out, _ = invoke(cli_env, "models", "remove", "local")
    assert code == 0
    assert "removed local" in out
    code, _, err = invoke(cli_env, "models", "remove", "local")
    assert code == 1
    assert "no model" in err


def test_models_add_bad_input_names_fields(cli_env: dict[str, str]) -> None:
    code, _, err = invoke(
        cli_env, "models", "add", "x", "--provider", "skynet", "--base-url", "ftp://h",
        "--model-id", "m", "--input-price", "-1",
    )  # fmt: skip
    assert code == 2
    for field in ("provider", "base_url", "price_per_input_token"):
        assert field in err
    code, _, err = invoke(cli_env, "models", "add", "x", "--template", "azure", "--api-key", "k")
    assert code == 1
    assert "base_url" in err
    code, out, _ = invoke(cli_env, "models", "list")
    assert out == ""  # nothing half-written


def _listed(env: dict[str, str], name: str) -> dict[str, object]:
    code, out, err = invoke(env, "models", "list", "--json")
    assert code == 0, err
    (model,) = [m for m in json.loads(out) if m["name"] == name]
    assert isinstance(model, dict)
    return model


def test_models_add_prices_are_per_million_tokens_as_in_the_ui(cli_env: dict[str, str]) -> None:
    code, _, err = invoke(
        cli_env, "models", "add", "own", "--provider", "openai", "--base-url",
        "http://127.0.0.1:9101/v1", "--model-id", "m", "--input-price", "0.15",
        "--output-price", "0.6",
    )  # fmt: skip
    assert code == 0, err
    model = _listed(cli_env, "own")
    assert Decimal(str(model["price_per_input_token"])) == Decimal("0.00000015")
    assert Decimal(str(model["price_per_output_token"])) == Decimal("0.0000006")


def test_models_add_options_win_over_the_template(cli_env: dict[str, str]) -> None:
    code, _, err = invoke(
        cli_env, "models", "add", "tuned", "--template", "openai", "--api-key", "sk-t-1234",
        "--input-price", "3", "--output-price", "12", "--context-length", "4096",
    )  # fmt: skip
    assert code == 0, err
    model = _listed(cli_env, "tuned")
    assert Decimal(str(model["price_per_input_token"])) == Decimal("0.000003")
    assert Decimal(str(model["price_per_output_token"])) == Decimal("0.000012")
    assert model["context_length"] == 4096


def test_templates_list(cli_env: dict[str, str]) -> None:
    code, out, _ = invoke(cli_env, "templates", "list")
    assert code == 0
    ids = {line.split()[0] for line in out.splitlines()}
    assert {"openai", "anthropic", "azure", "ollama", "gemini", "together"} <= ids
    assert "$0.15/$0.6 per 1M" in out


def test_keys_rotate(cli_env: dict[str, str]) -> None:
    old_key = cli_env["MODELREG_ENCRYPTION_KEY"]
    code, _, err = invoke(
        cli_env, "models", "add", "gpt", "--template", "openai", "--api-key", "sk-rotate-me-5678"
    )
    assert code == 0, err
    new_key = generate_key()
    rotated = {
        **cli_env,
        "MODELREG_ENCRYPTION_KEY": new_key,
        "MODELREG_OLD_ENCRYPTION_KEYS": old_key,
    }
    code, out, err = invoke(rotated, "keys", "rotate")
    assert code == 0, err
    assert "1 model(s)" in out
    code, out, _ = invoke(rotated, "keys", "rotate")
    assert "0 model(s)" in out

    async def resolve_with_new_key_only() -> str:
        settings = Settings(**{"database_url": cli_env["MODELREG_DATABASE_URL"]})
        db = Database.from_settings(settings)
        try:
            registry = ModelManagerService(db, KeyRing.from_keys(new_key), settings)
            config = await registry.resolve(SYSTEM, "gpt")
            assert config.api_key is not None
            return config.api_key.reveal()
        finally:
            await db.dispose()

    assert run_sync(resolve_with_new_key_only) == "sk-rotate-me-5678"


def test_keys_rotate_without_the_old_key_changes_nothing(cli_env: dict[str, str]) -> None:
    code, _, err = invoke(
        cli_env, "models", "add", "a", "--template", "openai", "--api-key", "sk-first-key-0001"
    )
    assert code == 0, err
    code, _, err = invoke(
        cli_env, "models", "add", "b", "--template", "openai", "--api-key", "sk-other-key-0002"
    )
    assert code == 0, err
    code, _, err = invoke({**cli_env, "MODELREG_ENCRYPTION_KEY": generate_key()}, "keys", "rotate")
    assert code == 1
    assert "not configured" in err
    # one transaction: the original key still opens every secret
    code, out, _ = invoke(cli_env, "keys", "rotate")
    assert code == 0
    assert "0 model(s)" in out


def test_keys_generate_prints_a_usable_key() -> None:
    code, out, _ = invoke({}, "keys", "generate")
    assert code == 0
    KeyRing.from_keys(out.strip())


def test_postgres_without_key_is_refused(tmp_path: Path) -> None:
    env = {
        "MODELREG_DATA_DIR": str(tmp_path),
        "MODELREG_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/none",
        "MODELREG_ENCRYPTION_KEY": "",
    }
    code, _, err = invoke(env, "models", "list")
    assert code == 1
    assert "MODELREG_ENCRYPTION_KEY is required" in err


def test_simulate_names_the_providers_it_knows() -> None:
    code, _, err = invoke({}, "simulate", "nope", "--port", "9")
    assert code == 2
    assert "unknown provider 'nope'" in err
    assert "openai, anthropic" in err


def test_db_create_login_role(cli_env: dict[str, str]) -> None:
    """PostgreSQL: a login role that is a member of modelreg_app; SQLite: a clear refusal."""
    import uuid

    from tests.fixtures.db import pg_admin

    name = f"modelreg_cli_{uuid.uuid4().hex[:10]}"
    code, out, err = invoke(cli_env, "db", "create-login-role", name, input="role-password\n")
    if cli_env["MODELREG_DATABASE_URL"].startswith("sqlite"):
        assert code == 1
        assert "PostgreSQL" in err
        return
    try:
        assert code == 0, err
        assert f"created login role {name}" in out

        async def member() -> bool:
            import asyncpg

            conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
            try:
                return bool(await conn.fetchval(
                    "SELECT pg_has_role($1, 'modelreg_app', 'MEMBER') AND rolcanlogin"
                    " AND NOT rolsuper FROM pg_roles WHERE rolname = $1", name
                ))  # fmt: skip
            finally:
                await conn.close()

        assert run_sync(member)
        code, _, err = invoke(cli_env, "db", "create-login-role", name, input="role-password\n")
        assert code == 1
        assert "exists" in err
    finally:
        run_sync(lambda: pg_admin(f'DROP ROLE IF EXISTS "{name}"'))


def test_simulate_without_aiohttp_names_the_extra_to_install() -> None:
    # a process where `import aiohttp` fails, as on an install without the simulators extra
    script = (
        "import sys; sys.modules['aiohttp'] = None\n"
        "from modelreg.cli import main\n"
        "main(['simulate', 'openai', '--port', '9'])\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 1, run.stderr
    assert "the simulators need aiohttp, which is not installed" in run.stderr
    assert "pip install -e '.[simulators]'" in run.stderr
    assert "Traceback" not in run.stderr


def test_models_list_names_a_personal_models_owner(cli_env: dict[str, str]) -> None:
    code, _, err = invoke(cli_env, "users", "create", "dana", input="dana-password-1\n")
    assert code == 0, err

    async def add_personal() -> None:
        from modelreg.registry.schemas import ModelCreate
        from modelreg.services import open_store

        settings = Settings(
            database_url=cli_env["MODELREG_DATABASE_URL"],
            encryption_key=cli_env["MODELREG_ENCRYPTION_KEY"],
            allow_private_base_urls=True,
        )
        store = await open_store(settings, migrate=False)
        try:
            dana = await store.accounts.authenticate_password("dana", "dana-password-1")
            assert dana is not None
            body = {"name": "danas-model", "provider": "openai", "model_id": "m",
                    "base_url": "http://127.0.0.1:9/v1"}  # fmt: skip
            await store.registry.create_model(dana, ModelCreate.model_validate(body))
        finally:
            await store.db.dispose()

    run_sync(add_personal)
    code, out, err = invoke(cli_env, "models", "list")
    assert code == 0, err
    (line,) = [row for row in out.splitlines() if row.startswith("danas-model")]
    assert "user:dana " in line


def _resolves(env: dict[str, str], token: str) -> str | None:
    """The role the token resolves to, or None when it is refused."""

    async def check() -> str | None:
        settings = Settings(**{"database_url": env["MODELREG_DATABASE_URL"]})
        db = Database.from_settings(settings)
        try:
            accounts = AccountService(db, settings)
            actor = await accounts.resolve_token(token)
            await accounts.token_use.drain()
            return actor.role if actor is not None else None
        finally:
            await db.dispose()

    return run_sync(check)


def test_users_disable_enable_set_role_and_delete(cli_env: dict[str, str]) -> None:
    code, _, err = invoke(cli_env, "users", "create", "ops", "--admin", input="ops-password-1\n")
    assert code == 0, err
    code, _, err = invoke(cli_env, "users", "create", "dana", input="dana-password-1\n")
    assert code == 0, err
    code, token, err = invoke(cli_env, "tokens", "create", "dana")
    assert code == 0, err
    token = token.strip()
    assert _resolves(cli_env, token) == "user"

    code, out, err = invoke(cli_env, "users", "disable", "dana")
    assert code == 0, err
    assert "dana disabled; sessions ended, tokens revoked" in out
    assert _resolves(cli_env, token) is None
    code, out, _ = invoke(cli_env, "users", "list")
    assert "(disabled)" in next(line for line in out.splitlines() if line.startswith("dana"))
    code, out, err = invoke(cli_env, "users", "enable", "dana")
    assert code == 0, err
    assert _resolves(cli_env, token) is None  # revoked tokens stay revoked

    # the last active administrator stays one
    code, _, err = invoke(cli_env, "users", "set-role", "ops", "user")
    assert code == 1
    assert "last active administrator" in err
    code, _, err = invoke(cli_env, "users", "disable", "ops")
    assert code == 1
    assert "last active administrator" in err
    code, out, err = invoke(cli_env, "users", "set-role", "dana", "admin")
    assert code == 0, err
    assert "dana is now admin" in out
    code, out, err = invoke(cli_env, "users", "set-role", "ops", "user")
    assert code == 0, err
    code, _, err = invoke(cli_env, "users", "set-role", "dana", "owner")
    assert code == 2  # typer: not one of the choices
    assert "owner" in err

    code, out, _ = invoke(cli_env, "users", "delete", "ops", input="n\n")
    assert code == 1  # not confirmed: nothing deleted
    assert "ops" in invoke(cli_env, "users", "list")[1]
    code, out, err = invoke(cli_env, "users", "delete", "ops", "--yes")
    assert code == 0, err
    assert "deleted ops" in out
    assert "ops" not in invoke(cli_env, "users", "list")[1]
    code, _, err = invoke(cli_env, "users", "delete", "dana", "--yes")
    assert code == 1
    assert "last active administrator" in err
    code, _, err = invoke(cli_env, "users", "delete", "ghost", "--yes")
    assert code == 1
    assert "unknown user" in err


def test_tokens_list_and_revoke(cli_env: dict[str, str]) -> None:
    code, _, err = invoke(cli_env, "users", "create", "erin", input="erin-password-1\n")
    assert code == 0, err
    token = invoke(cli_env, "tokens", "create", "erin", "--name", "laptop")[1].strip()
    code, out, err = invoke(cli_env, "tokens", "list", "erin")
    assert code == 0, err
    (line,) = out.splitlines()
    assert "laptop" in line
    assert "never used" in line
    assert "active" in line
    assert token not in out
    token_id = line.split()[0]
    code, out, err = invoke(cli_env, "tokens", "revoke", token_id)
    assert code == 0, err
    assert _resolves(cli_env, token) is None
    assert "revoked" in invoke(cli_env, "tokens", "list", "erin")[1]
    code, _, err = invoke(cli_env, "tokens", "revoke", "not-an-id")
    assert code == 1
    assert "unknown token" in err
