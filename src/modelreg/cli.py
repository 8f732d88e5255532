"""The `modelreg` command line (Typer).

Commands act as the system actor, directly on the database named by the settings
(MODELREG_* environment variables): whoever can run them can read the data dir and the
encryption key anyway. On the embedded SQLite default they migrate the database first.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import shutil
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
from pydantic import ValidationError

from modelreg.actor import SYSTEM
from modelreg.errors import ModelregError, ValidationFailedError
from modelreg.settings import Settings

# The database, the registry and the accounts (SQLAlchemy, argon2, cryptography) are imported
# by the commands that use them: `modelreg --help` and `keys generate` need none of them.
if TYPE_CHECKING:
    from modelreg.accounts import AccountService
    from modelreg.db.engine import Database
    from modelreg.registry.schemas import ModelPublic
    from modelreg.registry.service import ModelManagerService

__all__ = ["app", "main"]

T = TypeVar("T")

app = typer.Typer(
    help="modelreg: a self-hosted model registry and LLM gateway.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
users_app = typer.Typer(help="Users.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens.", no_args_is_help=True)
models_app = typer.Typer(help="Registered models.", no_args_is_help=True)
templates_app = typer.Typer(help="Provider templates.", no_args_is_help=True)
keys_app = typer.Typer(help="Encryption keys.", no_args_is_help=True)
for sub, name in (
    (db_app, "db"),
    (users_app, "users"),
    (tokens_app, "tokens"),
    (models_app, "models"),
    (templates_app, "templates"),
    (keys_app, "keys"),
):
    app.add_typer(sub, name=name)


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _run(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine; turn our errors into a one-line message and exit code 1."""

    async def main() -> T:
        return await make()

    try:
        return asyncio.run(main())
    except ValidationFailedError as e:
        _fail(f"{e.field}: {e.message}" if e.field and e.field not in e.message else e.message)
    except ModelregError as e:
        _fail(e.message)
    except ValidationError as e:
        lines = [f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors()]
        _fail("invalid input\n  " + "\n  ".join(lines), code=2)
    except ModuleNotFoundError as e:
        if e.name not in _EXTRAS:
            raise
        _fail(_missing_extra_message(e.name))


# optional drivers and the extra that installs each (`make run` installs the base package)
_EXTRAS = {"asyncpg": "postgres", "redis": "redis"}


def _missing_extra_message(module: str) -> str:
    extra = _EXTRAS[module]
    return (
        f"the {extra} driver ({module}) is not installed; install the extra: "
        f".venv/bin/pip install -e '.[{extra}]'"
    )


def _check_extras(settings: Settings) -> None:
    """Fail before the server starts, not with a traceback in its first request."""
    import importlib.util

    needed = []
    if not settings.is_sqlite:
        needed.append("asyncpg")
    if settings.redis_url:
        needed.append("redis")
    for module in needed:
        if importlib.util.find_spec(module) is None:
            _fail(_missing_extra_message(module))


def _note(message: str) -> None:
    """A hint for the person at the terminal, on stderr so that stdout stays scriptable."""
    typer.secho(f"modelreg: {message}", fg=typer.colors.YELLOW, err=True)


def _command_name() -> str:
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


def _settings() -> Settings:
    from modelreg.bootstrap import ensure_secrets

    try:
        return ensure_secrets(Settings())
    except ModelregError as e:
        _fail(e.message)


def _note_if_new_database(settings: Settings) -> None:
    # The default data dir is relative: run from another directory, a command would silently
    # work on a new, empty database (and answer "unknown user 'admin'"). Say so.
    if settings.database_url is None and not (settings.data_dir / "modelreg.db").exists():
        _note(
            f"no database in {settings.data_dir.resolve()} yet, creating a new one. "
            "To use the one `make run` created, run this from the project directory or set "
            "MODELREG_DATA_DIR."
        )


@dataclass
class _Services:
    settings: Settings
    db: Database
    registry: ModelManagerService
    accounts: AccountService


@asynccontextmanager
async def _services() -> AsyncIterator[_Services]:
    from modelreg.accounts import AccountService
    from modelreg.crypto import KeyRing
    from modelreg.db.engine import Database
    from modelreg.db.migrate import upgrade_database
    from modelreg.registry.service import ModelManagerService

    _note_if_new_database(Settings())
    settings = _settings()
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        await upgrade_database(settings.resolved_database_url)
    db = Database.from_settings(settings)
    try:
        yield _Services(
            settings=settings,
            db=db,
            registry=ModelManagerService(db, KeyRing.from_settings(settings), settings),
            accounts=AccountService(db, settings),
        )
    finally:
        await db.dispose()


# --- serve -------------------------------------------------------------------------------


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000).")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes (default 1).")] = None,
) -> None:
    """Run the server (uvicorn).

    On the embedded SQLite default it migrates the database first; the first start creates
    the user `admin` and prints its password once."""
    import uvicorn

    from modelreg.bootstrap import MigrateInChild, needs_migration

    settings = _settings()
    _check_extras(settings)
    host = host or settings.host
    port = port or settings.port
    workers = workers or settings.workers
    url_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{url_host}:{port}/"
    if workers == 1:
        # This process becomes the server: no cyclic garbage collection while it imports the
        # app (0.2 s of a start, ~300 collections that free next to nothing). The lifespan
        # switches it on again after freezing what the start built (api/app.py).
        gc.disable()
    if settings.is_sqlite:
        # Only when the schema is behind (first start, an upgrade), and in a child process:
        # neither this process, which serves or supervises the workers, nor a worker keeps
        # Alembic. The first admin and the env models are the lifespan's (in every worker,
        # idempotent), so a supervisor of several workers imports no database code at all.
        if needs_migration(settings):
            child = MigrateInChild()
            if workers == 1:
                # uvicorn imports the app into this process anyway: meanwhile, on a second core
                import modelreg.api.app  # noqa: F401
            try:
                child.wait()
            except ModelregError as e:
                _fail(e.message)
        typer.echo(f"modelreg: data in {settings.data_dir.resolve()}")
    cli = _command_name()
    typer.echo(f"modelreg: serving on {url}")
    typer.echo(
        f"modelreg: open it and log in as 'admin' (forgot the password? "
        f"{cli} users set-password admin)\n"
        f"          an API token for scripts and SDKs: {cli} tokens create admin"
    )
    uvicorn.run(
        # the FastAPI app behind the gateway fast path (the test server runs the same)
        "modelreg.api.app:create_asgi_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        # no WebSocket routes: spares importing the `websockets` package in every worker
        ws="none",
        log_level=settings.log_level.lower(),
        # the app writes its own (sampled) access log
        access_log=False,
        # no "server: uvicorn" on every answer: it names our stack to anyone who asks
        server_header=False,
        # X-Forwarded-* only from configured proxies; off, uvicorn skips a middleware layer
        proxy_headers=settings.forwarded_allow_ips is not None,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )


# --- db ----------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Migrate the database to the newest schema."""
    from modelreg.db.migrate import current_revision, upgrade_database

    settings = Settings()
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    url = settings.resolved_database_url

    async def go() -> str | None:
        await upgrade_database(url)
        return await current_revision(url)

    typer.echo(f"database at revision {_run(go)}")


# --- users and tokens --------------------------------------------------------------------


def _read_password(name: str) -> str:
    if sys.stdin.isatty():
        password: str = typer.prompt(
            f"Password for {name}", hide_input=True, confirmation_prompt=True
        )
        return password
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        _fail("no password on standard input")
    return line


@users_app.command("create")
def users_create(
    name: Annotated[str, typer.Argument(help="User name.")],
    admin: Annotated[bool, typer.Option("--admin", help="Give the user the admin role.")] = False,
) -> None:
    """Create a user. The password is prompted for, or read from standard input."""
    password = _read_password(name)

    async def go() -> None:
        async with _services() as s:
            user = await s.accounts.create_user(
                SYSTEM, name, password, role="admin" if admin else "user"
            )
            typer.echo(f"created {user.role} {user.username} ({user.id})")

    _run(go)


@users_app.command("list")
def users_list() -> None:
    """List users."""

    async def go() -> None:
        async with _services() as s:
            for user in await s.accounts.list_users(SYSTEM):
                state = "" if user.is_active else "  (disabled)"
                typer.echo(f"{user.username:<24} {user.role:<6} {user.id}{state}")

    _run(go)


@users_app.command("set-password")
def users_set_password(
    name: Annotated[str, typer.Argument(help="User name or id.")],
) -> None:
    """Set a user's password, e.g. when the generated admin password is lost.

    The password is prompted for, or read from standard input."""
    password = _read_password(name)

    async def go() -> None:
        async with _services() as s:
            user = await s.accounts.update_user(SYSTEM, name, password=password)
            typer.echo(f"password of {user.username} changed")

    _run(go)


@tokens_app.command("create")
def tokens_create(
    user: Annotated[str, typer.Argument(help="User name or id.")],
    name: Annotated[str, typer.Option(help="A label for the token.")] = "",
) -> None:
    """Create an API token and print it (once; only its hash is stored)."""

    async def go() -> str:
        async with _services() as s:
            token, _public = await s.accounts.create_token(SYSTEM, user, name=name or "cli")
            return token

    # only the token on stdout, so that `TOKEN=$(modelreg tokens create admin)` works
    typer.echo(_run(go))


# --- models and templates ----------------------------------------------------------------


def _model_line(model: ModelPublic) -> str:
    scope = "global" if model.is_global else f"user:{model.user_id}"
    flags = ("" if model.enabled else " disabled") + (" env" if model.source == "env" else "")
    return f"{model.name:<28} {model.provider:<11} {model.model_id:<32} {scope}{flags}  {model.id}"


@models_app.command("list")
def models_list(
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
) -> None:
    """List every model (global and personal)."""

    async def go() -> list[ModelPublic]:
        async with _services() as s:
            return await s.registry.list_models(SYSTEM)

    models = _run(go)
    if as_json:
        typer.echo(json.dumps([m.model_dump(mode="json") for m in models], indent=2))
        return
    for model in models:
        typer.echo(_model_line(model))


def _read_api_key(api_key_stdin: bool, api_key: str | None) -> str | None:
    if api_key_stdin:
        return sys.stdin.readline().strip() or None
    return api_key


@models_app.command("add")
def models_add(
    name: Annotated[str, typer.Argument(help="Name clients use to pick the model.")],
    template: Annotated[
        str | None, typer.Option(help="Start from a template (see `modelreg templates list`).")
    ] = None,
    provider: Annotated[str | None, typer.Option(help="Provider (without --template).")] = None,
    base_url: Annotated[str | None, typer.Option(help="Base URL of the API.")] = None,
    model_id: Annotated[str | None, typer.Option(help="The provider's model id.")] = None,
    auth_type: Annotated[str, typer.Option(help="bearer, api_key or none.")] = "bearer",
    api_key: Annotated[
        str | None,
        typer.Option(envvar="MODELREG_MODEL_API_KEY", help="API key (prefer --api-key-stdin)."),
    ] = None,
    api_key_stdin: Annotated[
        bool, typer.Option("--api-key-stdin", help="Read the API key from standard input.")
    ] = False,
    input_price: Annotated[str, typer.Option(help="USD per input token.")] = "0",
    output_price: Annotated[str, typer.Option(help="USD per output token.")] = "0",
    context_length: Annotated[int | None, typer.Option(help="Context window in tokens.")] = None,
    disabled: Annotated[bool, typer.Option("--disabled", help="Register it disabled.")] = False,
) -> None:
    """Register a global model."""
    from modelreg.registry.schemas import FromTemplateRequest, ModelCreate

    key = _read_api_key(api_key_stdin, api_key)

    async def go() -> ModelPublic:
        async with _services() as s:
            if template:
                request = FromTemplateRequest(
                    template_id=template,
                    api_key=key,
                    name=name,
                    model_id=model_id,
                    base_url=base_url,
                    is_global=True,
                    enabled=not disabled,
                )
                return await s.registry.create_from_template(SYSTEM, request)
            if not (provider and base_url and model_id):
                raise ValidationFailedError(
                    "--provider, --base-url and --model-id are required without --template",
                    field="provider",
                )
            data = ModelCreate.model_validate(
                {
                    "name": name,
                    "provider": provider,
                    "base_url": base_url,
                    "model_id": model_id,
                    "auth_type": auth_type,
                    "api_key": key,
                    "price_per_input_token": Decimal(input_price),
                    "price_per_output_token": Decimal(output_price),
                    "context_length": context_length,
                    "enabled": not disabled,
                    "is_global": True,
                }
            )
            return await s.registry.create_model(SYSTEM, data)

    try:
        created = _run(go)
    except ArithmeticError:
        _fail("prices must be decimal numbers")
    typer.echo(_model_line(created))
    _note_running_servers()


@models_app.command("remove")
def models_remove(
    model: Annotated[str, typer.Argument(help="Global model name or model id.")],
) -> None:
    """Delete a model (conversations using it are detached, their history stays)."""

    async def go() -> str:
        async with _services() as s:
            target = await _find_model(s, model)
            await s.registry.delete_model(SYSTEM, target.id)
            return target.name

    typer.echo(f"removed {_run(go)}")
    _note_running_servers()


def _note_running_servers() -> None:
    # the CLI writes the database directly; servers notice the new cache generation it wrote
    # at their next poll (modelreg.invalidation)
    settings = Settings()
    interval = settings.cache_poll_interval
    if interval > 0:
        _note(
            f"a running server sees this change within ~{interval:g} s "
            "(MODELREG_CACHE_POLL_INTERVAL)"
        )
    else:
        ttl = settings.model_cache_ttl
        _note(
            f"a running server sees this change within {ttl:g} s (MODELREG_MODEL_CACHE_TTL; "
            "MODELREG_CACHE_POLL_INTERVAL=0 turns the quicker check off)"
        )


async def _find_model(s: _Services, name_or_id: str) -> ModelPublic:
    models = await s.registry.list_models(SYSTEM)
    by_id = [m for m in models if str(m.id) == name_or_id]
    by_name = [m for m in models if m.name == name_or_id and m.is_global]
    found = by_id or by_name
    if not found:
        raise ValidationFailedError(f"no model {name_or_id!r} (use the id)", field="model")
    return found[0]


@templates_app.command("list")
def templates_list() -> None:
    """List the provider templates."""
    from modelreg.registry.templates import list_templates

    for t in list_templates():
        price = ""
        if t.price_per_input_token is not None and t.price_per_output_token is not None:
            per_m_in = t.price_per_input_token * 1_000_000
            per_m_out = t.price_per_output_token * 1_000_000
            price = f"${per_m_in.normalize():f}/${per_m_out.normalize():f} per 1M"
            if t.prices_as_of:
                price += f" ({t.prices_as_of})"
        typer.echo(f"{t.id:<20} {t.provider:<12} {t.base_url:<56} {t.model_id:<40} {price}")


# --- keys --------------------------------------------------------------------------------


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Re-encrypt every secret with the newest key, in one transaction.

    The newest key is MODELREG_ENCRYPTION_KEY; keep the old one in
    MODELREG_OLD_ENCRYPTION_KEYS until this has run."""

    async def go() -> int:
        async with _services() as s:
            return await s.registry.rotate_keys()

    typer.echo(f"re-encrypted the secrets of {_run(go)} model(s)")


@keys_app.command("generate")
def keys_generate() -> None:
    """Print a new random encryption key (for MODELREG_ENCRYPTION_KEY)."""
    from modelreg.crypto import generate_key

    typer.echo(generate_key())


# --- simulators --------------------------------------------------------------------------


@app.command()
def simulate(
    provider: Annotated[
        str, typer.Argument(help="openai, anthropic, ollama, azure or tgi (Hugging Face).")
    ],
    port: Annotated[int, typer.Option(help="Port to listen on.")],
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    api_key: Annotated[str | None, typer.Option(help="Require this API key.")] = None,
) -> None:
    """Run a provider simulator (for demos and manual tests; needs the `simulators` extra)."""
    try:
        from modelreg.simulators.server import FLAVORS, serve_forever
    except ModuleNotFoundError as e:
        # aiohttp is the simulators' web server and no dependency of the gateway itself
        if e.name is None or e.name.partition(".")[0] != "aiohttp":
            raise
        _fail(
            "the simulators need aiohttp, which is not installed; install the extra: "
            ".venv/bin/pip install -e '.[simulators]'"
        )

    if provider not in FLAVORS:
        _fail(f"unknown provider {provider!r}; choose from {', '.join(FLAVORS)}", code=2)
    serve_forever(provider, host, port, api_key)


def main(argv: list[str] | None = None) -> Any:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return app(args=argv)
