"""ensure_secrets: generated secrets on the embedded default, refusal on PostgreSQL."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from modelreg.bootstrap import ensure_secrets, initialize
from modelreg.crypto import KeyRing, generate_key
from modelreg.errors import ConfigError
from modelreg.settings import LegacySettings, Settings


def _sqlite(tmp_path: Path, **kw: object) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=None, **kw)  # type: ignore[arg-type]


def test_generates_key_and_session_secret_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    first = ensure_secrets(_sqlite(tmp_path, encryption_key=None, session_secret=None))
    key_file = tmp_path / "data" / "encryption.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "data" / "session.secret").stat().st_mode) == 0o600
    assert first.encryption_key is not None
    KeyRing.from_settings(first)  # a valid 32-byte key
    assert len([r for r in caplog.records if "generated a new" in r.message]) == 2
    # the warning names the file, never the key
    assert first.encryption_key.get_secret_value() not in caplog.text

    caplog.clear()
    second = ensure_secrets(_sqlite(tmp_path, encryption_key=None, session_secret=None))
    assert second.encryption_key is not None
    assert first.session_secret is not None
    assert second.encryption_key.get_secret_value() == first.encryption_key.get_secret_value()
    assert second.session_secret == first.session_secret
    assert caplog.records == []


def test_explicit_secrets_are_kept_and_nothing_is_written(tmp_path: Path) -> None:
    key = generate_key()
    settings = _sqlite(tmp_path, encryption_key=SecretStr(key), session_secret=SecretStr("s" * 32))
    assert ensure_secrets(settings) is settings
    assert not (tmp_path / "data").exists()


def test_postgres_without_key_refuses_to_start(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        database_url="postgresql+asyncpg://postgres@127.0.0.1/modelreg",
        encryption_key=None,
    )
    with pytest.raises(ConfigError, match="MODELREG_ENCRYPTION_KEY is required"):
        ensure_secrets(settings)
    assert not (tmp_path / "encryption.key").exists()


async def test_initialize_bootstraps_admin_once(tmp_path: Path) -> None:
    settings = _sqlite(tmp_path, encryption_key=None, session_secret=None, admin_password=None)
    first = await initialize(
        settings, LegacySettings(llm_provider=None, openai_api_key=None, anthropic_api_key=None)
    )
    assert first.admin_password is not None
    assert len(first.admin_password) >= 12
    again = await initialize(
        settings, LegacySettings(llm_provider=None, openai_api_key=None, anthropic_api_key=None)
    )
    assert again.admin_password is None


def test_concurrent_first_starts_agree_on_one_key(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def start(_: int) -> str:
        settings = ensure_secrets(_sqlite(tmp_path, encryption_key=None, session_secret=None))
        assert settings.encryption_key is not None
        return settings.encryption_key.get_secret_value()

    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(start, range(16)))
    assert len(keys) == 1
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == [
        "encryption.key",
        "session.secret",
    ]
