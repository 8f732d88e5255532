"""What every `modelreg` command shares: failing with one line, running a coroutine with our
errors turned into messages, hints on stderr, and the store a command works on."""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TypeVar

import typer
from pydantic import ValidationError

from modelreg.errors import ModelregError, ValidationFailedError
from modelreg.settings import Settings

# The database, the registry and the accounts (SQLAlchemy, argon2, cryptography) are imported
# by the commands that use them: `modelreg --help` and `keys generate` need none of them.
if TYPE_CHECKING:
    from modelreg.services import Store

__all__ = [
    "command_name",
    "fail",
    "load_settings",
    "missing_extra_message",
    "note",
    "read_password",
    "run",
    "services",
]

T = TypeVar("T")


def fail(message: str, code: int = 1) -> NoReturn:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def run(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine; turn our errors into a one-line message and exit code 1."""

    async def main() -> T:
        return await make()

    try:
        return asyncio.run(main())
    except ValidationFailedError as e:
        fail(f"{e.field}: {e.message}" if e.field and e.field not in e.message else e.message)
    except ModelregError as e:
        line = _database_outage_line(e)
        fail(line or e.message)
    except ValidationError as e:
        lines = [f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors()]
        fail("invalid input\n  " + "\n  ".join(lines), code=2)
    except ModuleNotFoundError as e:
        if e.name not in _EXTRAS:
            raise
        fail(missing_extra_message(e.name))
    except Exception as e:
        line = _database_outage_line(e)
        if line is None:
            raise
        fail(line)


def _database_outage_line(exc: BaseException) -> str | None:
    """One line for an unreachable database (connection refused, timeout, not accepting
    connections, ...) instead of a traceback; None for anything else."""
    from modelreg.db.outage import unreachable_line

    return unreachable_line(exc, Settings().resolved_database_url)


# optional drivers and the extra that installs each (`make run` installs the base package)
_EXTRAS = {"asyncpg": "postgres", "redis": "redis"}


def missing_extra_message(module: str) -> str:
    extra = _EXTRAS[module]
    return (
        f"the {extra} driver ({module}) is not installed; install the extra: "
        f".venv/bin/pip install -e '.[{extra}]'"
    )


def note(message: str) -> None:
    """A hint for the person at the terminal, on stderr so that stdout stays scriptable."""
    typer.secho(f"modelreg: {message}", fg=typer.colors.YELLOW, err=True)


def command_name() -> str:
    """How to call this command again: `modelreg` when it is on PATH (an activated venv),
    else the path it was started with (`.venv/bin/modelreg` after `make run`)."""
    started = Path(sys.argv[0])
    on_path = shutil.which("modelreg")
    if on_path is not None and Path(on_path).resolve() == started.resolve():
        return "modelreg"
    if started.name != "modelreg":
        return "modelreg"  # run in-process (tests, python -m): nothing better to suggest
    try:
        return str(started.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(started)


def read_password(name: str) -> str:
    if sys.stdin.isatty():
        password: str = typer.prompt(
            f"Password for {name}", hide_input=True, confirmation_prompt=True
        )
        return password
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        fail("no password on standard input")
    return line


def load_settings() -> Settings:
    """The settings, with the key and session secret generated on the embedded default."""
    from modelreg.bootstrap import ensure_secrets

    try:
        return ensure_secrets(Settings())
    except ModelregError as e:
        fail(e.message)


def _note_if_new_database(settings: Settings) -> None:
    # The default data dir is relative: run from another directory, a command would silently
    # work on a new, empty database (and answer "unknown user 'admin'"). Say so.
    if settings.database_url is None and not (settings.data_dir / "modelreg.db").exists():
        note(
            f"no database in {settings.data_dir.resolve()} yet, creating a new one. "
            "To use the one `make run` created, run this from the project directory or set "
            "MODELREG_DATA_DIR."
        )


@asynccontextmanager
async def services() -> AsyncIterator[Store]:
    """The store the server builds too (services.open_store), for one command."""
    from modelreg.services import open_store

    _note_if_new_database(Settings())
    settings = load_settings()
    store = await open_store(settings, migrate=settings.is_sqlite)
    try:
        yield store
    finally:
        await store.db.dispose()
