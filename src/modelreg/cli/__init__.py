"""The `modelreg` command line (Typer).

Commands act as the system actor, directly on the database named by the settings
(MODELREG_* environment variables): whoever can run them can read the data dir and the
encryption key anyway. On the embedded SQLite default they migrate the database first.

One module per command group (serve.py, accounts.py, models.py, keys.py, simulate.py), the
helpers they share in common.py. Each imports its heavy modules inside its commands, so that
`modelreg --help` and `keys generate` load no database code.
"""

from __future__ import annotations

import logging
from typing import Any

import typer

from modelreg.cli.accounts import tokens_app, users_app
from modelreg.cli.keys import keys_app
from modelreg.cli.models import models_app, templates_app
from modelreg.cli.serve import db_app, serve
from modelreg.cli.simulate import simulate

__all__ = ["app", "main"]

app = typer.Typer(
    help="modelreg: a self-hosted model registry and LLM gateway.", no_args_is_help=True
)
for sub, name in (
    (db_app, "db"),
    (users_app, "users"),
    (tokens_app, "tokens"),
    (models_app, "models"),
    (templates_app, "templates"),
    (keys_app, "keys"),
):
    app.add_typer(sub, name=name)
app.command()(serve)
app.command()(simulate)


def main(argv: list[str] | None = None) -> Any:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return app(args=argv)
