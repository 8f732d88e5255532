"""`modelreg keys`: the encryption keys that seal the models' secrets."""

from __future__ import annotations

import typer

from modelreg.cli.common import run, services

__all__ = ["keys_app"]

keys_app = typer.Typer(help="Encryption keys.", no_args_is_help=True)


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Re-encrypt every secret with the newest key, in one transaction.

    The newest key is MODELREG_ENCRYPTION_KEY; keep the old one in
    MODELREG_OLD_ENCRYPTION_KEYS until this has run."""

    async def go() -> int:
        async with services() as s:
            return await s.registry.rotate_keys()

    typer.echo(f"re-encrypted the secrets of {run(go)} model(s)")


@keys_app.command("generate")
def keys_generate() -> None:
    """Print a new random encryption key (for MODELREG_ENCRYPTION_KEY)."""
    from modelreg.crypto import generate_key

    typer.echo(generate_key())
