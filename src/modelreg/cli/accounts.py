"""`modelreg users` and `modelreg tokens`: accounts, acting as the system actor."""

from __future__ import annotations

from typing import Annotated

import typer

from modelreg.actor import SYSTEM
from modelreg.cli.common import read_password, run, services

__all__ = ["tokens_app", "users_app"]

users_app = typer.Typer(help="Users.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens.", no_args_is_help=True)


@users_app.command("create")
def users_create(
    name: Annotated[str, typer.Argument(help="User name.")],
    admin: Annotated[bool, typer.Option("--admin", help="Give the user the admin role.")] = False,
) -> None:
    """Create a user. The password is prompted for, or read from standard input."""
    password = read_password(name)

    async def go() -> None:
        async with services() as s:
            user = await s.accounts.create_user(
                SYSTEM, name, password, role="admin" if admin else "user"
            )
            typer.echo(f"created {user.role} {user.username} ({user.id})")

    run(go)


@users_app.command("list")
def users_list() -> None:
    """List users."""

    async def go() -> None:
        async with services() as s:
            for user in await s.accounts.list_users(SYSTEM):
                state = "" if user.is_active else "  (disabled)"
                typer.echo(f"{user.username:<24} {user.role:<6} {user.id}{state}")

    run(go)


@users_app.command("set-password")
def users_set_password(
    name: Annotated[str, typer.Argument(help="User name or id.")],
) -> None:
    """Set a user's password, e.g. when the generated admin password is lost.

    The password is prompted for, or read from standard input."""
    password = read_password(name)

    async def go() -> None:
        async with services() as s:
            user = await s.accounts.update_user(SYSTEM, name, password=password)
            typer.echo(f"password of {user.username} changed")

    run(go)


@tokens_app.command("create")
def tokens_create(
    user: Annotated[str, typer.Argument(help="User name or id.")],
    name: Annotated[str, typer.Option(help="A label for the token.")] = "",
) -> None:
    """Create an API token and print it (once; only its hash is stored)."""

    async def go() -> str:
        async with services() as s:
            token, _public = await s.accounts.create_token(SYSTEM, user, name=name or "cli")
            return token

    # only the token on stdout, so that `TOKEN=$(modelreg tokens create admin)` works
    typer.echo(run(go))
