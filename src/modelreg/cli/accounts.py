"""`modelreg users` and `modelreg tokens`: accounts, acting as the system actor."""

from __future__ import annotations

import enum
import uuid
from typing import Annotated, Any

import typer

from modelreg.actor import SYSTEM
from modelreg.cli.common import read_password, run, services
from modelreg.errors import ValidationFailedError

__all__ = ["tokens_app", "users_app"]

users_app = typer.Typer(help="Users.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens.", no_args_is_help=True)


class Role(enum.StrEnum):
    admin = "admin"
    user = "user"


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


def _change(name: str, done: str, **change: Any) -> None:
    async def go() -> None:
        async with services() as s:
            user = await s.accounts.update_user(SYSTEM, name, **change)
            typer.echo(f"{user.username} {done}")

    run(go)


@users_app.command("disable")
def users_disable(name: Annotated[str, typer.Argument(help="User name or id.")]) -> None:
    """Disable a user: their sessions end and their API tokens are revoked at once.

    The last active administrator cannot be disabled."""
    _change(name, "disabled; sessions ended, tokens revoked", is_active=False)


@users_app.command("enable")
def users_enable(name: Annotated[str, typer.Argument(help="User name or id.")]) -> None:
    """Enable a disabled user again (they sign in anew and need new tokens)."""
    _change(name, "enabled", is_active=True)


@users_app.command("set-role")
def users_set_role(
    name: Annotated[str, typer.Argument(help="User name or id.")],
    role: Annotated[Role, typer.Argument(help="admin or user.")],
) -> None:
    """Make a user an administrator or a member. The last active administrator stays one."""
    _change(name, f"is now {role.value}", role=role.value)


@users_app.command("delete")
def users_delete(
    name: Annotated[str, typer.Argument(help="User name or id.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a user with their personal models, conversations and tokens.

    Their usage stays, anonymised (company totals do not change)."""
    if not yes:
        typer.confirm(
            f"Delete {name} with their personal models, conversations and tokens?", abort=True
        )

    async def go() -> None:
        async with services() as s:
            await s.accounts.delete_user(SYSTEM, name)
            typer.echo(f"deleted {name}")

    run(go)


@tokens_app.command("list")
def tokens_list(user: Annotated[str, typer.Argument(help="User name or id.")]) -> None:
    """List a user's tokens: id, name, prefix, last use and state (never the token)."""

    async def go() -> None:
        async with services() as s:
            for t in await s.accounts.list_tokens(SYSTEM, user):
                state = "revoked" if t.revoked_at else "active"
                if state == "active" and t.expires_at is not None:
                    state = f"expires {t.expires_at:%Y-%m-%d}"
                used = f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never used"
                typer.echo(f"{t.id}  {t.prefix}…  {t.name or '-':<20} {used:<16}  {state}")

    run(go)


@tokens_app.command("revoke")
def tokens_revoke(token_id: Annotated[str, typer.Argument(help="The token's id.")]) -> None:
    """Revoke a token at once (every worker and replica within a second)."""

    async def go() -> None:
        try:
            parsed = uuid.UUID(token_id)
        except ValueError:
            raise ValidationFailedError("unknown token", field="token_id") from None
        async with services() as s:
            await s.accounts.revoke_token(SYSTEM, parsed)
            typer.echo(f"revoked {token_id}")

    run(go)
