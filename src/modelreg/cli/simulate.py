"""`modelreg simulate`: a provider simulator for demos and manual tests.

The only module outside simulators/ that imports them, inside the command: the serving
process never loads them (tests/test_layout.py)."""

from __future__ import annotations

from typing import Annotated

import typer

from modelreg.cli.common import fail

__all__ = ["simulate"]


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
        fail(
            "the simulators need aiohttp, which is not installed; install the extra: "
            ".venv/bin/pip install -e '.[simulators]'"
        )

    if provider not in FLAVORS:
        fail(f"unknown provider {provider!r}; choose from {', '.join(FLAVORS)}", code=2)
    serve_forever(provider, host, port, api_key)
