"""First-start preparation: secrets, schema, the first admin and the old env models.

`ensure_secrets` fills in the encryption key and the session secret. On the embedded default
(SQLite in the data dir) missing ones are generated into the data dir (mode 0600) so that
`make run` works with nothing configured; on PostgreSQL a missing encryption key is an error,
because a key generated on one host would not exist on the next one.

`modelreg serve` leaves the rest of `initialize` to the app's lifespan (which runs the same
idempotent steps in every worker) and migrates only when `needs_migration` says so, in a
short-lived child process (`MigrateInChild`): neither the serving process nor uvicorn's
supervisor with several workers keeps Alembic, or in the supervisor's case the database
layer, for the rest of its life.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import secrets
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from modelreg.errors import ConfigError, ModelregError
from modelreg.settings import LegacySettings, Settings

__all__ = [
    "BootstrapResult",
    "MigrateInChild",
    "ensure_secrets",
    "initialize",
    "needs_migration",
]

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


def _new_key() -> str:
    # crypto.generate_key's format (base64 of 32 random bytes), without importing
    # `cryptography` (8 MB) into uvicorn's supervisor, which encrypts nothing
    return base64.b64encode(os.urandom(32)).decode("ascii")


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
        key = _read_or_create(settings.data_dir / ENCRYPTION_KEY_FILE, _new_key(), "encryption key")
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


def needs_migration(settings: Settings) -> bool:
    """Whether a start on the embedded SQLite default must migrate first: the database is
    missing or behind the newest migration. One read-only query with the standard library;
    in doubt it answers True (and the migration finds nothing to do)."""
    from modelreg.db.migrate import sqlite_at_head

    return settings.is_sqlite and not sqlite_at_head(settings.resolved_database_url)


class MigrateInChild:
    """Migrate the embedded SQLite database in a child process, started at once, so that the
    serving process (or uvicorn's supervisor) never imports Alembic (11 MB that would stay
    for the life of the process). The child reads the settings from this process's
    environment; its warnings and errors go to this process's stderr. The caller may do
    other work meanwhile, then `wait()`."""

    def __init__(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "modelreg.bootstrap"], stdin=subprocess.DEVNULL
        )

    def wait(self) -> None:
        if self._proc.wait() != 0:
            raise ModelregError(
                f"migrating the database failed (exit code {self._proc.returncode}; "
                "the reason is above)"
            )


def _migrate_main() -> int:
    """`python -m modelreg.bootstrap`: bring the embedded SQLite database to the newest
    schema (what `modelreg serve` runs in a child process)."""
    from modelreg.db.migrate import upgrade_database

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    settings = Settings()
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        asyncio.run(upgrade_database(settings.resolved_database_url))
    except ModelregError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_migrate_main())
