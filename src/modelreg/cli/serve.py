"""`modelreg serve` and the `db` commands: starting the server and the schema it needs."""

from __future__ import annotations

import gc
from typing import Annotated

import typer

from modelreg.cli.common import (
    command_name,
    fail,
    load_settings,
    missing_extra_message,
    read_password,
    run,
)
from modelreg.errors import ModelregError
from modelreg.settings import Settings

__all__ = ["db_app", "serve"]

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


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

    settings = load_settings()
    _check_extras(settings)
    _check_database_reachable(settings)
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
                import modelreg.app  # noqa: F401
            try:
                child.wait()
            except ModelregError as e:
                fail(e.message)
        typer.echo(f"modelreg: data in {settings.data_dir.resolve()}")
    cli = command_name()
    typer.echo(f"modelreg: serving on {url}")
    typer.echo(
        f"modelreg: open it and log in as 'admin' (forgot the password? "
        f"{cli} users set-password admin)\n"
        f"          an API token for scripts and SDKs: {cli} tokens create admin"
    )
    uvicorn.run(
        # the FastAPI app behind the gateway fast path (the test server runs the same)
        "modelreg.app:create_asgi_app",
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
            fail(missing_extra_message(module))


def _check_database_reachable(settings: Settings) -> None:
    """A PostgreSQL server that refuses connections stops `serve` here with one line, before
    uvicorn starts workers (each would fail its start). A TCP connect only: the supervisor
    imports no database code, and the lifespan reports what a connect cannot see (a wrong
    password, a missing database) in one line too (api/startup.py)."""
    import socket
    from urllib.parse import urlsplit

    if settings.is_sqlite:
        return
    url = urlsplit(settings.resolved_database_url)
    if not url.hostname:  # a Unix socket (host in the query string): nothing to probe here
        return
    port = url.port or 5432
    where = f"{url.scheme}://{url.hostname}:{port}{url.path}"
    try:
        with socket.create_connection((url.hostname, port), settings.database_connect_timeout):
            pass
    except OSError as e:
        fail(
            f"the database at {where} is not reachable ({type(e).__name__}: {e}); "
            "check that it runs and MODELREG_DATABASE_URL"
        )


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

    typer.echo(f"database at revision {run(go)}")


@db_app.command("create-login-role")
def db_create_login_role(
    name: Annotated[str, typer.Argument(help="Role name, e.g. modelreg.")],
    no_password: Annotated[
        bool, typer.Option("--no-password", help="No password (peer or certificate auth).")
    ] = False,
) -> None:
    """Create the PostgreSQL LOGIN role the server should connect as: a member of
    modelreg_app that owns nothing, so row-level security always applies. Run it with
    MODELREG_DATABASE_URL naming the owning role, after `db upgrade`. The password is
    prompted for, or read from standard input."""
    from modelreg.db.roles import create_login_role

    settings = Settings()
    if settings.is_sqlite:
        fail("create-login-role is for PostgreSQL: set MODELREG_DATABASE_URL")
    password = None if no_password else read_password(name)
    run(lambda: create_login_role(settings.resolved_database_url, name, password))
    typer.echo(f"created login role {name} (member of modelreg_app); serve with it, e.g.")
    typer.echo(f"  MODELREG_DATABASE_URL=postgresql://{name}:…@host:5432/dbname modelreg serve")
