"""A `.env` file in the working directory still configures modelreg, as the original
single-provider app's did; variables set in the environment win over it."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelreg.cli import app
from modelreg.crypto import generate_key
from modelreg.settings import LegacySettings, Settings


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ("MODELREG_DATA_DIR", "MODELREG_DATABASE_URL", "LLM_PROVIDER", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_dotenv_is_read_and_the_environment_wins(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (in_tmp / ".env").write_text(
        "MODELREG_DATA_DIR=from-dotenv\nMODELREG_PORT=9123\n"
        "LLM_PROVIDER=openai\nOPENAI_API_KEY=sk-dotenv-key-1234\n"
    )
    monkeypatch.setenv("MODELREG_PORT", "9456")
    settings = Settings()
    assert settings.data_dir == Path("from-dotenv")
    assert settings.port == 9456
    legacy = LegacySettings()
    assert legacy.llm_provider == "openai"
    assert legacy.openai_api_key is not None
    assert legacy.openai_api_key.get_secret_value() == "sk-dotenv-key-1234"


def test_the_cli_works_from_a_dotenv_alone(in_tmp: Path) -> None:
    (in_tmp / ".env").write_text(
        f"MODELREG_DATA_DIR={in_tmp / 'data'}\nMODELREG_ENCRYPTION_KEY={generate_key()}\n"
    )
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    added = runner.invoke(
        app,
        ["models", "add", "dotenv-model", "--provider", "openai", "--base-url",
         "http://127.0.0.1:9/v1", "--model-id", "m"],
    )  # fmt: skip
    assert added.exit_code == 0, added.stderr
    assert (in_tmp / "data" / "modelreg.db").exists()
    listed = runner.invoke(app, ["models", "list"])
    assert "dotenv-model" in listed.stdout
