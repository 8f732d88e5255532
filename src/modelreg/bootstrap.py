"""First-start preparation: secrets, schema, the first admin and the old env models.

`ensure_secrets` fills in the encryption key and the session secret. On the embedded default
(SQLite in the data dir) missing ones are generated into the data dir (mode 0600) so that
`make run` works with nothing configured; on PostgreSQL a missing encryption key is an error,
because a key generated on one host would not exist on the next one.
"""

from __future__ import annotations

import logging
import os
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from modelreg.crypto import generate_key
from modelreg.errors import ConfigError
from modelreg.settings import LegacySettings, Settings

__all__ = ["BootstrapResult", "ensure_secrets", "initialize"]

log = logging.getLogger(__name__)

ENCRYPTION_KEY_FILE = "encryption.key"
SESSION_SECRET_FILE = "session.secret"  # noqa: S105 - a file name, not a secret


def _read_or_create(path: Path, make: str, what: str) -> str:
    """Read a secret file, or create it (mode 0600) with `make` and warn once.

    The value is written to a private temporary file first and then hard-linked into place:
    the link fails if the file exists, so when processes race exactly one value wins and no
    reader ever sees a half-written file.
    """
    if path.exists():
        return path.read_text().strip()
    # the data dir holds the key and the database: private to the service user
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(make + "\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            return path.read_text().strip()
    finally:
        os.unlink(tmp)
    log.warning(
        "generated a new %s into %s (mode 0600); back it up, or set it explicitly", what, path
    )
    return make


def _missing(value: SecretStr | None) -> bool:
    # an empty variable (KEY= in a compose file) counts as not set
    return value is None or not value.get_secret_value().strip()


def ensure_secrets(settings: Settings) -> Settings:
    """Return settings with `encryption_key` and `session_secret` filled in."""
    update: dict[str, SecretStr] = {}
    if _missing(settings.encryption_key):
        if not settings.is_sqlite:
            raise ConfigError(
                "MODELREG_ENCRYPTION_KEY is required with PostgreSQL: the base64 of 32 random "
                "bytes, e.g. from `openssl rand -base64 32`"
            )
        key = _read_or_create(
            settings.data_dir / ENCRYPTION_KEY_FILE, generate_key(), "encryption key"
        )
        update["encryption_key"] = SecretStr(key)
    if _missing(settings.session_secret):
        value = _read_or_create(
            settings.data_dir / SESSION_SECRET_FILE, secrets.token_urlsafe(32), "session secret"
        )
        update["session_secret"] = SecretStr(value)
    return settings.model_copy(update=update) if update else settings


@dataclass(frozen=True, slots=True)
class BootstrapResult:
    settings: Settings
    # the generated admin password on the very first start (print it once), else None
    admin_password: str | None


async def initialize(settings: Settings, legacy: LegacySettings | None = None) -> BootstrapResult:
    """Everything `serve` does before the first request: secrets, migrations, first admin,
    env models. Safe to run on every start (each step is idempotent)."""
    from modelreg.accounts import AccountService
    from modelreg.crypto import KeyRing
    from modelreg.db.engine import Database
    from modelreg.db.migrate import upgrade_database
    from modelreg.registry.legacy import sync_env_models
    from modelreg.registry.service import ModelManagerService

    settings = ensure_secrets(settings)
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    await upgrade_database(settings.resolved_database_url)
    db = Database.from_settings(settings)
    try:
        accounts = AccountService(db, settings)
        password = await accounts.bootstrap_admin()
        registry = ModelManagerService(db, KeyRing.from_settings(settings), settings)
        await sync_env_models(registry, legacy if legacy is not None else LegacySettings())
    finally:
        await db.dispose()
    return BootstrapResult(settings=settings, admin_password=password)
